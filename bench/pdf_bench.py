"""Benchmark: the disclosure renderer against drawing the same strings on a bare canvas.

    python bench/pdf_bench.py [--rows N] [--no-tracemalloc]

The baseline computes the same cell strings (masked name, formatted amount) and draws them
with ``Canvas.drawString`` at fixed positions, 48 rows a page, with no grouping, totals,
right alignment, header or footer. Rows come from a generator in both runs, so neither holds
the input in memory. Reports wall time, the ratio, the output size, peak traced Python memory
of the renderer (a separate run, because tracing slows everything down) and the process's
peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from ledger.pii import mask_name
from reports.pdf.base import format_fen
from reports.pdf.disclosure import DisclosureInfo, DisclosureRow, render_disclosure
from reports.pdf.fonts import register_cjk_font

SURNAMES = "张王李赵陈刘杨黄周吴徐孙马朱胡郭何林罗高梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕"
GIVEN = "小明华伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛超霞平刚桂兰玉珍建国志荣海燕春梅"

INFO = DisclosureInfo(
    jurisdiction_name="广州市荔湾区",
    jurisdiction_code="440103",
    fund_name="城市低保",
    period="2024年6月",
    issuing_bureau="广州市荔湾区民政局",
    hotline="020-81234567",
    generated_on=date(2024, 6, 28),
)


def sample_rows(n: int) -> Iterator[DisclosureRow]:
    """Deterministic rows, already in township/village order, produced lazily."""
    townships = 12
    villages_per_township = 15
    groups = townships * villages_per_township
    for i in range(n):
        group = i * groups // n
        t, v = divmod(group, villages_per_township)
        k = i * 2654435761 % 2**32
        s = SURNAMES[k % len(SURNAMES)]
        g1 = GIVEN[(k >> 8) % len(GIVEN)]
        g2 = GIVEN[(k >> 16) % len(GIVEN)]
        name = "欧阳" + g1 + g2 if k % 97 == 0 else (s + g1 if k % 3 == 0 else s + g1 + g2)
        yield DisclosureRow(
            township=f"第{t + 1:02d}街道",
            village=f"第{v + 1:02d}社区居民委员会",
            name=name,
            household_size=1 + k % 6,
            monthly_amount_fen=30_000 + (k >> 4) % 400_000 // 50 * 50,
        )


def baseline(rows: Iterator[DisclosureRow], path: Path, font: str) -> None:
    c = Canvas(str(path), invariant=1, pageCompression=1, initialFontName=font)
    xs = (15 * mm, 29 * mm, 67 * mm, 111 * mm, 141 * mm, 161 * mm)
    per_page = 48
    for i, row in enumerate(rows, start=1):
        slot = (i - 1) % per_page
        if slot == 0:
            if i > 1:
                c.showPage()
            c.setFont(font, 9)
        y = 270 * mm - slot * 5.2 * mm
        cells = (
            str(i),
            row.township,
            row.village,
            mask_name(row.name),
            str(row.household_size),
            format_fen(row.monthly_amount_fen),
        )
        for x, text in zip(xs, cells, strict=True):
            c.drawString(x, y, text)
    c.save()


def renderer(rows: Iterator[DisclosureRow], path: Path, font: str) -> None:
    with path.open("wb") as out:
        render_disclosure(INFO, rows, out, font_name=font)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--no-tracemalloc", action="store_true")
    args = parser.parse_args()
    font = register_cjk_font()

    with tempfile.TemporaryDirectory() as tmp:
        base_path = Path(tmp, "baseline.pdf")
        report_path = Path(tmp, "disclosure.pdf")

        renderer(sample_rows(1_000), report_path, font)  # warm caches and imports

        start = time.perf_counter()
        baseline(sample_rows(args.rows), base_path, font)
        base_s = time.perf_counter() - start

        start = time.perf_counter()
        renderer(sample_rows(args.rows), report_path, font)
        report_s = time.perf_counter() - start

        print(f"rows               {args.rows:,}")
        print(f"baseline canvas    {base_s:8.2f} s  {base_path.stat().st_size / 1e6:7.1f} MB")
        print(f"disclosure report  {report_s:8.2f} s  {report_path.stat().st_size / 1e6:7.1f} MB")
        print(f"ratio              {report_s / base_s:8.2f} x")

        if not args.no_tracemalloc:
            tracemalloc.start()
            renderer(sample_rows(args.rows), report_path, font)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"tracemalloc peak   {peak / 2**20:8.1f} MiB (renderer)")
        rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"peak RSS           {rss_kib / 1024:8.1f} MiB (whole process)")


if __name__ == "__main__":
    main()
