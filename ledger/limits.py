"""Limits: the request size for every route, and what any parser reads from one file.

A declared ``Content-Length`` above the limit is refused before the application sees the
request; a body without one (chunked) is counted as it streams and refused at the first byte
over the limit, so no route can be made to buffer more than ``settings.max_upload_bytes``.

The parse limits (``ParseLimits``) are checked while a file is read, before anything grows with
the claim: a zip's member count and sizes before a byte is inflated, an XLSX sheet's declared
dimension before its rows are read, each CSV line as it is reached.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.config import Settings, get_settings
from ledger.errors import PayloadTooLarge


class LimitExceeded(Exception):
    """A file goes beyond a parse limit; ``setting`` is the Settings field that sets it."""

    def __init__(self, setting: str, limit: int, what: str, *, line: int | None = None) -> None:
        self.setting = setting
        self.limit = limit
        self.line = line
        self.reason = f"more than {limit} {what} (limit LEDGER_{setting.upper()})"
        super().__init__(self.reason)

    @property
    def field(self) -> str:
        return f"LEDGER_{self.setting.upper()}"


@dataclass(frozen=True)
class ParseLimits:
    max_bytes: int
    max_table_rows: int
    max_table_columns: int
    max_table_cells: int
    max_line_chars: int
    max_file_lines: int
    xlsx_max_unzipped_bytes: int
    xlsx_max_members: int
    xlsx_max_sheets: int
    xlsx_max_shared_strings: int

    @classmethod
    def of(cls, settings: Settings) -> ParseLimits:
        return cls(
            max_bytes=settings.max_upload_bytes,
            max_table_rows=settings.max_table_rows,
            max_table_columns=settings.max_table_columns,
            max_table_cells=settings.max_table_cells,
            max_line_chars=settings.max_line_chars,
            max_file_lines=settings.max_file_lines,
            xlsx_max_unzipped_bytes=settings.xlsx_max_unzipped_bytes,
            xlsx_max_members=settings.xlsx_max_members,
            xlsx_max_sheets=settings.xlsx_max_sheets,
            xlsx_max_shared_strings=settings.xlsx_max_shared_strings,
        )

    def check_bytes(self, size: int) -> None:
        if size > self.max_bytes:
            raise LimitExceeded("max_upload_bytes", self.max_bytes, "bytes")


def parse_limits() -> ParseLimits:
    return ParseLimits.of(get_settings())


def bounded_lines(
    lines: Iterable[str], *, max_chars: int, max_lines: int, lines_setting: str
) -> Iterator[str]:
    """``lines`` unchanged, refusing a line longer than ``max_chars`` or more than
    ``max_lines`` of them (``lines_setting`` names the line limit in the refusal)."""
    for count, line in enumerate(lines, start=1):
        if count > max_lines:
            raise LimitExceeded(lines_setting, max_lines, "lines", line=count)
        if len(line) > max_chars:
            raise LimitExceeded("max_line_chars", max_chars, "characters in a line", line=count)
        yield line


_EOCD = b"PK\x05\x06"
_EOCD_SIZE = 22


def check_zip_directory(data: bytes, limits: ParseLimits) -> None:
    """Refuse a zip whose central directory claims too many members, before ``zipfile`` builds
    an object for each (the end record's count is read; a zip64 count 0xFFFF is refused)."""
    start = data.rfind(_EOCD, max(0, len(data) - _EOCD_SIZE - 0xFFFF))
    if start < 0 or start + _EOCD_SIZE > len(data):
        return  # not a zip: zipfile says so
    (entries,) = struct.unpack_from("<H", data, start + 10)
    if entries > limits.xlsx_max_members:
        raise LimitExceeded("xlsx_max_members", limits.xlsx_max_members, "members in the zip")


class UploadLimit:
    def __init__(self, app: ASGIApp, limit: int | None = None) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit if self.limit is not None else get_settings().max_upload_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit, declared)
            return
        received = 0
        over = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise PayloadTooLarge(
                        f"the request body is larger than {limit} bytes",
                        [{"field": "body", "reason": f"more than {limit} bytes"}],
                    )
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            # Whatever the route made of the interrupted body (often a 400), the caller is told
            # the real reason, as long as no response has begun.
            if over and not started:
                started = True
                await _refuse(send, limit, received)
                return
            if over:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            # The refusal may surface wrapped (an ExceptionGroup from a middleware's task group).
            if not over:
                raise
            if not started:
                await _refuse(send, limit, received)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _refuse(send: Send, limit: int, size: int) -> None:
    body: dict[str, Any] = PayloadTooLarge(
        f"the request body is larger than {limit} bytes",
        [{"field": "body", "reason": f"{size} bytes or more; the limit is {limit}"}],
    ).body()
    payload = json.dumps(body, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
