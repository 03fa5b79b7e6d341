"""Find and register one TrueType CJK font so every PDF embeds the glyphs it uses.

ReportLab embeds only TrueType outlines (``glyf``). A CFF-outline OpenType font raises on
load, and ReportLab's built-in CID fonts are never embedded, which many viewers show as boxes,
so neither is ever used as a fallback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont

FONT_ENV = "LEDGER_FONT_PATH"

KNOWN_FONT_PATHS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
    Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
    # Noto Sans CJK ships as CFF (.otf/.ttc) in most distributions; those are rejected on load.
    Path("/usr/share/fonts/truetype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
)

INSTALL_HINT = (
    "install it with `apt-get install -y fonts-wqy-zenhei` or set LEDGER_FONT_PATH to a "
    ".ttf/.ttc with TrueType outlines (CFF/OTF cannot be embedded by ReportLab)"
)

# A character every disclosure prints; a font without it is not a CJK font.
_PROBE_CHAR = "张"

_registered: dict[Path, str] = {}


class FontMissing(RuntimeError):
    """No TrueType CJK font could be found or loaded."""


def _fc_match_path() -> Path | None:
    if shutil.which("fc-match") is None:
        return None
    try:
        found = subprocess.run(
            ["fc-match", "--format=%{file}", ":lang=zh"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(found) if found else None


def _candidates(path: Path | None) -> list[Path]:
    if path is not None:
        return [Path(path)]
    found: list[Path] = []
    env = os.environ.get(FONT_ENV)
    if env:
        found.append(Path(env))
    found.extend(KNOWN_FONT_PATHS)
    fc = _fc_match_path()
    if fc is not None:
        found.append(fc)
    return found


def _font_name(path: Path) -> str:
    return "LedgerCJK-" + "".join(ch if ch.isalnum() else "-" for ch in path.stem)


def _load(path: Path) -> TTFont | None:
    if path.suffix.lower() not in {".ttf", ".ttc"} or not path.is_file():
        return None
    try:
        font = TTFont(_font_name(path), str(path), subfontIndex=0)
    except (TTFError, OSError, ValueError):
        return None  # CFF outlines, a broken file or an unreadable collection
    # fc-match always answers something; make sure the answer actually has Chinese glyphs.
    if ord(_PROBE_CHAR) not in font.face.charToGlyph:
        return None
    return font


def register_cjk_font(path: Path | None = None) -> str:
    """Register a TrueType CJK font with ReportLab once and return its font name.

    Looks at ``path`` if given, else ``$LEDGER_FONT_PATH``, the known Debian paths and
    ``fc-match :lang=zh``. Raises :class:`FontMissing` when none is usable.
    """
    tried: list[str] = []
    for candidate in _candidates(path):
        resolved = candidate.resolve()
        if resolved in _registered:
            return _registered[resolved]
        tried.append(str(candidate))
        font = _load(resolved)
        if font is None:
            continue
        if font.fontName not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(font)
        _registered[resolved] = font.fontName
        return font.fontName
    raise FontMissing(
        f"no TrueType CJK font found (tried: {', '.join(tried) or 'nothing'}); {INSTALL_HINT}"
    )
