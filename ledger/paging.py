"""Cursor pagination of the lists that can grow, and the refusal of query parameters a list does
not know (a misspelt filter must not silently answer everything).

A page is ``{items, next_cursor, has_more}``; the cursor is opaque to clients (the last id seen,
base64url-encoded) and is passed back as ``cursor=`` for the next page.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant
from pydantic import BaseModel, Field

from ledger.errors import ValidationFailed

T = TypeVar("T")
MAX_LIMIT = 1000


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(description="pass as cursor= for the next page")
    has_more: bool


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    """The id after which the next page starts (0 for the first page)."""
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = raw.partition(":")
        if kind != "id" or not value.isdigit():
            raise ValueError(raw)
        return int(value)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed(
            "the cursor is not one this list gave out",
            [{"field": "cursor", "reason": "malformed cursor"}],
        ) from exc


def page_of(
    rows: Sequence[Any], limit: int, shape: Callable[[Any], T], *, key: str = "id"
) -> Page[T]:
    """A page from up to ``limit + 1`` rows fetched in id order: the extra row says there is more."""
    more = len(rows) > limit
    kept = rows[:limit]
    cursor = encode_cursor(int(kept[-1][key])) if more and kept else None
    return Page[T](items=[shape(r) for r in kept], next_cursor=cursor, has_more=more)


CursorQuery = Annotated[
    str | None, Query(max_length=64, description="next_cursor of the previous page")
]
LimitQuery = Annotated[int, Query(ge=1, le=MAX_LIMIT)]


def _query_names(dependant: Dependant) -> Iterable[str]:
    for param in dependant.query_params:
        yield param.alias or param.name
    for sub in dependant.dependencies:
        yield from _query_names(sub)


def known_query_only(request: Request) -> None:
    """Refuse (422) a query parameter the matched route does not declare."""
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return
    known = set(_query_names(dependant))
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise ValidationFailed(
            f"unknown query parameter: {', '.join(unknown)}",
            [
                {"field": name, "reason": f"not a filter; known: {', '.join(sorted(known))}"}
                for name in unknown
            ],
        )


StrictQuery = Depends(known_query_only)
