"""Hardened, streaming XML reading for bank files.

No DTDs, no entities, no network, no huge trees. Elements are addressed by local name only, so
files with their own namespace (or none) read the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from lxml import etree

from ledger.filebytes import ByteSource
from reconciliation.parsers.model import FileRejected

DTD_REFUSED = "DTD or entity declarations are not allowed"
_FORBIDDEN = (b"<!DOCTYPE", b"<!ENTITY")


_MARKS = tuple(
    mark.decode("ascii").encode(enc)
    for mark in _FORBIDDEN
    for enc in ("ascii", "utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")
)
_OVERLAP = max(len(m) for m in _MARKS) - 1


def _forbidden_markup(source: ByteSource) -> bool:
    """Whether a DTD or entity declaration is written anywhere, in any of the encodings; read in
    pieces that overlap by one mark less a byte, so a mark cut between two is still seen."""
    tail = b""
    for piece in source.pieces():
        window = tail + piece
        if any(mark in window for mark in _MARKS):
            return True
        tail = window[-_OVERLAP:]
    return False


def local(el: Any) -> str:
    tag = el.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def child(el: Any, name: str) -> Any | None:
    for c in el:
        if local(c) == name:
            return c
    return None


def children(el: Any, name: str) -> Iterator[Any]:
    for c in el:
        if local(c) == name:
            yield c


def find(el: Any | None, path: str) -> Any | None:
    """Child by a '/'-separated path of local names."""
    for name in path.split("/"):
        if el is None:
            return None
        el = child(el, name)
    return el


def text(el: Any | None, path: str | None = None) -> str | None:
    """Stripped text at ``path`` below ``el`` (or of ``el``); empty becomes None."""
    target = find(el, path) if path else el
    if target is None or target.text is None:
        return None
    s = target.text.strip()
    return s or None


def iterparse(data: bytes | ByteSource) -> Iterator[tuple[str, Any]]:
    """Yield ('start'|'end', element) for every element, refusing DTDs and converting
    every XML error to FileRejected with its line. Callers clear what they no longer need.
    The bytes are pulled as the parser needs them, never read whole."""
    source = ByteSource.of(data)
    if _forbidden_markup(source):
        raise FileRejected(DTD_REFUSED, field="DOCTYPE")
    context = etree.iterparse(
        source.reader(),
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    checked = False
    try:
        for event, el in context:
            if not checked:
                checked = True
                docinfo = el.getroottree().docinfo
                if docinfo.doctype or docinfo.internalDTD is not None:
                    raise FileRejected(DTD_REFUSED, field="DOCTYPE")
            yield event, el
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) and exc.lineno > 0 else None
        raise FileRejected(f"invalid or truncated XML: {exc.msg}", line=line) from None
    except (etree.LxmlError, LookupError, ValueError, UnicodeError) as exc:
        raise FileRejected(f"unreadable XML: {exc}") from None


def release(el: Any) -> None:
    """Free a processed element: empty it, and drop the emptied siblings of the same name
    before it. Other siblings (headers a later element still reads) stay."""
    el.clear(keep_tail=False)
    parent = el.getparent()
    if parent is None:
        return
    name = local(el)
    prev = el.getprevious()
    while prev is not None and local(prev) == name and len(prev) == 0:
        before = prev.getprevious()
        parent.remove(prev)
        prev = before
