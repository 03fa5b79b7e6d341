"""The person file (一人一档): complete for the readers who may see it, masked for those who must
not see account numbers, refused to the rest, and every reading recorded."""

from __future__ import annotations

import dataclasses
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.pii import person_key
from tests.factories import make_user
from tests.registers.notice import HOLDING_HEADER, csv
from tests.roster.helpers import build, county, csv_of, rows, upload


def _setup(client: Any, session: Session) -> tuple[Any, Any]:
    c = county(session)
    roster = rows(c.code, 3)
    person = roster[0]
    assert upload(client, c, csv_of(roster)).status_code == 201
    moved = [dataclasses.replace(person, household_id="HNEW"), *roster[1:]]
    assert upload(client, c, csv_of(moved), period="202405").status_code == 201
    payroll = f"公民身份号码,姓名,工作单位\n{person.id_number},{person.name},某某局\n"
    r = client.post(
        "/registers/public_payroll",
        headers=c.maker.write(),
        files={"file": ("p.csv", payroll.encode())},
    )
    assert r.status_code == 201, r.text
    holding = f"{person.id_number},{person.name},证券,GFSEC,A0012345,8000.00,2024-03-01"
    r = client.post(
        "/registers/holdings",
        headers=c.maker.write(),
        files={"file": ("h.csv", csv(HOLDING_HEADER, [holding]))},
    )
    assert r.status_code == 201, r.text
    review = {"household_id": person.household_id, "kind": "home_visit",
              "reviewed_on": "2024-03-02", "outcome": "无变化", "reviewer": "王核查"}  # fmt: skip
    assert (
        client.post("/counties/440103/reviews", headers=c.maker.write(), json=review).status_code
        == 201
    )
    complaint = {"channel": "visit", "received_on": "2024-03-05", "jurisdiction": "440103",
                 "concerns": "person", "id_number": person.id_number, "content": "反映其有工作"}  # fmt: skip
    assert client.post("/complaints", headers=c.maker.write(), json=complaint).status_code == 201
    assert build(client, c).status_code == 201
    return c, person


def test_the_file_is_complete_for_the_county_and_masked_for_auditors(
    client: Any, session: Session
) -> None:
    c, person = _setup(client, session)
    key = person_key(person.id_number)

    civil = client.post(
        "/people/lookup", headers=c.maker.write(), json={"id_number": person.id_number}
    )
    assert civil.status_code == 200, civil.text
    f = civil.json()
    assert f["person_key"] == key and f["counties"] == ["440103"] and f["full_accounts"] is True
    assert [(v["valid_from"], v["household_id"], v["household_changed"]) for v in f["roster"]] == [
        ("202403", person.household_id, False),
        ("202405", "HNEW", True),
    ]
    assert f["roster"][0]["account"] == person.account_no  # in full for the county's own bureau
    (payout,) = f["payouts"]
    assert payout["period"] == "202403" and payout["state"] == "draft"
    assert "on_public_payroll" in {x["rule"] for x in f["findings"]}
    assert {m["source"] for m in f["matches"]} == {"public_payroll", "holding"}
    holding = next(m for m in f["matches"] if m["source"] == "holding")
    assert holding["value_fen"] == 8000_00 and "A0012345" not in holding["detail"]
    assert [r["kind"] for r in f["reviews"]] == ["home_visit"]
    assert [(x["channel"], x["concerns"]) for x in f["complaints"]] == [("visit", "person")]

    for role, home, full in (("auditor", "440100", False), ("admin", "440000", True)):
        reader = make_user(session, role, home)
        r = client.get(f"/people/{key}", headers=reader.headers)
        assert r.status_code == 200, (role, r.text)
        body = r.json()
        assert body["full_accounts"] is full
        accounts = [v["account"] for v in body["roster"]] + [p["account"] for p in body["payouts"]]
        assert all((a == person.account_no) is full for a in accounts), (role, accounts)
        assert person.id_number not in r.text

    for role, home in (("finance", "440103"), ("bank", "440000")):
        reader = make_user(session, role, home, bank="ICBCGD" if role == "bank" else None)
        assert client.get(f"/people/{key}", headers=reader.headers).status_code == 403, role
    elsewhere = make_user(session, "civil_affairs", "440104")
    assert client.get(f"/people/{key}", headers=elsewhere.headers).status_code == 404
    auditor_elsewhere = make_user(session, "auditor", "440300")
    assert client.get(f"/people/{key}", headers=auditor_elsewhere.headers).status_code == 404


def test_every_reading_is_recorded_and_the_id_number_is_in_no_log(
    client: Any, session: Session
) -> None:
    c, person = _setup(client, session)
    key = person_key(person.id_number)
    before = session.execute(text("SELECT count(*) FROM audit_log")).scalar_one()
    client.post("/people/lookup", headers=c.maker.headers, json={"id_number": person.id_number})
    client.get(f"/people/{key}", headers=c.maker.headers)
    client.post("/people/lookup", headers=c.maker.headers, json={"id_number": "440103190001010000"})
    rows_ = session.execute(
        text("SELECT action, object_type, object_id, outcome, CAST(detail AS text) AS d "
             "FROM audit_log ORDER BY id OFFSET :n"), {"n": before}
    ).all()  # fmt: skip
    assert [(r.object_type, r.object_id, r.outcome) for r in rows_][:2] == [
        ("person", key, "accepted"),
        ("person", key, "accepted"),
    ]
    assert len(rows_) == 3 and rows_[2].outcome != "accepted"  # the unknown one, refused
    dump = " ".join(str(tuple(r)) for r in rows_)
    assert person.id_number not in dump and "440103190001010000" not in dump


def test_the_pdf_is_the_readers_file_in_the_embedded_font(client: Any, session: Session) -> None:
    _c, person = _setup(client, session)
    key = person_key(person.id_number)
    auditor = make_user(session, "auditor", "440103")
    r = client.get(f"/people/{key}/file.pdf", headers=auditor.headers)
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    assert b"/FontFile2" in r.content  # the TrueType CJK font is embedded
    reads = session.execute(
        text("SELECT count(*) FROM audit_log WHERE object_type = 'person' AND username = :u"),
        {"u": auditor.username},
    ).scalar_one()
    assert reads == 1  # the download is a reading of the file, recorded
    bank = make_user(session, "bank", "440000", bank="ICBCGD")
    assert client.get(f"/people/{key}/file.pdf", headers=bank.headers).status_code == 403
