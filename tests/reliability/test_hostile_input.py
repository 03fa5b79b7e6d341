"""Hostile input the schema fuzzing does not aim at: oversize bodies, hostile amounts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from ledger.config import get_settings
from ledger.money import MAX_FEN, AmountStr
from tests.factories import finance_pair, make_user, posted_document

LIMIT = 4096


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LEDGER_MAX_UPLOAD_BYTES", str(LIMIT))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _first_entry(session: Session) -> int:
    """An entry a reversal may name: posted by an approved allocation document."""
    maker, checker = finance_pair(session, "440000")
    doc = posted_document(session, maker, checker, amount_fen=10_000, fund="urban_minimum_living")
    return int(doc["entry_ids"][0])


def test_declared_oversize_body_is_refused_before_it_is_read(
    session: Session, client: TestClient, small_limit: None
) -> None:
    finance = make_user(session, "finance", "440000")
    entry = _first_entry(session)
    body = '{"reason": "' + "x" * (LIMIT * 4) + '"}'
    r = client.post(
        f"/entries/{entry}/reversal",
        content=body,
        headers={**finance.write("big-1"), "Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "payload_too_large"
    # nothing was claimed or posted: the same key is free for a real request afterwards
    ok = client.post(
        f"/entries/{entry}/reversal", json={"reason": "重复"}, headers=finance.write("big-1")
    )
    assert ok.status_code == 201


def test_streamed_oversize_body_is_refused_at_the_limit(
    session: Session, client: TestClient, small_limit: None
) -> None:
    finance = make_user(session, "finance", "440000")
    entry = _first_entry(session)

    def chunks() -> Iterator[bytes]:
        yield b'{"reason": "'
        for _ in range(64):
            yield b"y" * 1024
        yield b'"}'

    r = client.post(
        f"/entries/{entry}/reversal",
        content=chunks(),  # no Content-Length: chunked transfer
        headers={**finance.write("big-2"), "Content-Type": "application/json"},
    )
    assert r.status_code == 413, r.text
    assert r.json()["error"]["details"][0]["field"] == "body"


def test_body_that_is_not_json_is_a_documented_422(session: Session, client: TestClient) -> None:
    finance = make_user(session, "finance", "440000")
    entry = _first_entry(session)
    r = client.post(
        f"/entries/{entry}/reversal",
        content=b"\xff\xfe not json",
        headers={**finance.write(), "Content-Type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "validation_failed"


HOSTILE_AMOUNTS: list[Any] = [
    1234.5,  # a float
    100,  # a bare number
    "-1.00",
    "1.005",  # three decimals
    "1e3",
    "NaN",
    "Infinity",
    "",
    " ",
    "1,000.00",
    str(MAX_FEN),  # yuan: far above the ceiling once in fen
    "9" * 40,
    "0",
    "0.00",
    True,
    None,
    "１２３.００",  # full-width digits
]


class _AmountBody(BaseModel):
    amount: AmountStr


@pytest.mark.parametrize("amount", HOSTILE_AMOUNTS, ids=repr)
def test_hostile_amounts_are_refused_by_the_api_type(amount: Any) -> None:
    with pytest.raises(ValidationError):
        _AmountBody.model_validate({"amount": amount})


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_no_float_is_ever_an_amount(value: float) -> None:
    with pytest.raises(ValidationError):
        _AmountBody.model_validate({"amount": value})


def _amount_fields(schema: dict[str, Any], ref_schemas: dict[str, Any]) -> list[str]:
    """Names of the request-body fields documented as AmountStr (the amount pattern)."""
    from ledger.money import _AMOUNT_RE

    if "$ref" in schema:
        schema = ref_schemas[schema["$ref"].rsplit("/", 1)[-1]]
    return [
        name
        for name, prop in schema.get("properties", {}).items()
        if prop.get("pattern") == _AMOUNT_RE.pattern
    ]


def test_every_write_route_with_an_amount_refuses_hostile_amounts(
    session: Session, client: TestClient
) -> None:
    """Walks the OpenAPI document, so routes with amounts are covered as they are added."""
    users = {
        role: make_user(session, role, jur)
        for role, jur in [("finance", "440000"), ("civil_affairs", "440103"), ("admin", "000000")]
    }
    doc = client.get("/openapi.json").json()
    ref_schemas = doc.get("components", {}).get("schemas", {})
    checked = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            content = op.get("requestBody", {}).get("content", {}).get("application/json")
            if method not in ("post", "put", "patch") or not content:
                continue
            fields = _amount_fields(content["schema"], ref_schemas)
            url = path.replace("{", "").replace("}", "")  # any path value: the body fails first
            for field in fields:
                for amount in HOSTILE_AMOUNTS:
                    for user in users.values():
                        r = client.request(method, url, json={field: amount}, headers=user.write())
                        assert r.status_code in (404, 422), (path, field, amount, r.text)
                        if r.status_code == 422:
                            checked += 1
    # Until a write route with an amount is on main, the API type test above is the guard.
    assert checked >= 0
