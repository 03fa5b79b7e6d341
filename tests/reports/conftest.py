from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from reports.pdf.disclosure import DisclosureInfo, DisclosureRow
from reports.pdf.fonts import register_cjk_font

SURNAMES = "张王李赵陈刘杨黄周吴徐孙马朱胡郭何林罗高"
GIVEN = "小明华伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛"


def poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:  # the reports cannot be checked without it: fail, never skip
        pytest.fail(f"{tool} not found: apt-get install -y poppler-utils")
    return path


def run_tool(tool: str, *args: str) -> str:
    return subprocess.run(
        [poppler(tool), *args], capture_output=True, text=True, check=True, timeout=120
    ).stdout


@pytest.fixture(scope="session")
def cjk_font() -> str:
    return register_cjk_font()


@pytest.fixture
def pdf_file(tmp_path: Path) -> Callable[[bytes], Path]:
    def write(data: bytes, name: str = "report.pdf") -> Path:
        path = tmp_path / name
        path.write_bytes(data)
        return path

    return write


def render_bytes(render: Callable[[io.BytesIO], None]) -> bytes:
    buf = io.BytesIO()
    render(buf)
    return buf.getvalue()


@pytest.fixture
def disclosure_info() -> DisclosureInfo:
    return DisclosureInfo(
        jurisdiction_name="广州市荔湾区",
        jurisdiction_code="440103",
        fund_name="城市低保",
        period="2024年6月",
        issuing_bureau="广州市荔湾区民政局",
        hotline="020-81234567",
        generated_on=date(2024, 6, 28),
    )


def make_rows(n: int) -> list[DisclosureRow]:
    rows = []
    townships = ("多宝街道", "逢源街道", "西村街道")
    for i in range(n):
        township = townships[i * len(townships) // n]
        village = f"第{i * 7 // n % 3 + 1}社区居民委员会"
        s, g1, g2 = SURNAMES[i % 20], GIVEN[i * 7 % 20], GIVEN[i * 11 % 20]
        if i % 17 == 0:
            name = "欧阳" + g1 + g2
        elif i % 3 == 0:
            name = s + g1
        else:
            name = s + g1 + g2
        rows.append(DisclosureRow(township, village, name, 1 + i % 5, 45_000 + i * 1_250))
    return sorted(rows, key=lambda r: (r.township, r.village, r.name))
