"""The whole month end to end: allocation → transfers → roster → batch → bank files → return
files → reconciliation → PDFs, on the test database, with the books verified at the end."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from ledger.access.sessions import check_password
from ledger.demo import DEMO_PASSWORD, run_demo, shift_period
from ledger.figures import flow_figures
from ledger.jurisdictions.catalog import PROVINCE
from ledger.main import DEMO_STAGES, create_app
from reports.data import audit_data
from reports.scope import period_end, report_scope


def test_whole_month(engine: Engine, tmp_path: Path) -> None:
    summary = run_demo(
        stages=DEMO_STAGES,
        out=tmp_path,
        size=8,
        counties=2,
        until=None,
        create_app=create_app,
        engine=engine,
    )
    assert summary["verify"]["ok"], summary["verify"]["problems"]
    stages = summary["stages"]
    assert stages["released"]["batches"] > 0 and stages["released"]["payouts"] > 0
    assert stages["reconciled"]["paid"] > 0
    notice = stages["notice"]
    assert notice["found"] == notice["planted"], json.dumps(notice, ensure_ascii=False)
    assert notice["public_complaint_status"] == "open"
    assert notice["person_file"]["matches"] == 1 and notice["person_file"]["complaints"] == 1
    assert (
        stages["books"]["unbalanced_books"] == 0 and stages["books"]["negative_special_cash"] == 0
    )
    assert (
        json.loads((tmp_path / "summary.json").read_text())["chain_head"] == summary["chain_head"]
    )
    assert list((tmp_path / "bank").glob("*.xml")) and list((tmp_path / "returns").iterdir())
    assert all("_批次" in f.name for f in (tmp_path / "bank").iterdir())  # named for the clerk
    logins = (tmp_path / "console-users.txt").read_text(encoding="utf-8")
    first_maker = logins.splitlines()[2].split()[-1]
    with Session(engine) as s:
        assert check_password(s, username=first_maker, password=DEMO_PASSWORD).role == "finance"
    pdfs = list((tmp_path / "reports").glob("*.pdf"))
    # The county's disclosure and one village's, the county's and the province's audit.
    assert len(pdfs) == 4 and all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
    assert len(list((tmp_path / "reports").glob("*.xlsx"))) == 2
    with engine.connect() as conn:
        twice = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT 1 FROM payout WHERE state IN ('sent', 'paid') "
                "GROUP BY person_key, fund_code, period HAVING count(*) > 1) t"
            )
        ).scalar()
        in_transit = conn.execute(
            text("SELECT COALESCE(sum(balance_fen), 0) FROM account WHERE kind = 'in_transit'")
        ).scalar()
        sent = conn.execute(
            text("SELECT COALESCE(sum(amount_fen), 0) FROM payout WHERE state = 'sent'")
        ).scalar()
    assert twice == 0
    assert in_transit == sent
    evidence = summary["evidence"]
    assert evidence["proofs_verified"] == 1 and (tmp_path / "checkpoint.json").exists()
    assert [p.stem for p in (tmp_path / "proofs").glob("*.json")] == list(evidence["proofs"])
    bundle = tmp_path / evidence["bundle"]["file"]
    assert bundle.name == f"audit-bundle-{summary['report']['county']}.zip" and bundle.exists()
    _trace_from_the_province(engine, summary["report"]["fund"], summary["period"])


def test_a_continued_month_is_booked_in_that_month(engine: Engine, tmp_path: Path) -> None:
    """Run again on the same books, the demo pays the next month and dates that month's money in
    it (documents in its fiscal year, releases, settlements), after closing the month before: the
    continued month's audit shows its own funds, spending and execution rate."""

    def run(n: int) -> dict[str, object]:
        return run_demo(stages=DEMO_STAGES, out=tmp_path / str(n), size=3, counties=2,
                        until=None, create_app=create_app, engine=engine)  # fmt: skip

    def latest(s: Session) -> tuple[int, int]:
        sql = "SELECT (SELECT max(id) FROM journal_entry), (SELECT max(id) FROM fund_document)"
        return tuple(s.execute(text(sql)).one())  # type: ignore[return-value]

    first = run(1)["period"]
    with Session(engine) as s:
        entry_id, document_id = latest(s)
    again = run(2)
    period = str(again["period"])
    assert period == shift_period(str(first), 1) and again["continued_from"] == first
    assert again["verify"]["ok"], again["verify"]  # type: ignore[index]
    with Session(engine) as s:
        # The audit PDF's summary figures of the continued month (the year to its report date).
        audit, _ = audit_data(s, report_scope(s, PROVINCE, period))
        available = sum(r.available_fen for r in audit.fund_flow)
        spent = sum(r.spent_fen for r in audit.fund_flow)
        assert available > 0 and spent > 0 and audit.subtree is not None
        assert audit.subtree.paid_fen > 0 and audit.subtree.execution_rate is not None
        assert audit.performance_year == int(period[:4])
        booked = s.execute(
            text("SELECT DISTINCT period FROM journal_entry WHERE id > :e"), {"e": entry_id}
        ).scalars()
        assert set(booked) == {period}
        documents = s.execute(
            text(
                "SELECT DISTINCT fiscal_year, to_char(effective_date, 'YYYYMM') FROM fund_document "
                "WHERE id > :d"
            ),
            {"d": document_id},
        ).all()
        assert documents == [(int(period[:4]), period)]
        # The month's own money, over that month alone: funds arrived, people were paid.
        start = period_end(period).replace(day=1)
        month = flow_figures(s, pattern="44%", start=start, end=period_end(period)).values()
        assert sum(f.own_appropriation for f in month) > 0
        assert sum(f.paid_to_people for f in month) > 0
    # Nothing of the month was dated in the month before, which the demo closed.
    assert again["stages"]["closed"]["closed_period"] == first  # type: ignore[index]


def _trace_from_the_province(engine: Engine, fund: str, period: str) -> None:
    """An auditor follows the demo's allocation down to the people it paid, through the API."""
    from decimal import Decimal

    from fastapi.testclient import TestClient

    from tests.factories import make_user

    def fen(amount: str) -> int:
        return int(Decimal(amount) * 100)

    with Session(engine) as s:
        auditor = make_user(s, "auditor", "440000")
    client = TestClient(create_app(engine))
    params = {"fund": fund, "period": period}
    head = client.get("/jurisdictions/440000/trace/summary", headers=auditor.headers, params=params)
    assert head.status_code == 200, head.text
    s = head.json()
    assert s["allocations"] and s["transfers"] and s["batches"]
    from_province = sum(fen(t["amount"]) for t in s["transfers"] if t["jurisdiction"] == "440000")
    assert fen(s["allocated"]) >= from_province >= fen(s["batched"]) >= fen(s["paid"]) > 0
    items, cursor = [], None
    while True:
        extra = {"cursor": cursor} if cursor else {}
        page = client.get("/jurisdictions/440000/trace", headers=auditor.headers,
                          params={**params, "limit": 7, **extra}).json()  # fmt: skip
        items += page["items"]
        if not page["has_more"]:
            break
        cursor = page["next_cursor"]
    for batch in s["batches"]:
        assert sum(fen(i["amount"]) for i in items if i["batch_id"] == batch["id"]) == fen(
            batch["total"]
        )
    paid = [i for i in items if i["state"] == "paid"]
    assert sum(fen(i["amount"]) for i in paid) == fen(s["paid"])
    assert all(i["bank_file_id"] and i["roster_version_id"] for i in paid)
