"""The work-queue API: batches by bank, payouts by state, approval queues, audit-log filters,
cursor pages; and the OpenAPI a script or Swagger user sees."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from tests.console.helpers import other_bank_user
from tests.factories import make_user
from tests.roster import helpers as r


def _released(client: Any, session: Session) -> tuple[r.County, int]:
    c = r.county(session)
    assert r.upload(client, c, r.csv_of(r.rows(c.code, 3))).status_code == 201
    built = r.build(client, c).json()
    assert r.release(client, c, built["id"]).status_code == 200, built
    return c, built["id"]


def test_a_bank_lists_only_its_batches_paged(client: Any, session: Session) -> None:
    c, batch_id = _released(client, session)
    other = other_bank_user(session)
    mine = client.get("/batches", headers=c.bank.headers).json()
    assert [b["id"] for b in mine["items"]] == [batch_id]
    assert mine["has_more"] is False and mine["next_cursor"] is None
    assert client.get("/batches", headers=other.headers).json()["items"] == []
    refused = client.get("/batches?bank=ICBCGD", headers=other.headers)
    assert refused.status_code == 403
    # civil affairs of the county: filters, and a cursor walk one batch at a time
    second = r.build(client, c, fund=r.RURAL)
    assert second.status_code == 201, second.text
    first = client.get("/batches?limit=1", headers=c.maker.headers).json()
    assert first["has_more"] is True and len(first["items"]) == 1
    rest = client.get(f"/batches?limit=1&cursor={first['next_cursor']}", headers=c.maker.headers)
    assert rest.json()["items"][0]["id"] == second.json()["id"]
    assert rest.json()["has_more"] is False
    drafts = client.get("/batches?status=draft&county=440103", headers=c.maker.headers).json()
    assert [b["id"] for b in drafts["items"]] == [second.json()["id"]]


def test_unknown_filters_and_bad_cursors_are_refused(client: Any, session: Session) -> None:
    c, _ = _released(client, session)
    unknown = client.get("/batches?bnk=ICBCGD", headers=c.bank.headers)
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"][0]["field"] == "bnk"
    assert client.get("/batches?cursor=zzz", headers=c.bank.headers).status_code == 422
    auditor = make_user(session, "auditor", "440000")
    log = client.get("/jurisdictions/440000/audit-log?actoin=x", headers=auditor.headers)
    assert log.status_code == 422


def test_payouts_by_state_with_accounts_masked(client: Any, session: Session) -> None:
    c, batch_id = _released(client, session)
    sent = client.get(f"/batches/{batch_id}/payouts?state=sent", headers=c.maker.headers).json()
    assert len(sent["items"]) == 3 and all(p["state"] == "sent" for p in sent["items"])
    assert all(p["account"].startswith("*") for p in sent["items"])
    failed = client.get(f"/batches/{batch_id}/payouts?state=failed", headers=c.maker.headers)
    assert failed.json()["items"] == []
    auditor = make_user(session, "auditor", "440000")
    seen = client.get(f"/batches/{batch_id}/payouts", headers=auditor.headers).json()["items"]
    assert [p["account"] for p in seen] == [p["account"] for p in sent["items"]]
    other = other_bank_user(session)
    assert client.get(f"/batches/{batch_id}/payouts", headers=other.headers).status_code == 403


def test_audit_log_filters(client: Any, session: Session) -> None:
    c, batch_id = _released(client, session)
    auditor = make_user(session, "auditor", "440000")
    url = "/audit-log?jurisdiction=440000&action=release&outcome=accepted"
    rows = client.get(url, headers=auditor.headers).json()["items"]
    assert [(row["username"], row["object_id"]) for row in rows] == [
        (c.checker.username, str(batch_id))
    ]
    by_user = client.get(
        f"/jurisdictions/440000/audit-log?user={c.maker.username}", headers=auditor.headers
    ).json()
    assert by_user and {row["username"] for row in by_user} == {c.maker.username}
    future = client.get(
        "/audit-log?jurisdiction=440000&from=2999-01-01T00:00:00Z", headers=auditor.headers
    )
    assert future.json()["items"] == []


def test_approval_queue_lists_drafts_of_my_bureau_made_by_others(
    client: Any, session: Session
) -> None:
    maker = make_user(session, "finance", "440000")
    checker = make_user(session, "finance", "440000")
    draft = client.post(
        "/documents/allocations",
        headers=maker.write(),
        json={
            "number": "粤财社〔2026〕1号",
            "fiscal_year": 2026,
            "amount": "10.00",
            "fund": "urban_minimum_living",
        },
    )
    assert draft.status_code == 201, draft.text
    queue = "/documents?status=draft&awaiting_me=true"
    assert client.get(queue, headers=maker.headers).json()["items"] == []
    mine = client.get(queue, headers=checker.headers).json()["items"]
    assert [d["id"] for d in mine] == [draft.json()["id"]]


def test_openapi_names_operations_declares_bearer_and_examples(client: Any) -> None:
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": spec["components"]["securitySchemes"]["bearer"]["description"],
    }
    ops = [op for path in spec["paths"].values() for op in path.values()]
    ids = [op["operationId"] for op in ops]
    assert len(ids) == len(set(ids)) and "list_batches" in ids and "release" in ids
    schemas = spec["components"]["schemas"]
    for op in ops:
        for content in op.get("requestBody", {}).get("content", {}).values():
            ref = content["schema"].get("$ref", "")
            name = ref.rsplit("/", 1)[-1]
            if name.startswith("Body_"):  # multipart forms: each field documents itself
                continue
            if ref:  # a whole example, or one Swagger assembles from every field's
                schema = schemas[name]
                fields = schema.get("properties", {}).values()
                assert schema.get("examples") or all(
                    "examples" in f or "default" in f for f in fields
                ), f"{op['operationId']}: no example"


def test_docs_and_redoc_use_the_apps_own_assets(client: Any) -> None:
    for path in ("/docs", "/redoc"):
        page = client.get(path).text
        assert "cdn" not in page.lower() and "/static/vendor/" in page
    assert client.get("/static/vendor/swagger-ui-bundle.js").status_code == 200
    assert client.get("/static/vendor/redoc.standalone.js").status_code == 200
