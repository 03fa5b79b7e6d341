"""Settling payouts: the one writer of a payout's settlement state (paid, failed, returned).

A caller (a bank file's reconciliation, for one) stages what each payout became, and the
bank-file line (or exception) that said so, into the temporary table ``settlement_staging``
made by ``settlement_table`` and calls ``settle_payouts``: one set-based UPDATE moves every
staged payout — the database's statement guards check the transitions, refuse changes to
released lines, check the entries named and write one ``payout_event`` per move — and one
INSERT keeps, in the append-only ``payout_settlement``, which file line settled which payout.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

SETTLED_STATES = ("paid", "failed", "returned")


def settlement_table(session: Session) -> None:
    """The staging table of one settlement (dropped at the end of the transaction)."""
    session.execute(
        text(
            "CREATE TEMP TABLE IF NOT EXISTS settlement_staging (payout_id bigint PRIMARY KEY, "
            "state text NOT NULL, entry_id bigint NOT NULL, reason_code text, raw_code text, "
            "raw_text text, bank_file_id bigint NOT NULL, line_no integer, exception_id bigint) "
            "ON COMMIT DROP"
        )
    )


def settle_payouts(session: Session, *, source: str) -> int:
    """Move every payout staged in ``settlement_staging`` to its state, naming the entry that
    booked it (a paid line carries no reason), and record the file line that settled it.
    ``source`` labels the payout events. Returns how many payouts moved."""
    moved = move_payouts(session, source=source)
    session.execute(
        text(
            "INSERT INTO payout_settlement (payout_id, bank_file_id, line_no, state, entry_id, "
            "exception_id) SELECT payout_id, bank_file_id, line_no, state, entry_id, exception_id "
            "FROM settlement_staging ORDER BY line_no NULLS LAST, payout_id"
        )
    )
    session.execute(text("TRUNCATE settlement_staging"))
    return moved


def move_payouts(session: Session, *, source: str) -> int:
    """The move itself: one set-based UPDATE of every staged payout (``bench.settle_rows``
    measures it against appending transition rows)."""
    session.execute(text("SELECT set_config('ledger.source', :s, true)"), {"s": source})
    moved = session.execute(
        text(
            "UPDATE payout p SET state = s.state, last_entry_id = s.entry_id, "
            "reason_code = CASE WHEN s.state = 'paid' THEN NULL "
            "  ELSE COALESCE(s.reason_code, 'unspecified') END, "
            "raw_code = CASE WHEN s.state = 'paid' THEN NULL ELSE s.raw_code END, "
            "raw_text = CASE WHEN s.state = 'paid' THEN NULL ELSE s.raw_text END, "
            "updated_at = now() FROM settlement_staging s WHERE s.payout_id = p.id"
        )
    )
    return int(moved.rowcount or 0)  # type: ignore[attr-defined]
