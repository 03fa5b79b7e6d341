"""Findings and payouts as CSV and XLSX, recorded like every report file; the disclosure's
options over the API; the checkpoint on every PDF; a village's own page count."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from sqlalchemy.orm import Session

from ledger.evidence.service import make_checkpoint, printed_checkpoint
from ledger.pii import mask_name
from reports import service
from tests.factories import make_user
from tests.reports.books import Line, allocate, release
from tests.reports.conftest import run_tool
from tests.reports.test_disclosure import squeeze
from tests.reports.worked_month import URBAN, worked_month

PdfFile = Callable[..., Path]
HOSTILE = '=HYPERLINK("http://x","点")'


def _csv(body: bytes) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))


def _xlsx(body: bytes) -> list[list[Any]]:
    sheet = load_workbook(io.BytesIO(body)).active
    assert sheet is not None
    for row in sheet.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.coordinate  # no formula anywhere
    return [[c.value for c in row] for row in sheet.iter_rows()]


def test_payouts_and_findings_export_as_csv_and_xlsx(session: Session, client: Any) -> None:
    worked_month(session)
    release(
        session, "440103", URBAN, "202406",
        [Line(HOSTILE, 300_00, id_number="440103199001019999", account_no="6222029999888877")],
        date(2024, 6, 19),
    )  # fmt: skip
    auditor = make_user(session, "auditor", "440000")
    params = {"period": "202406", "fund": URBAN}

    reply = client.get("/jurisdictions/440103/payouts.csv", params=params, headers=auditor.headers)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/csv")
    rows = _csv(reply.content)
    assert len(rows) == 1 + 151
    assert "'" + mask_name(HOSTILE) in [r[7] for r in rows]  # masked and neutralised
    body = reply.content.decode("utf-8-sig")
    for secret in ("440103199001019999", "6222029999888877", "44010319800101", "62220202"):
        assert secret not in body
    assert "陈伟" not in body and "陈*" in body  # a two-character name of the worked month
    assert {r[10] for r in rows[1:]} == {
        "已支付", "失败（退票）待重发", "支付后退回待重发", "在途（已发送银行）",
    }  # fmt: skip
    assert sum(int(r[9].replace(".", "")) for r in rows[1:]) == 150 * 1_200_00 + 300_00

    xlsx = client.get("/jurisdictions/440103/payouts.xlsx", params=params, headers=auditor.headers)
    assert xlsx.status_code == 200, xlsx.text
    sheet = _xlsx(xlsx.content)
    assert [str(c) for c in sheet[0]] == rows[0]
    assert mask_name(HOSTILE) in [r[7] for r in sheet]  # the text as it is, stored as text
    assert sum(r[9] for r in sheet[1:]) * 100 == 150 * 1_200_00 + 300_00

    allocate(session, "440000", URBAN, 1_00, date(2024, 9, 30))  # September: things are late
    params = {"period": "202409"}
    found = client.get("/jurisdictions/440000/findings", params=params, headers=auditor.headers)
    count = found.json()["count"]
    as_csv = client.get(
        "/jurisdictions/440000/findings.csv", params=params, headers=auditor.headers
    )
    as_xlsx = client.get(
        "/jurisdictions/440000/findings.xlsx", params=params, headers=auditor.headers
    )
    lines, sheet = _csv(as_csv.content), _xlsx(as_xlsx.content)
    assert len(lines) == len(sheet) == count + 1 and count > 0
    assert all("{" not in r[7] for r in lines[1:])  # the evidence in plain Chinese, no JSON
    assert any("金额" in r[7] and "元" in r[7] for r in lines[1:])
    assert [r[8] for r in lines[1:]] == [r[8] for r in sheet[1:]]  # the rule in Chinese

    records = service.list_records(session, pattern="44%")
    assert [r["kind"] for r in records] == [
        "findings_xlsx", "findings_csv", "payouts_xlsx", "payouts_csv",
    ]  # fmt: skip
    assert records[0]["sha256"] == as_xlsx.headers["x-report-sha256"]
    civil = make_user(session, "civil_affairs", "440104")
    denied = client.get("/jurisdictions/440103/payouts.csv", params=params, headers=civil.headers)
    assert denied.status_code == 403


def test_disclosure_options_and_the_checkpoint_over_the_api(
    session: Session, client: Any, pdf_file: PdfFile
) -> None:
    worked_month(session)
    civil = make_user(session, "civil_affairs", "440103")
    base = {"jurisdiction": "440103", "fund": URBAN, "period": "202406"}
    plain = client.get("/reports/disclosure", params=base, headers=civil.headers)
    assert plain.status_code == 200, plain.text
    assert "检查点" not in _pdf_text(pdf_file, plain.content)  # none made yet

    made = make_checkpoint(session)
    session.commit()
    params = {
        **base, "village": "第1社区", "township": "多宝街道", "large_print": "true",
        "notice_from": "2024-06-20", "notice_days": "10",
    }  # fmt: skip
    one = client.get("/reports/disclosure", params=params, headers=civil.headers)
    assert one.status_code == 200, one.text
    printed = _pdf_text(pdf_file, one.content)
    assert "多宝街道第1社区" in printed and "第2社区" not in printed
    assert "公示期：2024年6月20日至2024年6月29日" in printed
    assert f"树大小{made.tree_size:,}" in printed and made.root[:16] in printed
    again = client.get("/reports/disclosure", params=params, headers=civil.headers)
    assert again.content == one.content  # same books, same checkpoint: the same bytes

    ambiguous = client.get(
        "/reports/disclosure", params={**base, "village": "第1社区"}, headers=civil.headers
    )
    assert ambiguous.status_code == 422 and "township" in ambiguous.text
    missing = client.get(
        "/reports/disclosure", params={**base, "village": "无此村"}, headers=civil.headers
    )
    assert missing.status_code == 404
    auditor = make_user(session, "auditor", "440000")
    audit = client.get(
        "/reports/audit", params={"jurisdiction": "440103", "period": "202406"},
        headers=auditor.headers,
    )  # fmt: skip
    assert made.root[:16] in _pdf_text(pdf_file, audit.content)


def test_the_same_books_and_checkpoint_give_byte_identical_pdfs(session: Session) -> None:
    worked_month(session)
    made = make_checkpoint(session)
    session.commit()
    point = printed_checkpoint(session)
    assert point == (made.tree_size, made.root)

    def both() -> tuple[bytes, bytes]:
        d = service.build_disclosure(
            session, jurisdiction="440103", fund=URBAN, period="202406", generated_by="a",
            checkpoint=point,
        )  # fmt: skip
        a = service.build_audit(
            session, jurisdiction="440000", period="202406", generated_by="b", checkpoint=point
        )
        return d.file.read(), a.file.read()

    assert both() == both()
    other = service.build_audit(
        session, jurisdiction="440000", period="202406", generated_by="b", checkpoint=(1, "0" * 64)
    )
    assert other.file.read() != both()[1]


def test_each_village_counts_its_own_pages(session: Session, pdf_file: PdfFile) -> None:
    worked_month(session)
    built = service.build_disclosure(
        session, jurisdiction="440103", fund=URBAN, period="202406", generated_by="t",
        large_print=True,
    )  # fmt: skip
    path = pdf_file(built.file.read(), "d.pdf")
    pages = run_tool("pdftotext", "-layout", str(path), "-").split("\f")[:-1]
    total = len(pages)
    groups: list[list[tuple[int, int]]] = []
    for i, page in enumerate(pages, start=1):
        text_ = squeeze(page)
        assert f"全文第{i}页/共{total}页" in text_ or f"第{i}页/共{total}页" in text_
        within = re.search(r"(?<!全文)第(\d+)页/共(\d+)页", text_)
        assert within
        n, of = int(within[1]), int(within[2])
        if "全文" in text_:
            if n == 1:
                groups.append([])
            groups[-1].append((n, of))
    assert len(groups) == 6  # two townships × three villages; the summary counts with the file
    for group in groups:
        assert [n for n, _ in group] == list(range(1, len(group) + 1))
        assert {of for _, of in group} == {len(group)}
    assert any(len(g) > 1 for g in groups)


def _pdf_text(pdf_file: PdfFile, body: bytes) -> str:
    return squeeze(run_tool("pdftotext", "-layout", str(pdf_file(body, "x.pdf")), "-"))
