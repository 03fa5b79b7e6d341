from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ledger.pii import mask_name
from reports.pdf.base import format_fen
from reports.pdf.disclosure import DisclosureInfo, DisclosureRow, render_disclosure
from tests.reports.conftest import make_rows, render_bytes, run_tool

PdfFile = Callable[..., Path]


def render(info: DisclosureInfo, rows: list[DisclosureRow]) -> bytes:
    return render_bytes(lambda out: render_disclosure(info, iter(rows), out))


def squeeze(text: str) -> str:
    """pdftotext drops or adds spaces around CJK text; compare without whitespace."""
    return re.sub(r"\s+", "", text)


def layout_lines(pdf: Path) -> list[str]:
    """Text lines as laid out on the page, whitespace removed."""
    return [squeeze(line) for line in run_tool("pdftotext", "-layout", str(pdf), "-").splitlines()]


def test_names_are_masked_and_raw_names_never_printed(
    disclosure_info: DisclosureInfo, pdf_file: PdfFile
) -> None:
    rows = make_rows(400)
    pdf = pdf_file(render(disclosure_info, rows))
    flat = squeeze(run_tool("pdftotext", str(pdf), "-"))
    for row in rows:
        assert row.name not in flat
        assert mask_name(row.name) in flat
    text = run_tool("pdftotext", "-layout", str(pdf), "-")
    printed = re.findall(r"(?<!\S)\S*\*+\S*(?!\S)", text)
    assert len(printed) == len(rows)
    assert "欧阳**" in printed


def test_totals_footer_hotline_and_note(disclosure_info: DisclosureInfo, pdf_file: PdfFile) -> None:
    rows = make_rows(400)
    pdf = pdf_file(render(disclosure_info, rows))
    flat = squeeze(run_tool("pdftotext", str(pdf), "-"))
    total_fen = sum(r.monthly_amount_fen for r in rows)
    persons = sum(r.household_size for r in rows)
    assert f"合计：{len(rows)}户{persons}人，月救助金额{format_fen(total_fen)}元" in flat
    assert f"总计{len(rows)}户{persons}{format_fen(total_fen)}" in layout_lines(pdf)
    info = run_tool("pdfinfo", str(pdf))
    pages = int(re.search(r"^Pages:\s+(\d+)", info, flags=re.MULTILINE).group(1))  # type: ignore[union-attr]
    assert pages > 1
    for n in (1, pages):
        assert f"第{n}页/共{pages}页" in flat
    assert "020-81234567" in flat
    assert "广州市荔湾区城市低保救助对象公示（2024年6月）" in flat
    assert "不公布身份证号码、家庭住址、银行账号、家庭收入和财产等信息" in flat


def test_each_village_is_a_page_group_with_its_subtotal(
    disclosure_info: DisclosureInfo, pdf_file: PdfFile
) -> None:
    rows = make_rows(120)
    pdf = pdf_file(render(disclosure_info, rows))
    lines = layout_lines(pdf)
    pages = run_tool("pdftotext", "-layout", str(pdf), "-").split("\f")
    groups = sorted({(r.township, r.village) for r in rows})
    for township, village in groups:
        in_village = [r for r in rows if (r.township, r.village) == (township, village)]
        amount = format_fen(sum(r.monthly_amount_fen for r in in_village))
        persons = sum(r.household_size for r in in_village)
        assert f"{village}小计{len(in_village)}户{persons}{amount}" in lines
        assert f"{township}{village}{len(in_village)}户{persons}{amount}" in lines  # summary
        # The village's first page is its own: its heading, and no other village's rows.
        first = next(p for p in pages if squeeze(p).count(f"{township}{village}") and "序号" in p)
        assert f"{village}小计" in first or "（续）" not in first
    assert sum("公示单位（盖章）" in p for p in pages) == len(groups) + 1


def test_no_identifier_like_numbers(disclosure_info: DisclosureInfo, pdf_file: PdfFile) -> None:
    text = run_tool("pdftotext", str(pdf_file(render(disclosure_info, make_rows(300)))), "-")
    assert not re.search(r"\d{16,}", text)
    assert not re.search(r"\d{16,}", text.replace(",", ""))


def test_same_input_gives_identical_bytes(disclosure_info: DisclosureInfo) -> None:
    rows = make_rows(250)
    assert render(disclosure_info, rows) == render(disclosure_info, rows)


def test_identical_bytes_across_processes(disclosure_info: DisclosureInfo) -> None:
    """Hash randomisation or process state must not leak into the file."""
    script = (
        "import sys\n"
        "from tests.reports.conftest import make_rows, render_bytes\n"
        "from tests.reports.test_disclosure import render\n"
        "import datetime\n"
        "from reports.pdf.disclosure import DisclosureInfo\n"
        f"info = {disclosure_info!r}\n"
        "sys.stdout.buffer.write(render(info, make_rows(120)))\n"
    )
    root = Path(__file__).resolve().parents[2]
    child = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        check=True,
        cwd=root,
        env={**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(root)},
        timeout=120,
    ).stdout
    assert child == render(disclosure_info, make_rows(120))


def test_fonts_are_embedded_truetype(disclosure_info: DisclosureInfo, pdf_file: PdfFile) -> None:
    assert_all_fonts_embedded(
        run_tool("pdffonts", str(pdf_file(render(disclosure_info, make_rows(50)))))
    )


def assert_all_fonts_embedded(listing: str) -> None:
    lines = listing.splitlines()[2:]
    assert lines, "no fonts listed"
    for line in lines:
        match = re.search(r"\s(TrueType|Type 1|Type 3|CID \S+(?: \S+)?)\s+\S+\s+(yes|no)\s", line)
        assert match, line
        assert match.group(1) == "TrueType", line
        assert match.group(2) == "yes", line


def test_renders_to_png(disclosure_info: DisclosureInfo, pdf_file: PdfFile, tmp_path: Path) -> None:
    pdf = pdf_file(render(disclosure_info, make_rows(100)))
    run_tool("pdftoppm", "-r", "60", "-png", str(pdf), str(tmp_path / "page"))
    pngs = sorted(tmp_path.glob("page-*.png"))
    assert pngs
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)


def test_rows_are_consumed_as_a_stream(disclosure_info: DisclosureInfo) -> None:
    rows = make_rows(200)
    handed_out = 0

    def stream() -> Iterator[DisclosureRow]:
        nonlocal handed_out
        for row in rows:
            handed_out += 1
            yield row

    data = render_bytes(lambda out: render_disclosure(disclosure_info, stream(), out))
    assert handed_out == len(rows)
    assert data == render(disclosure_info, rows)


def test_empty_period(disclosure_info: DisclosureInfo, pdf_file: PdfFile) -> None:
    flat = squeeze(run_tool("pdftotext", str(pdf_file(render(disclosure_info, []))), "-"))
    assert "本期无救助对象" in flat
    assert "合计：0户0人，月救助金额0.00元" in flat
    assert "第1页/共1页" in flat


def test_long_place_names_are_printed_whole_in_the_village_heading(
    disclosure_info: DisclosureInfo, pdf_file: PdfFile
) -> None:
    village = "某某镇某某村民委员会第十二经济合作社联合社"
    rows = [DisclosureRow("多宝街道", village, "张三", 2, 100_000)]
    flat = squeeze(run_tool("pdftotext", str(pdf_file(render(disclosure_info, rows))), "-"))
    assert f"多宝街道{village}序号" in flat


def test_rows_out_of_group_order_are_refused(disclosure_info: DisclosureInfo) -> None:
    rows = [
        DisclosureRow("多宝街道", "一村", "张三", 1, 100),
        DisclosureRow("逢源街道", "二村", "李四", 1, 100),
        DisclosureRow("多宝街道", "三村", "王五", 1, 100),
    ]
    with pytest.raises(ValueError, match="not grouped"):
        render(disclosure_info, rows)
