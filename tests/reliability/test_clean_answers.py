"""Clean answers where the server used to fail or mislead: 405 with its Allow, balances as of a
date, refusals in the audit log with their status, the client's real address, multipart."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session
from starlette.requests import Request

from ledger.api import client_address
from ledger.config import get_settings
from tests.factories import fund_chain, make_user
from tests.roster.helpers import BANK, ensure_bank

FUND = "urban_minimum_living"


def _audit_rows(session: Session) -> list[Any]:
    session.rollback()
    return list(
        session.execute(
            text(
                "SELECT action, outcome, status_code, client_addr, detail FROM audit_log "
                "ORDER BY id"
            )
        )
    )


def test_balances_as_of_a_date(session: Session, client: TestClient) -> None:
    fund_chain(session, FUND, {"440000": 1_000_000_00, "440100": 600_000_00})
    auditor = make_user(session, "auditor", "440000")
    r = client.get("/jurisdictions/440000/balances?as_of=2026-12-01", headers=auditor.headers)
    assert r.status_code == 200, r.text
    cash = {(b["fund"], b["account"]): b["balance"] for b in r.json()}
    assert cash[("urban_minimum_living", "special_cash")] == "400000.00"
    r = client.get("/jurisdictions/440000/balances?as_of=2000-01-01", headers=auditor.headers)
    assert {b["balance"] for b in r.json()} == {"0.00"}


def test_a_wrong_method_is_a_405_naming_every_allowed_method(
    session: Session, client: TestClient
) -> None:
    finance = make_user(session, "finance", "440000")
    r = client.get("/documents/allocations", headers=finance.headers)
    assert r.status_code == 405, r.text
    assert r.headers["Allow"] == "OPTIONS, POST"
    assert r.json()["error"]["code"] == "method_not_allowed"
    r = client.delete("/counties/440103/roster", headers=finance.headers)
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, OPTIONS, POST"
    r = client.options("/counties/440103/roster")
    assert (r.status_code, r.headers["Allow"]) == (204, "GET, OPTIONS, POST")
    r = client.options("/documents/7")
    assert (r.status_code, r.headers["Allow"]) == (204, "GET, OPTIONS")
    # A non-integer id matches no route at all.
    assert client.get("/documents/abc", headers=finance.headers).status_code == 404


def test_the_openapi_paths_keep_plain_parameters(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/documents/{document_id}" in paths
    assert not [p for p in paths if ":int" in p]


@pytest.fixture
def small_upload_limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[int]:
    monkeypatch.setenv("LEDGER_MAX_UPLOAD_BYTES", "4096")
    get_settings.cache_clear()
    yield 4096
    get_settings.cache_clear()


def test_every_413_is_recorded_as_refused(
    session: Session, client: TestClient, small_upload_limit: int
) -> None:
    finance = make_user(session, "finance", "440000")
    body = b'{"memo": "' + b"x" * (small_upload_limit * 2) + b'"}'
    headers = {**finance.write(), "Content-Type": "application/json"}
    declared = client.post("/entries/1/reversal", content=body, headers=headers)

    def chunks() -> Iterator[bytes]:
        yield body[:1000]
        yield body[1000:]

    streamed = client.post("/entries/1/reversal", content=chunks(), headers=finance.write())
    assert (declared.status_code, streamed.status_code) == (413, 413)
    rows = _audit_rows(session)
    assert [(r.action, r.outcome, r.status_code) for r in rows] == [
        ("reverse", "refused", 413),
        ("reverse", "refused", 413),
    ], rows
    assert all("exception" not in r.detail for r in rows)


@pytest.fixture
def trusted_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("LEDGER_TRUSTED_PROXIES", "10.0.0.1, 192.168.0.0/16")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _request(peer: str, *forwarded: str) -> Request:
    headers = [(b"x-forwarded-for", f.encode()) for f in forwarded]
    return Request({"type": "http", "client": (peer, 5000), "headers": headers})


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("203.0.113.9", ["1.2.3.4"], "203.0.113.9"),  # an untrusted peer's header is ignored
        ("10.0.0.1", [], "10.0.0.1"),
        ("10.0.0.1", ["1.2.3.4"], "1.2.3.4"),
        ("10.0.0.1", ["6.6.6.6, 1.2.3.4"], "1.2.3.4"),  # the client wrote 6.6.6.6 itself
        ("10.0.0.1", ["6.6.6.6, 1.2.3.4, 192.168.3.4"], "1.2.3.4"),
        ("10.0.0.1", ["6.6.6.6", "1.2.3.4"], "1.2.3.4"),  # two headers are one list
        ("10.0.0.1", ["192.168.1.1, 192.168.2.2"], "192.168.1.1"),
        ("10.0.0.1", ["1.2.3.4, junk"], "10.0.0.1"),
        ("10.0.0.1", ["2001:db8::1"], "2001:db8::1"),
    ],
)
def test_the_client_address_believes_only_trusted_proxies(
    trusted_proxy: None, peer: str, forwarded: list[str], expected: str
) -> None:
    assert client_address(_request(peer, *forwarded)) == expected


def test_a_forged_forwarded_for_does_not_reach_the_audit_log(session: Session, app: Any) -> None:
    finance = make_user(session, "finance", "440000")
    with TestClient(app, client=("203.0.113.9", 5000)) as direct:
        direct.post(
            "/periods/close", json={}, headers={**finance.write(), "X-Forwarded-For": "6.6.6.6"}
        )
    assert [r.client_addr for r in _audit_rows(session)] == ["203.0.113.9"]


def test_an_unparseable_trusted_proxies_setting_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from ledger.config import Settings

    with pytest.raises(ValueError, match=r"10\.0\.0\.300"):
        Settings(trusted_proxies="10.0.0.1,10.0.0.300")


def test_a_multipart_return_file_is_refused_with_415(session: Session, client: TestClient) -> None:
    ensure_bank(session)
    bank = make_user(session, "bank", "440000", bank=BANK)
    csv = "序号,收款账号,收款户名,金额,备注,处理结果\r\n1,6222000000000001,张三,1.00,R1,成功\r\n"
    r = client.post("/bank-files", files={"file": ("r.csv", csv.encode())}, headers=bank.write())
    assert r.status_code == 415, r.text
    assert r.json()["error"]["code"] == "unsupported_media_type"
    assert session.execute(text("SELECT count(*) FROM bank_file")).scalar_one() == 0
