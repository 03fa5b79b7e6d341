"""The server's ``journal_post`` (migration 0023) hashes exactly what ``canonical_entry`` says.

``ledger verify`` and an auditor recompute an entry's hash with the Python definition; the
server computes it when it posts. The two must agree byte for byte on any text an entry can
carry: memos in any script, quotes, backslashes, control characters, empty strings.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.domain import AccountKind, PostingLine, canonical_entry
from ledger.journal.service import line_arrays

# Any text PostgreSQL can store (no NUL, no lone surrogates).
texts = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
optional = st.none() | texts
lines = st.lists(
    st.builds(
        PostingLine,
        texts,
        texts,
        st.sampled_from(list(AccountKind)),
        st.sampled_from(["D", "C"]),
        st.integers(min_value=1, max_value=2**62),
    ),
    min_size=0,
    max_size=6,
)


# A read-only query: the one session serves every example.
@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    entry_id=st.integers(min_value=1, max_value=2**62),
    prev=st.text("0123456789abcdef", min_size=64, max_size=64),
    kind=texts,
    memo=texts,
    effective=st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31)),
    document_type=optional,
    document_id=optional,
    reverses_id=st.none() | st.integers(min_value=1, max_value=2**62),
    payload_digest=optional,
    created_by=texts,
    created_at=st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(UTC)
    ),
    postings=lines,
)
def test_the_server_canonical_text_is_the_python_one(
    session: Session,
    entry_id: int,
    prev: str,
    kind: str,
    memo: str,
    effective: date,
    document_type: str | None,
    document_id: str | None,
    reverses_id: int | None,
    payload_digest: str | None,
    created_by: str,
    created_at: datetime,
    postings: list[PostingLine],
) -> None:
    server = session.execute(
        text(
            "SELECT convert_to(journal_entry_canonical(:id, :prev, :kind, :memo, :ed, :dt, :did, "
            ":rev, :pd, :by, :at, CAST(:jurisdictions AS text[]), CAST(:funds AS text[]), "
            "CAST(:kinds AS text[]), CAST(:sides AS text[]), CAST(:amounts AS bigint[])), 'UTF8')"
        ),
        {
            "id": entry_id,
            "prev": prev,
            "kind": kind,
            "memo": memo,
            "ed": effective,
            "dt": document_type,
            "did": document_id,
            "rev": reverses_id,
            "pd": payload_digest,
            "by": created_by,
            "at": created_at,
            **line_arrays(postings),
        },
    ).scalar_one()
    python = canonical_entry(
        entry_id=entry_id,
        prev_hash=prev,
        kind=kind,
        memo=memo,
        effective_date=effective,
        document_type=document_type,
        document_id=document_id,
        reverses_id=reverses_id,
        payload_digest=payload_digest,
        created_by=created_by,
        created_at=created_at,
        lines=postings,
    )
    assert bytes(server) == python
