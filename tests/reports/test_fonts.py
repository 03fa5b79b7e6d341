from __future__ import annotations

from pathlib import Path

import pytest
import reportlab

from reports.pdf import fonts
from reports.pdf.fonts import INSTALL_HINT, FontMissing, register_cjk_font


def test_registers_the_installed_font_once(cjk_font: str) -> None:
    assert register_cjk_font() == cjk_font
    assert register_cjk_font() == cjk_font


def test_missing_font_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(fonts.FONT_ENV, str(tmp_path / "absent.ttf"))
    monkeypatch.setattr(fonts, "KNOWN_FONT_PATHS", (tmp_path / "none.ttc",))
    monkeypatch.setattr(fonts, "_fc_match_path", lambda: None)
    with pytest.raises(FontMissing) as err:
        register_cjk_font()
    assert INSTALL_HINT in str(err.value)
    assert (
        "install it with `apt-get install -y fonts-wqy-zenhei` or set LEDGER_FONT_PATH to a "
        ".ttf/.ttc with TrueType outlines (CFF/OTF cannot be embedded by ReportLab)"
    ) in str(err.value)


def test_rejects_a_file_that_is_not_a_truetype_font(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.ttf"
    bogus.write_bytes(b"OTTO" + b"\0" * 64)  # a CFF-flavoured OpenType signature
    with pytest.raises(FontMissing):
        register_cjk_font(bogus)


def test_rejects_a_truetype_font_without_chinese_glyphs() -> None:
    latin = Path(reportlab.__file__).parent / "fonts" / "Vera.ttf"  # shipped with ReportLab
    with pytest.raises(FontMissing):
        register_cjk_font(latin)


def test_otf_suffix_is_never_tried(tmp_path: Path) -> None:
    otf = tmp_path / "NotoSansCJK-Regular.otf"
    otf.write_bytes(b"OTTO")
    with pytest.raises(FontMissing):
        register_cjk_font(otf)
