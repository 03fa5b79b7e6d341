"""An uploaded file's bytes, read a piece at a time as often as a pass needs, never held whole.

A bank return file can be a million lines: it is kept where it arrived (a spooled temporary file, a
file on disk, or the bytes a caller already has) and every pass (hash, encoding, parse, store)
reads it from the start in pieces of ``PIECE`` bytes.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import tempfile
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import IO

PIECE = 1 << 20
BOM = b"\xef\xbb\xbf"
# A spooled upload stays in memory up to this size, then moves to a temporary file.
SPOOL_IN_MEMORY = 1 << 20


class ByteSource:
    """A seekable file (or bytes) read in pieces. Each pass keeps its own position, so two
    passes may interleave. ``sha256``, ``size`` and ``newlines`` come from one streamed pass."""

    def __init__(self, data: bytes | IO[bytes], *, sha256: str | None = None) -> None:
        self._file: IO[bytes] = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
        self._sha = sha256
        self._size: int | None = None
        self._newlines: int | None = None

    @classmethod
    def of(cls, data: bytes | IO[bytes] | ByteSource) -> ByteSource:
        return data if isinstance(data, ByteSource) else cls(data)

    @classmethod
    def spooled(cls, pieces: Iterable[bytes]) -> ByteSource:
        """The pieces written to a spool, hashed as they are written."""
        spool = Spool()
        for piece in pieces:
            spool.write(piece)
        return spool.source()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> ByteSource:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def pieces(self, size: int = PIECE, *, start: int = 0) -> Iterator[bytes]:
        """The bytes from ``start`` to the end, ``size`` at a time."""
        pos = start
        while True:
            self._file.seek(pos)
            piece = self._file.read(size)
            if not piece:
                return
            pos += len(piece)
            yield piece

    def head(self, n: int) -> bytes:
        self._file.seek(0)
        return self._file.read(n)

    def reader(self) -> io.RawIOBase:
        """A file object over the bytes from the start (for parsers that pull, like lxml)."""
        return _Reader(self)

    def _scan(self) -> None:
        digest = hashlib.sha256()
        size = newlines = 0
        for piece in self.pieces():
            digest.update(piece)
            size += len(piece)
            newlines += piece.count(b"\n")
        self._sha = self._sha or digest.hexdigest()
        self._size, self._newlines = size, newlines

    @property
    def sha256(self) -> str:
        if self._sha is None:
            self._scan()
        assert self._sha is not None
        return self._sha

    @property
    def size(self) -> int:
        if self._size is None:
            self._file.seek(0, io.SEEK_END)
            self._size = self._file.tell()
        return self._size

    @property
    def newlines(self) -> int:
        if self._newlines is None:
            self._scan()
        assert self._newlines is not None
        return self._newlines


class Spool:
    """A file being received: written to a spooled temporary file (on disk past
    ``SPOOL_IN_MEMORY``) and hashed as it is written, so its SHA-256 costs no second pass."""

    def __init__(self) -> None:
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
        self._digest = hashlib.sha256()
        self.size = 0

    def spills(self, piece: bytes) -> bool:
        """Whether writing ``piece`` touches the disk (the spool is, or then goes, past memory)."""
        return self.size + len(piece) > SPOOL_IN_MEMORY

    def write(self, piece: bytes) -> None:
        self._digest.update(piece)
        self.file.write(piece)
        self.size += len(piece)

    def source(self) -> ByteSource:
        return ByteSource(self.file, sha256=self._digest.hexdigest())


class _Reader(io.RawIOBase):
    def __init__(self, source: ByteSource) -> None:
        self._pieces = source.pieces()
        self._buf = b""
        self._off = 0

    def readable(self) -> bool:
        return True

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            rest = self._buf[self._off :] + b"".join(self._pieces)
            self._buf, self._off = b"", 0
            return rest
        if self._off >= len(self._buf):
            self._buf, self._off = next(self._pieces, b""), 0
        out = self._buf[self._off : self._off + n]
        self._off += len(out)
        return out


# ---- which text encoding: one policy for every text file we take (roster, bank returns) -------


class NotText(ValueError):
    """A file that is not text we read: its first bad line, the field and the reason."""

    def __init__(self, reason: str, *, line: int, field: str = "") -> None:
        super().__init__(f"line {line}: {reason}")
        self.reason, self.line, self.field = reason, line, field


def text_encoding(source: ByteSource) -> tuple[str, int]:
    """(encoding, BOM bytes to skip): UTF-8 (with or without BOM), else GB18030 (a superset of
    GBK); a NUL byte means it is no text (UTF-16, a binary). Raises ``NotText`` naming the
    line. Read in pieces: one pass, two for GB18030."""
    skip = len(BOM) if source.head(len(BOM)) == BOM else 0
    utf8_error, nul = first_bad_byte(source.pieces(start=skip), "utf-8", find_nul=True)
    if nul is not None:
        line = _line_at(source, 0, skip + nul)
        raise NotText("contains NUL bytes: not a text file (UTF-16?)", line=line)
    if utf8_error is None:
        return "utf-8", skip
    gb_error, _ = first_bad_byte(source.pieces(start=skip), "gb18030")
    if gb_error is None:
        return "gb18030", skip
    line = _line_at(source, skip, max(utf8_error, gb_error))
    raise NotText("text is neither UTF-8 nor GBK/GB18030", line=line, field="encoding")


def first_bad_byte(
    pieces: Iterable[bytes], encoding: str, *, find_nul: bool = False
) -> tuple[int | None, int | None]:
    """(offset of the first byte ``encoding`` cannot decode, as ``bytes.decode`` of the joined
    pieces reports it; offset of the first NUL byte when ``find_nul``), None when there is none."""
    decoder = codecs.getincrementaldecoder(encoding)()
    bad: int | None = None
    nul: int | None = None
    pos = 0
    for piece in pieces:
        if find_nul and nul is None and b"\x00" in piece:
            nul = pos + piece.index(b"\x00")
        if bad is None:
            pending = decoder.getstate()[0]
            try:
                decoder.decode(piece)
            except UnicodeDecodeError as exc:
                bad = pos - len(pending) + exc.start
        pos += len(piece)
        if bad is not None and (nul is not None or not find_nul):
            break
    if bad is None:
        pending = decoder.getstate()[0]
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            bad = pos - len(pending) + exc.start
    return bad, nul


def _line_at(source: ByteSource, start: int, offset: int) -> int:
    """The line number of the byte ``offset`` bytes after ``start``."""
    newlines = 0
    pos = 0
    for piece in source.pieces(start=start):
        if pos + len(piece) >= offset:
            return newlines + piece[: offset - pos].count(b"\n") + 1
        newlines += piece.count(b"\n")
        pos += len(piece)
    return newlines + 1
