from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from reports.pdf.audit import (
    AGEING_BUCKETS,
    Acknowledgement,
    AgeingBucket,
    AuditFinding,
    AuditReportData,
    FailureReasonStat,
    FindingGroup,
    FundFlowRow,
    FundTrialBalance,
    IntegrityStatus,
    OutcomeStat,
    TrialBalanceLine,
    render_audit,
)
from tests.reports.conftest import render_bytes, run_tool
from tests.reports.test_disclosure import assert_all_fonts_embedded, squeeze

PdfFile = Callable[..., Path]
HEAD = "3b1f" * 16


def audit_data(findings: int = 5, unbalanced: bool = False) -> AuditReportData:
    return AuditReportData(
        jurisdiction_code="440103",
        jurisdiction_name="广州市荔湾区",
        period="2024年6月",
        generated_on=date(2024, 7, 5),
        issuing_bureau="广州市荔湾区审计局",
        integrity=IntegrityStatus(HEAD, 1_234, "通过", datetime(2024, 7, 5, 9, 30)),
        fund_flow=[
            FundFlowRow(
                "城市低保",
                0,
                20_000_000,
                20_000_000,
                0,
                17_520_000,
                17_520_000,
                480_000,
                2_480_000,
                Decimal("87.60"),
            ),
            FundFlowRow(
                "临时救助",
                1_000_000,
                0,
                1_000_000,
                0,
                900_000,
                900_000,
                0,
                100_000,
                Decimal("90.00"),
            ),
        ],
        trial_balances=[
            FundTrialBalance(
                "城市低保",
                [
                    TrialBalanceLine("专户存款", 2_480_000, 0),
                    TrialBalanceLine("上级补助收入", 0, 20_000_000),
                    TrialBalanceLine("救助支出", 17_520_000 + (1 if unbalanced else 0), 0),
                ],
            )
        ],
        outcomes=[OutcomeStat("已支付", 147, 17_640_000), OutcomeStat("失败", 3, 360_000)],
        failure_reasons=[FailureReasonStat("账户已销户", 3, 360_000)],
        suspense_ageing=[AgeingBucket(b, i, i * 1_000) for i, b in enumerate(AGEING_BUCKETS)],
        failed_ageing=[AgeingBucket(b, 1, 120_000) for b in AGEING_BUCKETS],
        finding_groups=[
            FindingGroup(
                "同一人同一资金同一期重复发放",
                "阻断",
                findings - 1,
                1,
                0,
                [
                    AuditFinding(
                        "同一人同一资金同一期重复发放",
                        "阻断",
                        "已确认" if i == 0 else "未处理",
                        "荔湾区 批次 7",
                        f"第{i}号：同一人员同一期间重复发放。",
                        f"发放明细：{i}",
                    )
                    for i in range(findings)
                ],
            )
        ]
        if findings
        else [],
        acknowledgements=[Acknowledgement("重复发放", "荔湾区 批次 7", "李审核", None, "已核实")],
        execution_rate_note="执行率 = 发放到人 ÷ 可用资金。",
    )


def render(data: AuditReportData) -> bytes:
    return render_bytes(lambda out: render_audit(data, out))


def test_sections_and_figures(pdf_file: PdfFile) -> None:
    flat = squeeze(run_tool("pdftotext", str(pdf_file(render(audit_data()))), "-"))
    for heading in (
        "资金流向",
        "试算平衡表",
        "发放与对账统计",
        "账龄分析",
        "审计发现",
        "账簿完整性",
    ):
        assert heading in flat
    assert "200,000.00" in flat and "175,200.00" in flat
    assert "87.60%" in flat and "90.00%" in flat
    assert "184,200.00" in flat  # paid to people over both funds
    assert "借贷平衡" in flat
    assert "执行率=发放到人÷可用资金。" in flat
    assert "审计摘要" in flat and "87.71%" in flat  # (17,520,000 + 900,000) ÷ 21,000,000 fen
    assert "第4号" in flat and "发放明细：4" in flat and "李审核" in flat
    assert HEAD in flat
    assert "1,234" in flat
    assert re.search(r"第1页/共\d+页", flat)


def test_unbalanced_trial_balance_is_called_out(pdf_file: PdfFile) -> None:
    flat = squeeze(run_tool("pdftotext", str(pdf_file(render(audit_data(unbalanced=True)))), "-"))
    assert "借贷不平衡，差额0.01元" in flat


def test_many_findings_span_pages_with_repeated_header(pdf_file: PdfFile) -> None:
    pdf = pdf_file(render(audit_data(findings=600)))
    text = run_tool("pdftotext", str(pdf), "-")
    assert "第599号" in text
    pages = text.split("\f")
    with_findings = [p for p in pages if "号：同一人员" in p]
    assert len(with_findings) > 3
    assert all("地区与批次" in p for p in with_findings)


def test_no_findings(pdf_file: PdfFile) -> None:
    flat = squeeze(run_tool("pdftotext", str(pdf_file(render(audit_data(findings=0)))), "-"))
    assert "本期未发现问题" in flat


def test_same_input_gives_identical_bytes() -> None:
    assert render(audit_data(findings=40)) == render(audit_data(findings=40))


def test_metadata(pdf_file: PdfFile) -> None:
    info = run_tool("pdfinfo", str(pdf_file(render(audit_data()))))
    assert "Creator:         gd-assistance-ledger" in info
    assert "Author:          广州市荔湾区审计局" in info
    assert "Title:           广州市荔湾区 2024年6月 社会救助资金审计报告" in info


def test_fonts_are_embedded_truetype(pdf_file: PdfFile) -> None:
    assert_all_fonts_embedded(run_tool("pdffonts", str(pdf_file(render(audit_data())))))


def test_renders_to_png(pdf_file: PdfFile, tmp_path: Path) -> None:
    pdf = pdf_file(render(audit_data()))
    run_tool("pdftoppm", "-r", "60", "-png", str(pdf), str(tmp_path / "page"))
    pngs = sorted(tmp_path.glob("page-*.png"))
    assert pngs
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
