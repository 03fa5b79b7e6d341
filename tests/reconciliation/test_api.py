"""Through HTTP: a bank uploads its own batches' files, replays are answered by the first import,
oversize uploads are refused early, and the exceptions queue is resolved by another person."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.access import service as access
from ledger.config import get_settings
from reconciliation.simulate import SimLine, write_csv_return
from tests.factories import TestUser as BankUser
from tests.factories import make_user
from tests.reconciliation.batches import released_batch


def bank_user(session: Session, bank: str) -> BankUser:
    """A user of its own bank's bureau (the factory names bureaus by jurisdiction and kind)."""
    access.create_bank(session, code=bank, name=bank)
    bureau = access.create_bureau(
        session, jurisdiction="440000", kind="bank", name=bank, bank_code=bank
    )
    name = f"bank-{bank.lower()}"
    uid = access.create_user(
        session, username=name, display_name=name, bureau_id=bureau, role="bank"
    )
    token = access.issue_token(session, user_id=uid)
    session.commit()
    return BankUser(name, token, "bank", "440000")


def upload(client: Any, user: Any, data: bytes, **params: Any) -> Any:
    return client.post("/bank-files", content=data, headers=user.write(), params=params)


def test_bank_uploads_replays_and_is_scoped(client: Any, session: Session) -> None:
    batch = released_batch(session, n=10)
    bank = make_user(session, "bank", "440000", bank="ICBCGD")
    other = bank_user(session, "RCCGD")
    data = write_csv_return(batch.sim({4: "已销户"}))
    r = upload(client, bank, data, filename="hp.csv")
    assert r.status_code == 201, r.text
    body = r.json()
    assert (
        body["counts"]["paid"] == 9
        and body["total"] == f"{batch.total_fen // 100}.{batch.total_fen % 100:02d}"
    )
    again = upload(client, bank, data)
    assert again.status_code == 200 and again.json()["replayed"]
    assert again.json()["file_id"] == body["file_id"]
    # Another bank's upload cannot name this batch, nor settle its lines.
    denied = upload(client, other, write_csv_return(batch.sim(), title=None), batch_id=batch.id)
    assert denied.status_code == 403
    stray = upload(client, other, write_csv_return(batch.sim(), title="x"))
    assert stray.status_code == 422  # no line names a payout of that bank's
    outside = client.get(f"/bank-files/{body['file_id']}", headers=other.headers)
    assert outside.status_code == 403 and outside.json()["error"]["code"] == "forbidden"
    assert client.get("/bank-files/999999", headers=other.headers).status_code == 404
    seen = client.get(f"/bank-files/{body['file_id']}", headers=bank.headers).json()
    assert seen["uploaded_by"] == bank.username
    civil = make_user(session, "civil_affairs", batch.county)
    assert upload(client, civil, data).status_code == 403
    logged = session.execute(
        text(
            "SELECT status_code, object_id FROM audit_log WHERE action = 'upload_bank_file' "
            "AND outcome = 'accepted' ORDER BY id"
        )
    ).all()
    # Two requests, one file: the second answered by the first import.
    assert [tuple(r) for r in logged] == [(201, str(body["file_id"])), (200, str(body["file_id"]))]
    assert session.execute(text("SELECT count(*) FROM bank_file")).scalar_one() == 1


def test_rejected_upload_names_the_line(client: Any, session: Session) -> None:
    batch = released_batch(session, n=3)
    bank = make_user(session, "bank", "440000", bank="ICBCGD")
    bad = write_csv_return(batch.sim(), trailer=False) + "合计,4笔,1.00\r\n".encode("gbk")
    r = upload(client, bank, bad)
    assert r.status_code == 422
    detail = r.json()["error"]["details"][0]
    assert detail["line"] == 6 and detail["field"] == "合计" and "4" in detail["reason"]


def test_oversize_upload_is_refused(client: Any, session: Session, monkeypatch: Any) -> None:
    bank = make_user(session, "bank", "440000", bank="ICBCGD")
    monkeypatch.setattr(get_settings(), "max_upload_bytes", 1000)
    r = upload(client, bank, b"x" * 1001)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

    def chunks() -> Any:
        for _ in range(100):
            yield b"y" * 100

    streamed = client.post("/bank-files", content=chunks(), headers=bank.write())
    assert streamed.status_code == 413


def test_exceptions_are_listed_and_resolved_by_another_person(
    client: Any, session: Session
) -> None:
    batch = released_batch(session, n=3)
    bank = make_user(session, "bank", "440000", bank="ICBCGD")
    civil = make_user(session, "civil_affairs", batch.county)
    lines = batch.sim(refs=False)
    p3 = batch.payouts[2]
    lines[2] = SimLine(None, None, "000", "某某", p3.amount_fen, "failed", "账号错误")
    r = upload(client, bank, write_csv_return(lines), batch_id=batch.id)
    assert r.json()["counts"]["unmatched"] == 1
    queue = client.get("/reconciliation/exceptions", headers=civil.headers).json()
    assert len(queue) == 1 and queue[0]["suggested_payout_id"] == p3.id
    x = queue[0]
    assert x["suspense"] == f"{p3.amount_fen // 100}.{p3.amount_fen % 100:02d}"
    path = f"/reconciliation/exceptions/{x['id']}/resolution"
    # The bank (uploader) may not resolve; a reason is required.
    assert (
        client.post(path, json={"action": "refer", "reason": "x"}, headers=bank.write()).status_code
        == 403
    )
    assert (
        client.post(path, json={"action": "refer", "reason": ""}, headers=civil.write()).status_code
        == 422
    )
    proposed = client.post(
        path,
        json={"action": "match", "reason": "户名改写，核对身份证后确认", "payout_id": p3.id},
        headers=civil.write(),
    )
    assert proposed.status_code == 201, proposed.text
    second = make_user(session, "civil_affairs", batch.county)
    done = client.post(f"{path}/approval", headers=second.write())
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "matched" and done.json()["resolution_entry_id"]
    again = client.post(path, json={"action": "refer", "reason": "again"}, headers=civil.write())
    assert again.status_code == 409
    state = session.execute(
        text("SELECT state FROM payout WHERE id = :p"), {"p": p3.id}
    ).scalar_one()
    assert state == "failed"
    suspense = session.execute(
        text("SELECT balance_fen FROM account WHERE kind = 'suspense' AND jurisdiction_code = :c"),
        {"c": batch.county},
    ).scalar_one()
    assert suspense == 0
    audited = session.execute(
        text(
            "SELECT action, username FROM audit_log WHERE object_type LIKE '%exception%' "
            "AND outcome = 'accepted' ORDER BY id"
        )
    ).all()
    assert [tuple(a) for a in audited] == [
        ("propose", civil.username),
        ("approve_resolution", second.username),
    ]
    auditor = make_user(session, "auditor", "440000")
    assert client.get("/verify", headers=auditor.headers).json()["ok"]


def test_statement_reconciles_or_is_flagged(client: Any, session: Session) -> None:
    from lxml import etree

    batch = released_batch(session, n=4)
    bank = make_user(session, "bank", "440000", bank="ICBCGD")
    cash = session.execute(
        text(
            "SELECT balance_fen FROM account WHERE kind = 'special_cash' AND jurisdiction_code = :c"
        ),
        {"c": batch.county},
    ).scalar_one()

    day = dt.date.today() + dt.timedelta(days=1)  # after the release in any time zone

    def camt053(closing: int, debit: int | None) -> bytes:
        ns = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
        e = lambda tag, txt=None: f"<{tag}>{txt}</{tag}>" if txt is not None else f"<{tag}/>"  # noqa: E731
        ntry = (
            f"<Ntry><Amt Ccy='CNY'>{debit / 100:.2f}</Amt><CdtDbtInd>DBIT</CdtDbtInd>"
            f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{day}</Dt></BookgDt></Ntry>"
            if debit
            else ""
        )
        xml = (
            f"<Document xmlns='{ns}'><BkToCstmrStmt><GrpHdr>{e('MsgId', 'S1')}"
            f"{e('CreDtTm', '2026-01-31T18:00:00')}</GrpHdr><Stmt>{e('Id', 'ST1')}"
            f"<Acct><Id><Othr><Id>4401030001</Id></Othr></Id><Ccy>CNY</Ccy></Acct>"
            f"<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy='CNY'>{closing / 100:.2f}"
            f"</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>{ntry}"
            "</Stmt></BkToCstmrStmt></Document>"
        )
        etree.fromstring(xml.encode())
        return xml.encode()

    params = {"county": batch.county, "fund": batch.fund}
    # The bank has not debited the batch yet: the difference is exactly what is in transit.
    r = upload(client, bank, camt053(cash + batch.total_fen, None), **params)
    assert r.status_code == 201, r.text
    st = r.json()
    assert st["status"] == "explained" and st["statement"]["residual_fen"] == 0
    assert st["statement"]["items"][0]["batch_id"] == batch.id
    # Debited, and the books agree.
    assert (
        upload(client, bank, camt053(cash, batch.total_fen), **params).json()["status"] == "agreed"
    )
    # A balance nobody can explain is flagged as a finding.
    flagged = upload(client, bank, camt053(cash + 12345, batch.total_fen), **params).json()
    assert flagged["status"] == "flagged" and flagged["statement"]["residual_fen"] == 12345
    assert (
        session.execute(
            text("SELECT count(*) FROM finding WHERE rule = 'statement_unreconciled'")
        ).scalar_one()
        == 1
    )
