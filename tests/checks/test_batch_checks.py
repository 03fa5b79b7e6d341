"""Each blocking check stops a release; each warning stops it until acknowledged with a reason."""

from __future__ import annotations

import dataclasses
import datetime as dt

from ledger.roster.files import RosterRow
from tests.factories import make_user
from tests.roster.helpers import RURAL, URBAN, County, build, county, csv_of, release, rows, upload


def _register(client, c: County, kind: str, body: str, *, user=None, jurisdiction=None):
    reply = client.post(
        f"/registers/{kind}",
        headers=(user or c.maker).write(),
        files={"file": (f"{kind}.csv", body.encode())},
        params={"jurisdiction": jurisdiction} if jurisdiction else {},
    )
    assert reply.status_code == 201, reply.text
    return reply.json()


def _findings(client, c, batch_id):
    return client.get(f"/batches/{batch_id}/findings", headers=c.maker.headers).json()


def _prepare(client, session, roster: list[RosterRow], **county_kw) -> tuple[County, dict]:
    c = county(session, **county_kw)
    assert upload(client, c, csv_of(roster)).status_code == 201
    reply = build(client, c)
    assert reply.status_code == 201, reply.text
    return c, reply.json()


def _acknowledge(client, c, batch_id, rule, reason="经入户核查属实"):
    """The checker names each warning of the rule and answers for it."""
    ids = [f["id"] for f in _findings(client, c, batch_id) if f["rule"] == rule]
    return client.post(
        f"/batches/{batch_id}/acknowledgements",
        headers=c.checker.write(),
        json={"finding_ids": ids, "reason": reason},
    )


def _released_after_ack(client, c, batch_id, rule):
    assert release(client, c, batch_id).status_code == 409
    ack = _acknowledge(client, c, batch_id, rule)
    assert ack.status_code == 200 and ack.json()["acknowledged"] >= 1
    reply = release(client, c, batch_id)
    assert reply.status_code == 200, reply.text


def _only(findings, rule):
    hits = [f for f in findings if f["rule"] == rule]
    assert hits, findings
    assert all(f["message"] and f["evidence"] for f in hits)
    return hits


def test_payee_dead_before_the_period_blocks(client, session):
    roster = rows("440103", 3)
    c = county(session)
    upload(client, c, csv_of(roster))
    dead = roster[1]
    _register(
        client,
        c,
        "deaths",
        f"公民身份号码,姓名,死亡日期\n{dead.id_number},{dead.name},2024-01-15\n",
    )
    batch = build(client, c).json()
    (hit,) = _only(_findings(client, c, batch["id"]), "paid_after_death")
    assert hit["severity"] == "blocking" and "死亡" in hit["message"]
    reply = release(client, c, batch["id"])
    assert reply.status_code == 409
    assert "paid_after_death" in reply.json()["error"]["details"][0]["reason"]
    ack = client.post(
        f"/batches/{batch['id']}/acknowledgements",
        headers=c.checker.write(),
        json={"finding_ids": [hit["id"]], "reason": "想放行"},
    )
    assert ack.status_code == 422  # a blocking finding cannot be waved through


def test_programs_that_exclude_each_other_block(client, session):
    urban = rows("440103", 2)
    both = [*urban, dataclasses.replace(urban[0], fund=RURAL, household_id="R1", line_no=9)]
    c, batch = _prepare(client, session, both)
    (hit,) = _only(_findings(client, c, batch["id"]), "exclusive_programs")
    assert hit["severity"] == "blocking" and hit["evidence"]["other_fund"] == RURAL
    assert release(client, c, batch["id"]).status_code == 409


def test_insufficient_special_cash_blocks(client, session):
    c, batch = _prepare(client, session, rows("440103", 3), fund_fen=0)
    (hit,) = _only(_findings(client, c, batch["id"]), "insufficient_special_cash")
    assert hit["severity"] == "blocking"
    assert release(client, c, batch["id"]).status_code == 409


def test_same_person_twice_blocks(client, session):
    a = county(session, "440103")
    b = county(session, "440104")
    # Listed by A from next month on, B's import (in force this month) cannot see the clash:
    # next month's batches do.
    person = [dataclasses.replace(rows(a.code, 1, seed=3)[0], start_period="202404")]
    assert upload(client, a, csv_of(person)).status_code == 201
    twin = dataclasses.replace(
        person[0], county_code=b.code, household_id="B", start_period="202401"
    )
    assert upload(client, b, csv_of([twin])).status_code == 201
    assert build(client, a, period="202404").status_code == 201
    batch = build(client, b, period="202404").json()
    assert batch["line_count"] == 0
    (hit,) = _only(_findings(client, b, batch["id"]), "same_person_twice")
    assert hit["severity"] == "blocking"
    assert release(client, b, batch["id"]).status_code == 409


def _standards(client, session, c, county_yuan: str, city_yuan: str):
    """The city's finance bureau files both standards (the county lies in its scope)."""
    finance = make_user(session, "finance", "440100")
    _register(
        client,
        c,
        "standards",
        "行政区划代码,救助类别,生效年月,月保障标准\n"
        f"{c.code},{URBAN},202401,{county_yuan}\n440100,{URBAN},202401,{city_yuan}\n",
        user=finance,
        jurisdiction="440100",
    )


def test_amount_above_entitlement_is_a_warning(client, session):
    roster = rows("440103", 3)
    roster[0] = dataclasses.replace(roster[0], household_size=1, monthly_amount_fen=2000_00)
    roster = [
        dataclasses.replace(r, monthly_amount_fen=min(r.monthly_amount_fen, 2000_00))
        for r in roster
    ]
    c = county(session)
    upload(client, c, csv_of(roster))
    _standards(client, session, c, "1100", "1000")
    batch = build(client, c).json()
    hits = _only(_findings(client, c, batch["id"]), "above_entitlement")
    assert any(h["evidence"]["standard_fen"] == 1100_00 for h in hits)  # the higher standard
    _released_after_ack(client, c, batch["id"], "above_entitlement")


def test_county_standard_below_city_is_a_warning(client, session):
    roster = [dataclasses.replace(r, monthly_amount_fen=100_00) for r in rows("440103", 2)]
    c = county(session)
    upload(client, c, csv_of(roster))
    _standards(client, session, c, "900", "1000")
    batch = build(client, c).json()
    (hit,) = _only(_findings(client, c, batch["id"]), "county_standard_below_city")
    assert hit["severity"] == "warning"
    _released_after_ack(client, c, batch["id"], "county_standard_below_city")


def test_one_account_for_several_households_is_a_warning(client, session):
    roster = rows("440103", 3)
    roster[2] = dataclasses.replace(roster[2], account_no=roster[0].account_no)
    c, batch = _prepare(client, session, roster)
    (hit,) = _only(_findings(client, c, batch["id"]), "shared_account")
    assert len(hit["evidence"]["household_ids"]) == 2
    _released_after_ack(client, c, batch["id"], "shared_account")


def test_account_holder_not_payee_is_a_warning(client, session):
    roster = rows("440103", 3)
    roster[1] = dataclasses.replace(roster[1], account_name="王某某")
    c, batch = _prepare(client, session, roster)
    _only(_findings(client, c, batch["id"]), "account_holder_mismatch")
    _released_after_ack(client, c, batch["id"], "account_holder_mismatch")


def test_public_payroll_and_unfiled_relative_are_warnings(client, session):
    roster = rows("440103", 4)
    c = county(session)
    upload(client, c, csv_of(roster))
    p, r, staff = roster[0], roster[1], rows("440103", 1, seed=77)[0]
    _register(
        client, c, "public_payroll", f"公民身份号码,姓名,工作单位\n{p.id_number},{p.name},某局\n"
    )
    _register(
        client,
        c,
        "staff_relatives",
        "工作人员身份证号,工作人员姓名,亲属身份证号,亲属姓名,关系,是否备案,备案日期\n"
        f"{staff.id_number},{staff.name},{r.id_number},{r.name},配偶,否,\n"
        f"{staff.id_number},{staff.name},{roster[2].id_number},{roster[2].name},子女,是,"
        f"{dt.date(2023, 5, 1).isoformat()}\n",
    )
    batch = build(client, c).json()
    findings = _findings(client, c, batch["id"])
    assert len(_only(findings, "on_public_payroll")) == 1
    assert len(_only(findings, "unfiled_staff_relative")) == 1  # the filed relative is fine
    assert release(client, c, batch["id"]).status_code == 409
    _acknowledge(client, c, batch["id"], "on_public_payroll", "公益性岗位，收入低于标准")
    _released_after_ack(client, c, batch["id"], "unfiled_staff_relative")


def test_a_rerun_after_a_new_register_finds_more(client, session):
    roster = rows("440103", 3)
    c, batch = _prepare(client, session, roster)
    assert not [f for f in _findings(client, c, batch["id"]) if f["severity"] == "blocking"]
    d = roster[0]
    _register(
        client, c, "deaths", f"公民身份号码,姓名,死亡日期\n{d.id_number},{d.name},2023-12-01\n"
    )
    assert client.post(f"/batches/{batch['id']}/checks", headers=c.maker.write()).status_code == 201
    _only(_findings(client, c, batch["id"]), "paid_after_death")
    assert release(client, c, batch["id"]).status_code == 409
