"""One set of figures: the API and every PDF print the same numbers for the worked month; a
report reads one snapshot; findings are counted once; outcomes never add superseded lines;
every timeliness rule is judged as of the report's date."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.checks.model import Finding
from reports import data, findings, service
from reports.findings import Thresholds
from reports.scope import Scope, report_scope
from tests.factories import make_user
from tests.reports.books import Line, allocate, release, review_register, settle, transfer
from tests.reports.conftest import run_tool
from tests.reports.test_disclosure import squeeze
from tests.reports.worked_month import URBAN, worked_month

PdfFile = Callable[..., Path]
T = Thresholds(
    idle_months=3,
    idle_min_fen=100,
    transfer_days=30,
    reissue_days=30,
    review_months=6,
    evidence_limit=50,
)


def _text(pdf_file: PdfFile, built: service.BuiltReport, name: str) -> str:
    path = pdf_file(built.file.read(), name)
    if os.environ.get("REPORTS_KEEP_PDF"):  # to look at the pages: pdftoppm -png -r 60
        shutil.copy(path, Path(os.environ["REPORTS_KEEP_PDF"]) / name)
    return squeeze(run_tool("pdftotext", "-layout", str(path), "-"))


def _node(tree: dict[str, Any], code: str) -> dict[str, Any]:
    if tree["jurisdiction"] == code:
        return tree
    for child in tree["children"]:
        if code.startswith(child["jurisdiction"][:4]):
            found = _node(child, code)
            if found:
                return found
    return {}


def test_the_worked_month_gives_the_same_figures_in_the_api_and_every_pdf(
    session: Session, client: Any, pdf_file: PdfFile
) -> None:
    worked_month(session)
    auditor = make_user(session, "auditor", "440000")
    flow = client.get(
        "/jurisdictions/440000/fund-flow",
        params={"fund": URBAN, "fiscal_year": 2024},
        headers=auditor.headers,
    ).json()["root"]
    liwan, gz = _node(flow, "440103"), _node(flow, "440100")
    assert liwan["own"]["execution_rate"] == "87.60"  # 175,200 ÷ 200,000
    assert flow["own"]["execution_rate"] == "60.00"  # 600,000 sent below ÷ 1,000,000
    assert gz["rolled_up"]["execution_rate"] == "29.20"  # 175,200 paid ÷ 600,000
    assert flow["rolled_up"]["paid_to_people"] == "175200.00"

    county = _text(
        pdf_file,
        service.build_audit(session, jurisdiction="440103", period="202406", generated_by="t"),
        "audit-440103.pdf",
    )
    for figure in ("87.60%", "175,200.00", "200,000.00", "24,800.00"):
        assert figure in county, figure
    assert f"{liwan['own']['execution_rate']}%" in county
    province = _text(
        pdf_file,
        service.build_audit(session, jurisdiction="440000", period="202406", generated_by="t"),
        "audit-440000.pdf",
    )
    # The summary's line for Guangzhou is its subtree rolled up, as the API's rolled_up.
    assert f"{gz['rolled_up']['execution_rate']}%" in province
    assert f"{flow['own']['execution_rate']}%" in province
    disclosure = service.build_disclosure(
        session, jurisdiction="440103", fund=URBAN, period="202406", generated_by="t"
    )
    assert disclosure.figures["amount_fen"] == 175_200_00
    text_ = _text(pdf_file, disclosure, "disclosure-440103.pdf")
    assert "175,200.00" in text_ and "荔湾区民政局" in text_ and "440103民政局" not in text_
    # The report's date is the books' last day (2024-06-19), the notice runs seven days.
    assert "公示期：2024年6月19日至2024年6月25日" in text_
    reference = session.execute(
        text("SELECT reference FROM payout WHERE state = 'paid' ORDER BY id LIMIT 1")
    ).scalar_one()
    assert reference in text_


def test_a_settlement_committed_while_a_report_is_built_does_not_change_it(
    session: Session, monkeypatch: pytest.MonkeyPatch, pdf_file: PdfFile
) -> None:
    worked_month(session)
    (late,) = release(session, "440103", URBAN, "202406", [Line("孙七", 500_00)], date(2024, 6, 20))
    head_before = session.execute(text("SELECT hash FROM chain_head")).scalar_one()
    original = data.outcome_stats

    def settle_meanwhile(snap: Session, scope: Scope) -> Any:
        with Session(session.get_bind()) as other:
            settle(other, paid=[late], on=date(2024, 6, 21))  # commits
        return original(snap, scope)

    monkeypatch.setattr(data, "outcome_stats", settle_meanwhile)
    built = service.build_audit(session, jurisdiction="440103", period="202406", generated_by="t")
    monkeypatch.undo()
    assert session.execute(
        text("SELECT state FROM payout WHERE id = :i"), {"i": late}
    ).scalar() == ("paid")
    record = session.execute(
        text("SELECT chain_head FROM report_record WHERE id = :i"), {"i": built.record_id}
    ).scalar_one()
    assert record == head_before == built.figures["chain_head"]
    printed = _text(pdf_file, built, "audit.pdf")
    assert "在途（已发送银行）1500.00" in printed  # the line as it was at the first read
    assert "175,200.00" in printed and "2024-06-20" in printed  # paid and the date unchanged
    after = service.build_audit(session, jurisdiction="440103", period="202406", generated_by="t")
    assert "175,700.00" in _text(pdf_file, after, "after.pdf")


def _finding(batch: int | None, rule: str, run: str, evidence: str, ack: str | None = None) -> str:
    by = f"'{ack}'" if ack else "NULL"
    at = "now()" if ack else "NULL"
    why = "'核实无误'" if ack else "NULL"
    return (
        "INSERT INTO finding (rule, severity, jurisdiction_code, fund_code, period, batch_id, "
        "message, evidence, run_id, acknowledged_by, acknowledged_at, ack_reason) VALUES "
        f"('{rule}', 'warning', '440103', '{URBAN}', '202406', {batch or 'NULL'}, '说明', "
        f"'{evidence}', '{run}', {by}, {at}, {why})"
    )


def test_findings_are_counted_once_with_their_status(session: Session, client: Any) -> None:
    allocate(session, "440000", URBAN, 1_000_00, date(2024, 6, 1))
    transfer(session, "440000", "440100", URBAN, 1_000_00, date(2024, 6, 1))
    transfer(session, "440100", "440103", URBAN, 1_000_00, date(2024, 6, 1))
    release(session, "440103", URBAN, "202406", [Line("张三", 1_000_00)], date(2024, 6, 2))
    live = session.execute(text("SELECT max(id) FROM payment_batch")).scalar_one()
    cancelled = session.execute(
        text(
            "INSERT INTO payment_batch (county_code, fund_code, period, bank_code, created_by, "
            "status) VALUES ('440103', :f, '202406', 'ICBCGD', 'maker', 'cancelled') RETURNING id"
        ),
        {"f": URBAN},
    ).scalar_one()
    for sql in (
        _finding(live, "shared_account", "chk-1", '{"payout_ids": [1, 2]}'),
        _finding(live, "account_holder_mismatch", "chk-1", '{"payout_id": 7}'),
        _finding(live, "shared_account", "chk-2", '{"payout_ids": [1, 2]}', ack="checker"),
        _finding(cancelled, "shared_account", "chk-3", '{"payout_ids": [1, 2]}'),
        _finding(cancelled, "on_public_payroll", "chk-3", '{"payout_id": 1}'),
    ):
        session.execute(text(sql))
    session.commit()

    found = findings.all_findings(session, Scope("440103", "202406"))
    distinct = {(f.batch_id, f.rule, str(sorted(f.evidence.items()))) for f in found}
    assert len(found) == len(distinct) == 2
    assert {(f.rule, f.status) for f in found} == {
        ("shared_account", "acknowledged"),
        ("account_holder_mismatch", "resolved"),
    }
    auditor = make_user(session, "auditor", "440000")
    listed = client.get(
        "/jurisdictions/440103/findings", params={"period": "202406"}, headers=auditor.headers
    ).json()
    assert listed["count"] == len(listed["findings"]) == 2
    assert {(g["label"], g["count"]) for g in listed["by_rule"]} == {
        ("一个银行账户为多户收款", 1),
        ("账户户名与收款人不符", 1),
    }
    report, _ = data.audit_data(session, report_scope(session, "440103", "202406"))
    assert report.finding_count == 2
    assert [(a.by, a.reason) for a in report.acknowledgements] == [("checker", "核实无误")]
    evidence = [f.evidence for g in report.finding_groups for f in g.findings]
    assert "发放明细：1、2" in evidence and "{" not in "".join(evidence)


def test_outcome_totals_never_add_superseded_or_cancelled_lines(
    session: Session, pdf_file: PdfFile
) -> None:
    allocate(session, "440000", URBAN, 10_000_00, date(2024, 5, 1))
    transfer(session, "440000", "440100", URBAN, 10_000_00, date(2024, 5, 1))
    transfer(session, "440100", "440103", URBAN, 10_000_00, date(2024, 5, 1))
    a, b = release(
        session, "440103", URBAN, "202405",
        [Line("甲一", 100_00, id_number="A1"), Line("乙二", 200_00, id_number="B2")],
        date(2024, 5, 2),
    )  # fmt: skip
    settle(session, paid=[a], failed=[b], on=date(2024, 5, 3))
    (again,) = release(
        session, "440103", URBAN, "202405",
        [Line("乙二", 200_00, id_number="B2", reissue_of=b)], date(2024, 5, 10),
    )  # fmt: skip
    settle(session, paid=[again], on=date(2024, 5, 11))
    outcomes = data.outcome_stats(session, Scope("440103", "202405"))
    counted = [(o.outcome, o.count, o.amount_fen) for o in outcomes if o.counted]
    assert counted == [("已支付", 2, 300_00)]
    assert [o.count for o in outcomes if not o.counted] == [1]
    built = service.build_audit(session, jurisdiction="440103", period="202405", generated_by="t")
    printed = _text(pdf_file, built, "audit.pdf")
    assert "合计（每人本期最后一次发放）2300.00" in printed
    assert "不计入合计：失败后已另行重发" in printed


def _scope(day: date, period: str = "202406") -> Scope:
    return Scope("440000", period, day)


@pytest.mark.parametrize(
    ("day", "late"),
    [(date(2024, 5, 30), False), (date(2024, 5, 31), False), (date(2024, 6, 1), True)],
)
def test_transfer_not_paid_out_is_judged_on_the_report_date(
    session: Session, day: date, late: bool
) -> None:
    allocate(session, "440000", URBAN, 1_000_00, date(2024, 5, 1))
    transfer(session, "440000", "440100", URBAN, 1_000_00, date(2024, 5, 1))  # due 2024-05-31
    found = findings.transfer_not_paid_out(session, _scope(day, day.strftime("%Y%m")), T)
    assert bool(found) is late


@pytest.mark.parametrize(("day", "late"), [(2, False), (3, False), (4, True)])
def test_failed_not_reissued_is_judged_on_the_report_date(
    session: Session, day: int, late: bool
) -> None:
    allocate(session, "440000", URBAN, 1_000_00, date(2024, 4, 1))
    transfer(session, "440000", "440100", URBAN, 1_000_00, date(2024, 4, 1))
    transfer(session, "440100", "440103", URBAN, 1_000_00, date(2024, 4, 1))
    (p,) = release(session, "440103", URBAN, "202404", [Line("张三", 100_00)], date(2024, 4, 2))
    settle(session, paid=[], failed=[p], on=date(2024, 4, 3))  # due 2024-05-03
    found = findings.failed_not_reissued(session, _scope(date(2024, 5, day), "202405"), T)
    assert bool(found) is late


@pytest.mark.parametrize(("day", "late"), [(4, False), (5, False), (6, True)])
def test_idle_special_cash_is_judged_on_the_report_date(
    session: Session, day: int, late: bool
) -> None:
    allocate(session, "440000", URBAN, 1_000_00, date(2024, 1, 5))  # idle 3 months on 2024-04-05
    found = findings.special_cash_idle(session, _scope(date(2024, 4, day), "202404"), T)
    assert bool(found) is late


@pytest.mark.parametrize(("day", "late"), [(9, False), (10, False), (11, True)])
def test_review_overdue_is_judged_on_the_report_date(
    session: Session, day: int, late: bool
) -> None:
    allocate(session, "440000", URBAN, 1_000_00, date(2024, 7, 1))
    transfer(session, "440000", "440100", URBAN, 1_000_00, date(2024, 7, 1))
    transfer(session, "440100", "440103", URBAN, 1_000_00, date(2024, 7, 1))
    release(
        session, "440103", URBAN, "202407", [Line("甲一", 100_00, household_id="H1")],
        date(2024, 7, 2),
    )  # fmt: skip
    review_register(session, [("440103", "H1", "2024-01-10")])  # due again 2024-07-10
    found = findings.information_check_overdue(session, _scope(date(2024, 7, day), "202407"), T)
    assert bool(found) is late


def test_a_report_is_as_of_the_books_never_a_future_day(session: Session) -> None:
    allocate(session, "440000", URBAN, 1_000_00, date(2024, 6, 12))
    assert report_scope(session, "440000", "202406").as_of == date(2024, 6, 12)
    assert report_scope(session, "440000", "202405").as_of == date(2024, 5, 31)


def test_evidence_reads_in_yuan_and_chinese() -> None:
    text_ = findings.evidence_text({"idle_fen": 123_456_78, "account_id": 4, "payout_ids": [1, 2]})
    assert text_ == "闲置金额 123,456.78 元；账户：4；发放明细：1、2"
    assert isinstance(Finding("r", "info", "440103", "m"), Finding)
