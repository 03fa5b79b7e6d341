"""No single person moves, undoes, waives or reroutes money; closed books stay closed; keys are
each principal's own; a roster upload ends benefits only when asked to; one write path.

Each test is one of the defects seen on the first build, tried the way a user would."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger import db
from ledger.domain import allocation_lines, reversal_lines
from ledger.errors import PeriodClosed
from ledger.journal.service import entry_lines, post_entry
from ledger.journal.verify import verify
from reconciliation.simulate import SimLine, write_csv_return
from tests.factories import TestUser, make_user
from tests.reconciliation.batches import released_batch
from tests.roster import helpers as roster

FUND = "urban_minimum_living"
TODAY = dt.date.today()
YEAR = TODAY.year
ROOT = Path(__file__).resolve().parents[2]


def _doc(
    client: Any, user: TestUser, kind: str, amount: str, key: str | None = None, **kw: Any
) -> Any:
    body: dict[str, Any] = {
        "number": kw.pop("number", f"粤财社〔{YEAR}〕{amount}-{kind}-{user.username}号"),
        "fiscal_year": kw.pop("fiscal_year", YEAR),
        "amount": amount,
        "fund": FUND,
        **kw,
    }
    return client.post(f"/documents/{kind}", json=body, headers=user.write(key))


def _posted(
    client: Any, maker: TestUser, checker: TestUser, kind: str, amount: str, **kw: Any
) -> dict[str, Any]:
    made = _doc(client, maker, kind, amount, **kw)
    assert made.status_code == 201, made.text
    approved = client.post(f"/documents/{made.json()['id']}/approval", headers=checker.write())
    assert approved.status_code == 200, approved.text
    return dict(approved.json()["document"])


def _entries(session: Session) -> int:
    return int(session.execute(text("SELECT count(*) FROM journal_entry")).scalar_one())


# 1 ------------------------------------------------------------------------------------------


def test_a_reversal_is_a_document_made_by_one_and_approved_by_another(
    client: Any, session: Session
) -> None:
    maker, checker = (
        make_user(session, "finance", "440000"),
        make_user(session, "finance", "440000"),
    )
    original = _posted(client, maker, checker, "allocations", "5000.00")
    entry_id = original["entry_ids"][0]
    before = _entries(session)

    no_reason = client.post(f"/entries/{entry_id}/reversal", json={}, headers=maker.write())
    assert no_reason.status_code == 422
    drafted = client.post(
        f"/entries/{entry_id}/reversal", json={"reason": "重复拨付"}, headers=maker.write()
    )
    assert drafted.status_code == 201, drafted.text
    reversal = drafted.json()
    assert reversal["doc_type"] == "reversal" and reversal["status"] == "draft"
    assert reversal["reverses_document_id"] == original["id"] and reversal["reason"] == "重复拨付"
    assert _entries(session) == before  # nothing posts on the maker's word
    assert (
        client.get(f"/documents/{original['id']}", headers=maker.headers).json()["status"]
        == "posted"
    )

    alone = client.post(f"/documents/{reversal['id']}/approval", headers=maker.write())
    assert alone.status_code == 403
    approved = client.post(f"/documents/{reversal['id']}/approval", headers=checker.write())
    assert approved.status_code == 200, approved.text
    done = approved.json()["document"]
    assert done["status"] == "posted" and done["approved_by"] == checker.username
    assert _entries(session) == before + 1
    now = client.get(f"/documents/{original['id']}", headers=maker.headers).json()
    assert now["status"] == "reversed" and now["reversed_by_document_id"] == reversal["id"]
    mirror = client.get(f"/entries/{done['entry_ids'][0]}", headers=maker.headers).json()
    assert mirror["reverses_id"] == entry_id and mirror["kind"] == "reversal"
    again = client.post(
        f"/entries/{entry_id}/reversal", json={"reason": "再冲"}, headers=maker.write()
    )
    assert again.status_code == 409
    assert verify(session).ok


def test_the_province_cannot_reverse_a_citys_transfer(client: Any, session: Session) -> None:
    p1, p2 = make_user(session, "finance", "440000"), make_user(session, "finance", "440000")
    c1, c2 = make_user(session, "finance", "440100"), make_user(session, "finance", "440100")
    _posted(client, p1, p2, "allocations", "9000.00")
    _posted(client, p1, p2, "transfers", "8000.00", to_jurisdiction="440100")
    transfer = _posted(client, c1, c2, "transfers", "7000.00", to_jurisdiction="440103")
    r = client.post(
        f"/entries/{transfer['entry_ids'][0]}/reversal",
        json={"reason": "省级冲销"},
        headers=p1.write(),
    )
    assert r.status_code == 403


def test_the_database_refuses_a_reversing_entry_without_an_approved_document(
    session: Session,
) -> None:
    wrong = post_entry(
        session, kind="allocation", lines=allocation_lines("440000", FUND, 100_00), created_by="t"
    )
    session.commit()
    post_entry(
        session,
        kind="reversal",
        lines=reversal_lines(entry_lines(session, wrong.id)),
        created_by="t",
        reverses_id=wrong.id,
    )
    with pytest.raises(Exception, match=r"reversal_maker_checker|no approved reversal document"):
        session.commit()
    session.rollback()


def test_a_draft_is_rejected_by_a_checker_or_withdrawn_by_its_maker(
    client: Any, session: Session
) -> None:
    maker, checker = (
        make_user(session, "finance", "440000"),
        make_user(session, "finance", "440000"),
    )
    a = _doc(client, maker, "allocations", "10.00").json()
    b = _doc(client, maker, "allocations", "11.00").json()
    reject = f"/documents/{a['id']}/rejection"
    assert (
        client.post(reject, json={"reason": "金额有误"}, headers=maker.write()).status_code == 403
    )
    rejected = client.post(reject, json={"reason": "金额有误"}, headers=checker.write())
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert rejected.json()["decided_by"] == checker.username
    assert client.post(f"/documents/{a['id']}/approval", headers=checker.write()).status_code == 409
    withdraw = f"/documents/{b['id']}/withdrawal"
    assert (
        client.post(withdraw, json={"reason": "重复录入"}, headers=checker.write()).status_code
        == 403
    )
    withdrawn = client.post(withdraw, json={"reason": "重复录入"}, headers=maker.write())
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert _entries(session) == 0


# 2 ------------------------------------------------------------------------------------------


def test_an_exception_is_resolved_by_a_proposer_and_a_second_approver(
    client: Any, session: Session
) -> None:
    batch = released_batch(session, n=3)
    bank = make_user(session, "bank", "440000", bank="ICBCGD")
    proposer = make_user(session, "civil_affairs", batch.county)
    approver = make_user(session, "civil_affairs", batch.county)
    lines = batch.sim(refs=False)
    p3 = batch.payouts[2]
    lines[2] = SimLine(None, None, "000", "某某", p3.amount_fen, "failed", "账号错误")
    r = client.post(
        "/bank-files",
        content=write_csv_return(lines),
        headers=bank.write(),
        params={"batch_id": batch.id},
    )
    assert r.status_code == 201, r.text
    x = client.get("/reconciliation/exceptions", headers=proposer.headers).json()[0]
    path = f"/reconciliation/exceptions/{x['id']}/resolution"
    body = {"action": "match", "reason": "户名改写，核对身份证后确认", "payout_id": p3.id}
    assert client.post(path, json=body, headers=bank.write()).status_code == 403  # the uploader
    before = _entries(session)
    proposed = client.post(path, json=body, headers=proposer.write())
    assert proposed.status_code == 201, proposed.text
    assert (
        proposed.json()["status"] == "open" and proposed.json()["proposed_by"] == proposer.username
    )
    assert _entries(session) == before  # nothing posts on one person's word
    assert client.post(f"{path}/approval", headers=proposer.write()).status_code == 403
    approved = client.post(f"{path}/approval", headers=approver.write())
    assert approved.status_code == 200, approved.text
    assert (
        approved.json()["status"] == "matched"
        and approved.json()["resolved_by"] == approver.username
    )
    assert approved.json()["resolution_entry_id"] and _entries(session) == before + 1
    assert client.post(f"{path}/approval", headers=approver.write()).status_code == 409
    assert verify(session).ok


def test_the_database_refuses_an_exception_approved_by_its_proposer(
    client: Any, session: Session, owner_url: str
) -> None:
    batch = released_batch(session, n=2)
    bank = make_user(session, "bank", "440000", bank="ICBCGD")
    lines = batch.sim(refs=False)
    lines[1] = SimLine(None, None, "000", "某某", batch.payouts[1].amount_fen, "failed", "账号错误")
    client.post(
        "/bank-files",
        content=write_csv_return(lines),
        headers=bank.write(),
        params={"batch_id": batch.id},
    )
    with (
        psycopg.connect(db.libpq_url(owner_url)) as conn,
        pytest.raises(psycopg.errors.CheckViolation),
    ):
        conn.execute(
            "UPDATE recon_exception SET proposed_action = 'refer', proposed_by = 'alice', "
            "proposed_at = now(), status = 'referred', resolved_by = 'alice', resolved_at = now(), "
            "resolution_reason = 'x'"
        )


# 3 ------------------------------------------------------------------------------------------


def _batch_with_warnings(
    client: Any, session: Session
) -> tuple[roster.County, int, list[dict[str, Any]]]:
    c = roster.county(session)
    people = roster.rows(c.code, 6)
    people[1] = dataclasses.replace(people[1], account_no=people[0].account_no)
    assert roster.upload(client, c, roster.csv_of(people)).status_code == 201
    built = roster.build(client, c)
    assert built.status_code == 201, built.text
    batch_id = built.json()["id"]
    found = client.get(f"/batches/{batch_id}/findings", headers=c.maker.headers).json()
    return c, batch_id, found


def test_warnings_are_acknowledged_one_by_one_by_someone_other_than_the_maker(
    client: Any, session: Session, owner_url: str
) -> None:
    c, batch_id, found = _batch_with_warnings(client, session)
    warnings = [f for f in found if f["severity"] == "warning"]
    assert warnings, found
    path = f"/batches/{batch_id}/acknowledgements"
    ids = [f["id"] for f in warnings]
    by_rule = {"rule": warnings[0]["rule"], "reason": "核实无误"}
    assert client.post(path, json=by_rule, headers=c.checker.write()).status_code == 422
    maker = client.post(
        path, json={"finding_ids": ids, "reason": "核实无误"}, headers=c.maker.write()
    )
    assert maker.status_code == 403
    assert client.post(f"/batches/{batch_id}/release", headers=c.checker.write()).status_code == 409
    ok = client.post(
        path, json={"finding_ids": ids, "reason": "已入户核实"}, headers=c.checker.write()
    )
    assert ok.status_code == 200 and ok.json()["acknowledged"] == len(ids)
    released = client.post(f"/batches/{batch_id}/release", headers=c.checker.write())
    assert released.status_code == 200, released.text
    listed = released.json()["acknowledged_warnings"]
    assert {w["finding_id"] for w in listed} == set(ids)
    assert {w["acknowledged_by"] for w in listed} == {c.checker.username}
    # The database itself refuses the maker's acknowledgement, and one of a blocking finding.
    with psycopg.connect(db.libpq_url(owner_url)) as conn:
        maker_name = conn.execute(
            "SELECT created_by FROM payment_batch WHERE id = %s", (batch_id,)
        ).fetchone()
        assert maker_name is not None
        conn.execute(
            "INSERT INTO finding (rule, severity, jurisdiction_code, batch_id, message) "
            "VALUES ('x', 'blocking', %s, %s, 'x')",
            (c.code, batch_id),
        )
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "UPDATE finding SET acknowledged_by = 'someone', ack_reason = 'x' "
                "WHERE severity = 'blocking' AND batch_id = %s",
                (batch_id,),
            )
        conn.rollback()
        conn.execute(
            "INSERT INTO finding (rule, severity, jurisdiction_code, batch_id, message) "
            "VALUES ('y', 'warning', %s, %s, 'y')",
            (c.code, batch_id),
        )
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "UPDATE finding SET acknowledged_by = %s, ack_reason = 'x' WHERE rule = 'y'",
                (maker_name[0],),
            )


def test_a_blocking_finding_cannot_be_acknowledged(client: Any, session: Session) -> None:
    c = roster.county(session, fund_fen=0)
    assert roster.upload(client, c, roster.csv_of(roster.rows(c.code, 3))).status_code == 201
    batch_id = roster.build(client, c).json()["id"]
    found = client.get(f"/batches/{batch_id}/findings", headers=c.maker.headers).json()
    blocking = [f["id"] for f in found if f["severity"] == "blocking"]
    assert blocking
    r = client.post(
        f"/batches/{batch_id}/acknowledgements",
        json={"finding_ids": blocking, "reason": "先发放"},
        headers=c.checker.write(),
    )
    assert r.status_code == 422 and "blocking" in r.text


# 4 ------------------------------------------------------------------------------------------


def _months_ago(n: int) -> dt.date:
    y, m = TODAY.year, TODAY.month - n
    while m < 1:
        y, m = y - 1, m + 12
    return dt.date(y, m, 15)


def test_closing_a_month_closes_every_month_before_it(client: Any, session: Session) -> None:
    maker, checker = (
        make_user(session, "finance", "440000"),
        make_user(session, "finance", "440000"),
    )
    last_month, two_ago = _months_ago(1), _months_ago(2)
    backdated = _doc(
        client,
        maker,
        "allocations",
        "300.00",
        effective_date=two_ago.isoformat(),
        fiscal_year=two_ago.year,
    ).json()
    closed = client.post(
        "/periods/close", json={"period": last_month.strftime("%Y%m")}, headers=maker.write()
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["closed_through"] == last_month.strftime("%Y%m")
    r = client.post(f"/documents/{backdated['id']}/approval", headers=checker.write())
    assert r.status_code == 409 and r.json()["error"]["code"] == "period_closed"
    assert _entries(session) == 0
    late = _doc(
        client,
        maker,
        "allocations",
        "301.00",
        effective_date=two_ago.isoformat(),
        fiscal_year=two_ago.year,
    )
    assert late.status_code == 409
    with pytest.raises(PeriodClosed):
        post_entry(
            session,
            kind="allocation",
            lines=allocation_lines("440000", FUND, 1),
            created_by="t",
            effective_date=two_ago,
        )
    session.rollback()
    # What the database says when the code's check is bypassed: raw INSERT into the chain.
    with pytest.raises(Exception, match="closed"):
        session.execute(
            text(
                "INSERT INTO journal_entry (id, kind, memo, effective_date, period, created_by, "
                "created_at, prev_hash, hash) SELECT seq + 1, 'allocation', '', :d, :p, 't', now(), "
                "hash, repeat('a', 64) FROM chain_head"
            ),
            {"d": two_ago, "p": two_ago.strftime("%Y%m")},
        )
    session.rollback()
    # A correction goes into the open period and names what it corrects.
    fixed = _posted(
        client,
        maker,
        checker,
        "allocations",
        "300.00",
        number="更正-1",
        memo=f"更正 {two_ago:%Y%m} 漏记",
    )
    assert fixed["status"] == "posted"


# 5 ------------------------------------------------------------------------------------------


def test_an_idempotency_key_belongs_to_its_principal(client: Any, session: Session) -> None:
    liwan = make_user(session, "finance", "440103")
    chikan = make_user(session, "finance", "440802")
    a = _doc(client, liwan, "allocations", "100.00", key="alloc-0001", number="N-1")
    b = _doc(client, chikan, "allocations", "100.00", key="alloc-0001", number="N-1")
    assert a.status_code == 201 and b.status_code == 201, (a.text, b.text)
    assert a.json()["id"] != b.json()["id"]
    assert (a.json()["created_by"], b.json()["created_by"]) == (liwan.username, chikan.username)
    assert b.headers.get("Idempotent-Replayed") is None
    replay = _doc(client, liwan, "allocations", "100.00", key="alloc-0001", number="N-1")
    assert replay.status_code == 201 and replay.json() == a.json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    other_body = _doc(client, liwan, "allocations", "999.00", key="alloc-0001", number="N-1")
    assert other_body.status_code == 409
    # Another principal's different body under the same key is simply another request.
    fresh = _doc(client, chikan, "allocations", "555.00", key="alloc-0002", number="N-2")
    assert fresh.status_code == 201
    creators = session.execute(
        text(
            "SELECT username, count(*) FROM audit_log WHERE action = 'create_allocation' "
            "AND outcome = 'accepted' GROUP BY username ORDER BY username"
        )
    ).all()
    assert dict(creators) == {liwan.username: 2, chikan.username: 2}


# 6 ------------------------------------------------------------------------------------------


def _roster_upload(client: Any, c: roster.County, data: bytes, **form: Any) -> Any:
    return client.post(
        f"/counties/{c.code}/roster",
        headers=c.maker.write(),
        files={"file": ("r.csv", data)},
        data={"effective_period": "202404", **form},
    )


def test_a_short_roster_upload_does_not_end_benefits(client: Any, session: Session) -> None:
    c = roster.county(session)
    everyone = roster.rows(c.code, 16)
    assert roster.upload(client, c, roster.csv_of(everyone)).status_code == 201
    short = roster.csv_of(everyone[:3])
    updated = _roster_upload(client, c, short)
    assert updated.status_code == 201, updated.text
    assert updated.json()["mode"] == "update" and updated.json()["exited"] == 0

    households = len({r.household_id for r in everyone})
    preview = _roster_upload(client, c, short, mode="replace", dry_run="true")
    assert preview.status_code == 200 and preview.json()["dry_run"] is True
    would = preview.json()
    assert would["exited"] == len(everyone) - 3 and would["import_id"] is None
    assert would["exited_households"] == households - len({r.household_id for r in everyone[:3]})
    assert len(would["exits"]) == would["exited"]
    unchanged = roster.counts(session)
    refused = _roster_upload(client, c, short, mode="replace")
    assert refused.status_code == 409 and "confirm_exits" in refused.text
    wrong = _roster_upload(client, c, short, mode="replace", confirm_exits="1")
    assert wrong.status_code == 409
    assert roster.counts(session) == unchanged
    done = _roster_upload(
        client, c, short, mode="replace", confirm_exits=str(would["exited_households"])
    )
    assert done.status_code == 201 and done.json()["exited"] == would["exited"]


# 7 ------------------------------------------------------------------------------------------


def test_a_person_listed_under_two_names_of_one_fund_is_refused(
    client: Any, session: Session
) -> None:
    c = roster.county(session)
    people = roster.rows(c.code, 3)
    twin = dataclasses.replace(
        people[0], fund="2081901", household_id="X-9", account_no=people[2].account_no
    )
    first = dataclasses.replace(people[0], fund="城市最低生活保障")
    r = roster.upload(client, c, roster.csv_of([first, people[1], twin]))
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    assert any(d["line"] and "first on line" in d["reason"] for d in details), details


def test_a_person_in_force_in_another_county_is_refused(client: Any, session: Session) -> None:
    liwan = roster.county(session, "440103")
    yuexiu = roster.county(session, "440104", fund_fen=0)
    people = roster.rows(liwan.code, 2)
    assert roster.upload(client, liwan, roster.csv_of(people)).status_code == 201
    moved = [dataclasses.replace(p, county_code=yuexiu.code) for p in people[:1]]
    r = roster.upload(client, yuexiu, roster.csv_of(moved))
    assert r.status_code == 422 and "440103" in r.text


# 8 ------------------------------------------------------------------------------------------


def test_a_batch_blocked_for_cash_is_released_once_the_county_is_funded(
    client: Any, session: Session
) -> None:
    from tests.factories import fund_chain

    c = roster.county(session, fund_fen=0)
    assert roster.upload(client, c, roster.csv_of(roster.rows(c.code, 3))).status_code == 201
    batch_id = roster.build(client, c).json()["id"]
    assert client.post(f"/batches/{batch_id}/release", headers=c.checker.write()).status_code == 409
    fund_chain(session, roster.URBAN, {"440000": 10**9, "440100": 10**9, c.code: 10**8})
    rerun = client.post(f"/batches/{batch_id}/checks", headers=c.maker.write())
    assert rerun.status_code == 201 and rerun.json()["findings"] == {}
    assert client.get(f"/batches/{batch_id}/findings", headers=c.maker.headers).json() == []
    released = client.post(f"/batches/{batch_id}/release", headers=c.checker.write())
    assert released.status_code == 200, released.text


# 9 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "ALTER TABLE journal_entry DISABLE TRIGGER ALL",
        "SET session_replication_role = replica",
        "SET ROLE postgres",
        "UPDATE journal_entry SET memo = 'x'",
        "DELETE FROM audit_log",
    ],
)
def test_the_service_role_cannot_disable_triggers_or_rewrite_history(
    engine: Any, db_url: str, statement: str
) -> None:
    assert engine.url.username == db.APP_ROLE  # the suite itself runs as the service does
    with psycopg.connect(db.libpq_url(db.app_url(db_url))) as conn:
        who = conn.execute("SELECT current_user, session_user").fetchone()
        assert who == (db.APP_ROLE, db.APP_ROLE)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(statement)


def test_the_default_settings_run_as_the_application_role() -> None:
    from ledger.config import Settings

    settings = Settings(database_url="postgresql://postgres@127.0.0.1:5432/x")
    assert db.app_url("postgresql+psycopg://postgres@127.0.0.1:5432/x", settings).startswith(
        f"postgresql+psycopg://{db.APP_ROLE}@"
    )


# 10 -----------------------------------------------------------------------------------------

# Where a commit may stand: the unit of work, the audit middleware's record of a refusal (its
# own transaction, by design), the connection hook that sets the time zone, and the job worker,
# which commits a job's claim, its work with its outcome, and its release.
ALLOWED_COMMITS = {
    "ledger/uow.py",
    "ledger/access/audit.py",
    "ledger/db.py",
    "ledger/jobs/service.py",
}


def test_only_the_unit_of_work_commits() -> None:
    offenders = []
    for package in ("ledger", "reconciliation", "reports"):
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "commit"
                    and rel not in ALLOWED_COMMITS
                ):
                    offenders.append(f"{rel}:{node.lineno}")
    assert offenders == []


def test_a_refused_write_is_recorded_and_an_accepted_one_once(
    client: Any, session: Session
) -> None:
    maker = make_user(session, "finance", "440000")
    ok = _doc(client, maker, "allocations", "1.00", key="one")
    bad = _doc(client, maker, "allocations", "1.00", key="two", fund="no_such_fund")
    assert ok.status_code == 201 and bad.status_code == 422
    rows = session.execute(
        text(
            "SELECT detail->>'idempotency_key', outcome, status_code FROM audit_log "
            "WHERE username = :u ORDER BY id"
        ),
        {"u": maker.username},
    ).all()
    assert [tuple(r) for r in rows] == [("one", "accepted", 201), ("two", "refused", 422)]
