"""P4 in its own process: bench/pdf_bench.py's renderer and bare canvas, as one JSON line.

``python -m bench.pdf_case ROWS``; the harness uses it while pdf_bench exposes no ``cases()``.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from bench import pdf_bench
from bench.common import peak_rss_mb


def main(rows: int) -> None:
    font = pdf_bench.register_cjk_font()
    with tempfile.TemporaryDirectory() as tmp:
        base_path, report_path = Path(tmp, "canvas.pdf"), Path(tmp, "disclosure.pdf")
        pdf_bench.renderer(pdf_bench.sample_rows(1_000), report_path, font)  # warm caches
        start = time.perf_counter()
        pdf_bench.baseline(pdf_bench.sample_rows(rows), base_path, font)
        canvas_s = time.perf_counter() - start
        start = time.perf_counter()
        pdf_bench.renderer(pdf_bench.sample_rows(rows), report_path, font)
        report_s = time.perf_counter() - start
    print(json.dumps({"n": rows, "ours": report_s, "canvas": canvas_s, "peak_mb": peak_rss_mb()}))


if __name__ == "__main__":
    main(int(sys.argv[1]))
