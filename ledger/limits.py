"""Request-size limit for every route: oversize bodies are refused with 413 before they are read.

A declared ``Content-Length`` above the limit is refused before the application sees the
request; a body without one (chunked) is counted as it streams and refused at the first byte
over the limit, so no route can be made to buffer more than ``settings.max_upload_bytes``.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.config import get_settings
from ledger.errors import PayloadTooLarge


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
