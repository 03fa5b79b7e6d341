"""The audit figures equal the ledger's; the disclosure PDF is built from the books, masked,
deterministic and fully embedded."""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session

from ledger.journal import service as journal
from ledger.journal.verify import verify
from reports import data, service
from reports.pdf.audit import AGEING_BUCKETS
from reports.scope import Scope
from tests.reports.conftest import run_tool
from tests.reports.test_disclosure import assert_all_fonts_embedded, squeeze
from tests.reports.worked_month import URBAN, people, worked_month

PdfFile = Callable[..., Path]
JUNE_LIWAN = Scope("440103", "202406")
JUNE_GD = Scope("440000", "202406")


def test_fund_flow_of_the_worked_month(session: Session) -> None:
    worked_month(session)
    ((_, liwan),) = data.fund_flow(session, JUNE_LIWAN, rollup=False)
    assert (liwan.received_from_above, liwan.paid_to_people, liwan.returned, liwan.balance) == (
        200_000_00,
        175_200_00,
        4_800_00,
        24_800_00,
    )
    assert liwan.execution_rate == Decimal("87.60")
    ((_, province),) = data.fund_flow(session, JUNE_GD, rollup=False)
    assert (province.own_appropriation, province.sent_below, province.balance) == (
        1_000_000_00,
        600_000_00,
        400_000_00,
    )
    assert province.execution_rate == Decimal("60.00")
    ((_, rolled),) = data.fund_flow(session, JUNE_GD, rollup=True)
    # Transfers inside Guangdong cancel: 1,000,000 in, 175,200 paid to people.
    assert (rolled.own_appropriation, rolled.received_from_above, rolled.sent_below) == (
        1_000_000_00,
        0,
        0,
    )
    assert (rolled.paid_to_people, rolled.balance) == (175_200_00, 824_800_00)


def test_audit_figures_equal_the_ledger(session: Session) -> None:
    worked_month(session)
    report, verified = data.audit_data(session, JUNE_GD)
    assert verified["ok"]
    ledger_balances = {
        (b["fund_code"], b["kind"]): b["balance_fen"]
        for b in journal.balances(session, jurisdiction="440103")
    }
    (own,) = report.fund_flow
    assert own.fund_name == "城市最低生活保障"
    assert own.balance_fen == journal.special_cash(session, "440000", URBAN)
    ((_, rolled),) = data.fund_flow(session, JUNE_GD, rollup=True)
    assert rolled.paid_to_people == ledger_balances[(URBAN, "benefit_expense")]
    cash = sum(journal.special_cash(session, j, URBAN) for j in ("440000", "440100", "440103"))
    assert rolled.balance == cash
    tb = journal.trial_balance(session, jurisdiction="440000", rollup=True)
    printed = {
        line.account: line
        for t in report.trial_balances
        for line in t.lines
        if "汇总" in t.fund_name
    }
    assert printed["救助支出"].debit_fen == next(
        a["debit_fen"] for a in tb["funds"][0]["accounts"] if a["kind"] == "benefit_expense"
    )
    outcomes = {o.outcome: (o.count, o.amount_fen) for o in report.outcomes}
    assert outcomes == {
        "已支付": (146, 175_200_00),
        "失败（退票）待重发": (3, 3_600_00),
        "支付后退回待重发": (1, 1_200_00),
    }
    reasons = {r.reason: r.count for r in report.failure_reasons}
    assert reasons == {"账户已销户": 3, "收款人已死亡": 1}
    ageing = {b.bucket: (b.count, b.amount_fen) for b in report.failed_ageing}
    assert ageing[AGEING_BUCKETS[0]] == (4, 4_800_00)
    assert report.integrity.entry_count == verified["entry_count"]
    assert report.integrity.chain_head_hex == verified["chain_head"]


def test_audit_pdf_prints_the_ledger_totals(session: Session, pdf_file: PdfFile) -> None:
    worked_month(session)
    built = service.build_audit(session, jurisdiction="440103", period="202406", generated_by="t")
    pdf = pdf_file(built.file.read(), "audit.pdf")
    text = squeeze(run_tool("pdftotext", "-layout", str(pdf), "-"))
    expense = journal.balances(session, jurisdiction="440103", fund=URBAN)
    by_kind = {b["kind"]: b["balance_fen"] for b in expense}
    assert by_kind["benefit_expense"] == 175_200_00
    for figure in ("175,200.00", "24,800.00", "200,000.00", "87.60%"):
        assert figure in text, figure
    head = verify(session).chain_head
    assert head[:32] in text and head[32:] in text  # printed in two lines beside the QR code
    assert_all_fonts_embedded(run_tool("pdffonts", str(pdf)))


def test_disclosure_pdf_is_masked_and_has_no_identifiers(
    session: Session, pdf_file: PdfFile
) -> None:
    worked_month(session)
    built = service.build_disclosure(
        session, jurisdiction="440103", fund=URBAN, period="202406", generated_by="t"
    )
    # Sent or paid only: the 3 failed lines and the 1 returned after payment are not listed.
    assert built.figures["households"] == 146
    pdf = pdf_file(built.file.read(), "disclosure.pdf")
    raw = run_tool("pdftotext", "-layout", str(pdf), "-")
    text = squeeze(raw)
    assert not re.search(r"\d{17}[\dXx]", text), "an 18-digit ID number was printed"
    for line in people(150):
        assert line.account_no not in text
        assert line.id_number not in text
        if len(line.name) > 1:
            assert line.name not in text, line.name
    assert "张*" in text or "张**" in text
    assert "欧阳**" in text
    assert "175,200.00" in text  # 146 × 1,200
    assert_all_fonts_embedded(run_tool("pdffonts", str(pdf)))


def test_two_builds_from_the_same_books_are_byte_identical(session: Session) -> None:
    worked_month(session)
    first = service.build_disclosure(
        session, jurisdiction="440103", fund=URBAN, period="202406", generated_by="a"
    )
    second = service.build_disclosure(
        session, jurisdiction="440103", fund=URBAN, period="202406", generated_by="b"
    )
    assert first.file.read() == second.file.read()
    assert first.sha256 == second.sha256 and first.record_id != second.record_id
    audit1 = service.build_audit(session, jurisdiction="440000", period="202406", generated_by="a")
    audit2 = service.build_audit(session, jurisdiction="440000", period="202406", generated_by="a")
    assert audit1.file.read() == audit2.file.read()
    records = service.list_records(session, pattern="44%", sha256=first.sha256)
    assert [r["generated_by"] for r in records] == ["b", "a"]
    assert records[0]["size_bytes"] == first.size_bytes
