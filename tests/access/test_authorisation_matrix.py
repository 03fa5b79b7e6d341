"""The authorisation matrix, generated from ``app.routes``: every route × every role × in scope
and out of scope, for a county, a city and a province principal.

Nothing here lists routes by hand. Path and body values come from the parameter names: a
jurisdiction code, an entry or a document inside or outside the caller's subtree. The rules:
no token is 401; out of scope is 403; an auditor never writes; a bank never reads a territory;
and no answer is a 500 or a 404 about an object that exists. Declared exceptions: a write marked
``AUDIT_ACTION`` is open to auditors; a public (masked) read admits a bank; the routes under
``/public/`` (a complaint anyone may submit and follow) take no token at all and are checked in
tests/complaints. Every refusal has the one shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.access.deps import AUDIT_ACTION_KEY, require_bank_scope, require_public_scope
from ledger.access.service import Principal
from ledger.documents import service as documents
from ledger.errors import Forbidden
from ledger.evidence.service import make_checkpoint
from ledger.journal.service import entry_lines
from tests.factories import TestUser, fund_chain, make_user

FUND = "urban_minimum_living"
ROLES = ("finance", "civil_affairs", "auditor", "admin", "bank")
WRITES = {"POST", "PUT", "PATCH", "DELETE"}
SCOPED_PATH = {"code", "jurisdiction", "county", "entry_id", "document_id"}
SCOPED_BODY = {"to_jurisdiction", "jurisdiction", "county", "county_code"}


@dataclass
class Tier:
    home: str
    inside: str  # a jurisdiction the principal sees
    outside: str  # one it does not
    users: dict[str, TestUser]
    objects: dict[tuple[str, bool], str]  # (param, in scope) -> value


PUBLIC_PREFIX = "/public/"
MAKER_ONLY = {"POST /documents/{document_id}/withdrawal": 0}
# A disclosed line's own proof: for whoever holds the printed reference (tests/evidence).
UNAUTHENTICATED = {"GET /public/payouts/{reference}/proof"}


def _document(session: Session, jurisdiction: str, number: str) -> str:
    maker = make_user(session, "finance", jurisdiction)
    principal = Principal(0, maker.username, "finance", 0, jurisdiction)
    row = session.execute(
        documents.text("SELECT id, bureau_id FROM app_user WHERE username = :u"),
        {"u": maker.username},
    ).one()
    principal = Principal(row.id, maker.username, "finance", row.bureau_id, jurisdiction)
    doc = documents.create_document(
        session,
        principal=principal,
        doc_type="allocation",
        number=number,
        fiscal_year=date.today().year,
        amount_fen=100,
        fund=FUND,
    )
    session.commit()
    return str(doc["id"])


def _entry_touching(session: Session, jurisdictions: set[str]) -> str:
    for entry_id in range(1, 20):
        if {ln.jurisdiction for ln in entry_lines(session, entry_id)} == jurisdictions:
            return str(entry_id)
    raise AssertionError(f"no entry touches exactly {jurisdictions}")


def _token_id(session: Session, user: TestUser) -> int:
    return int(
        session.execute(
            text("SELECT t.id FROM api_token t JOIN app_user u ON u.id = t.user_id "
                 "WHERE u.username = :u"),
            {"u": user.username},
        ).scalar_one()
    )  # fmt: skip


@pytest.fixture
def tiers(session: Session) -> list[Tier]:
    fund_chain(session, FUND, {"440000": 10_000, "440100": 3_000, "440103": 1_000})
    fund_chain(session, FUND, {"440000": 10_000, "440300": 3_000, "440303": 1_000})
    fund_chain(session, FUND, {"440000": 10_000, "440100": 3_000, "440104": 1_000})
    fund_chain(session, FUND, {"000000": 10_000})  # central: outside even the province
    make_checkpoint(session)  # so GET /checkpoints/latest has one to serve
    session.commit()
    out: list[Tier] = []
    for home, inside, outside, entry_in, entry_out in (
        ("440103", "440103", "440104", {"440100", "440103"}, {"440100", "440104"}),
        ("440100", "440103", "440303", {"440100", "440103"}, {"440300", "440303"}),
        ("440000", "440103", "000000", {"440100", "440103"}, {"000000"}),
    ):
        users = {
            role: make_user(session, role, home, bank="ICBCGD" if role == "bank" else None)
            for role in ROLES
        }
        spare = make_user(session, "finance", home)  # whose token DELETE /tokens/{id} revokes
        objects = {
            ("token_id", True): str(_token_id(session, spare)),
            ("entry_id", True): _entry_touching(session, entry_in),
            ("entry_id", False): _entry_touching(session, entry_out),
            ("document_id", True): _document(session, inside, f"in-{home}"),
            ("document_id", False): _document(session, outside, f"out-{home}"),
        }
        out.append(Tier(home, inside, outside, users, objects))
    return out


def _value(name: str, tier: Tier | None, inside: bool) -> Any:
    if tier is not None and (name, inside) in tier.objects:
        return tier.objects[(name, inside)]
    if name in SCOPED_PATH | SCOPED_BODY:
        return tier.inside if tier is None or inside else tier.outside
    known = {
        "fund": FUND,
        "account": "special_cash",
        "period": date.today().strftime("%Y%m"),
        "amount": "1.00",
        "fiscal_year": date.today().year,
    }
    return known.get(name, "1")


def _body_schema(route: APIRoute) -> dict[str, Any]:
    if route.body_field is None:
        return {}
    annotation = route.body_field.field_info.annotation
    return annotation.model_json_schema() if hasattr(annotation, "model_json_schema") else {}


def _body(route: APIRoute, tier: Tier | None, inside: bool) -> Any:
    if route.body_field is None:
        return None
    schema = _body_schema(route)
    body: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        if name not in schema.get("required", []) and name not in SCOPED_BODY:
            continue
        if name in SCOPED_BODY or name in ("amount", "period", "fund", "fiscal_year"):
            body[name] = _value(name, tier, inside)
        elif prop.get("examples"):
            body[name] = prop["examples"][0]
        else:
            body[name] = _value(name, tier, inside)
    return body


def api_routes(app: Any) -> list[tuple[str, APIRoute]]:
    """(effective path, route) of every API route, through included routers too. Routes left
    out of the OpenAPI (the console's pages and the docs) are not bearer API: the console's
    guards are tested in tests/console."""
    out: list[tuple[str, APIRoute]] = []
    for route in app.routes:
        if isinstance(route, APIRoute):
            out.append((route.path_format, route))
        for ctx in getattr(route, "effective_route_contexts", list)():
            if isinstance(ctx.original_route, APIRoute):
                out.append((ctx.path_format or ctx.original_route.path_format, ctx.original_route))
    return [(path, route) for path, route in out if route.include_in_schema]


def _call(
    client: Any, path: str, route: APIRoute, tier: Tier | None, inside: bool, user: TestUser | None
) -> Any:
    method = sorted(route.methods)[0]
    for param in route.dependant.path_params:
        path = path.replace("{" + param.name + "}", str(_value(param.name, tier, inside)))
    params = {
        q.name: _value(q.name, tier, inside)
        for q in route.dependant.query_params
        if q.field_info.is_required()
    }
    headers = {} if user is None else (user.write() if method in WRITES else user.headers)
    return client.request(
        method, path, params=params, json=_body(route, tier, inside), headers=headers
    )


def _is_refusal(response: Any, status: int) -> bool:
    if response.status_code != status:
        return False
    body = response.json()
    return set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"])


def _calls(route: APIRoute, check: Any) -> bool:
    """Whether the route's endpoint uses ``check`` (public reads admit a bank)."""
    return check.__name__ in route.endpoint.__code__.co_names


def _all_known(route: APIRoute) -> bool:
    known = SCOPED_PATH | {"fund", "account"}
    # a body naming a person by ID number names one the matrix did not make
    names_a_person = "id_number" in _body_schema(route).get("required", [])
    return all(p.name in known for p in route.dependant.path_params) and not names_a_person


def _scoped(route: APIRoute) -> bool:
    names = {p.name for p in route.dependant.path_params}
    body = _body_schema(route)
    return bool(names & SCOPED_PATH or set(body.get("properties", {})) & SCOPED_BODY)


def test_every_route_by_every_role_in_and_out_of_scope(
    app: Any, client: Any, tiers: list[Tier]
) -> None:
    routes = [(p, r) for p, r in api_routes(app) if not p.startswith(PUBLIC_PREFIX)]
    assert len(routes) >= 12
    problems: list[str] = []
    let_through: dict[str, int] = {}
    cases = 0
    for path, route in routes:
        method = sorted(route.methods)[0]
        label = f"{method} {path}"
        audit_act = bool((route.openapi_extra or {}).get(AUDIT_ACTION_KEY))
        public = _calls(route, require_public_scope)
        anonymous = _call(client, path, route, tiers[0], True, None)
        if label not in UNAUTHENTICATED and not _is_refusal(anonymous, 401):
            problems.append(f"{label} without a token: {anonymous.status_code}")
        for tier in tiers:
            for role, user in tier.users.items():
                for inside in (True, False):
                    if not inside and not _scoped(route):
                        continue
                    cases += 1
                    r = _call(client, path, route, tier, inside, user)
                    where = f"{label} as {role}@{tier.home} {'in' if inside else 'out of'} scope"
                    # 404 is a fault only for objects the matrix made; an id it cannot make
                    # ("1" for a file no fixture creates) may honestly not exist.
                    if (
                        r.status_code >= 500
                        or r.status_code == 401
                        or (r.status_code == 404 and _all_known(route))
                    ):
                        problems.append(f"{where}: {r.status_code} {r.text[:200]}")
                    elif r.status_code == 403 and not _is_refusal(r, 403):
                        problems.append(f"{where}: 403 without the error shape")
                    must_refuse = (
                        not inside
                        or (role == "auditor" and method in WRITES and not audit_act)
                        or (role == "bank" and _scoped(route) and not public)
                    )
                    if must_refuse and not _is_refusal(r, 403):
                        problems.append(f"{where}: expected 403, got {r.status_code}")
                    if r.status_code != 403:
                        let_through[label] = let_through.get(label, 0) + 1
    # A route that refuses everyone would pass the rules above vacuously (except one that only
    # the maker of its object may use: the matrix's users made nothing of their own).
    problems += [
        f"{sorted(r.methods)[0]} {p} lets no role through"
        for p, r in routes
        if f"{sorted(r.methods)[0]} {p}" not in let_through | MAKER_ONLY
    ]
    assert not problems, "\n".join(problems)
    assert cases > 100


def test_bank_scope_follows_the_bank_code() -> None:
    bank = Principal(1, "b", "bank", 1, "440000", "ICBCGD")
    county = Principal(2, "c", "civil_affairs", 2, "440103")
    require_bank_scope(bank, "ICBCGD")
    with pytest.raises(Forbidden):
        require_bank_scope(bank, "RCCGD")
    require_bank_scope(county, "RCCGD", county="440103")
    with pytest.raises(Forbidden):
        require_bank_scope(county, "RCCGD", county="440104")
    assert not bank.sees("440000")
