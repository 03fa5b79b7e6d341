"""Settling payouts: the one writer of a payout's settlement state (paid, failed, returned).

A caller (a bank file's reconciliation, for one) stages what each payout became into the
temporary table ``payout_settlement`` made by ``settlement_table`` and calls
``settle_payouts``: one set-based UPDATE moves every staged payout, and the database's
statement guards check the transitions, refuse changes to released lines, check the entries
named and write one ``payout_event`` per move.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

SETTLED_STATES = ("paid", "failed", "returned")


def settlement_table(session: Session) -> None:
    """The staging table of one settlement (dropped at the end of the transaction)."""
    session.execute(
        text(
            "CREATE TEMP TABLE IF NOT EXISTS payout_settlement (payout_id bigint PRIMARY KEY, "
            "state text NOT NULL, entry_id bigint NOT NULL, reason_code text, raw_code text, "
            "raw_text text) ON COMMIT DROP"
        )
    )


def settle_payouts(session: Session, *, source: str) -> int:
    """Move every payout staged in ``payout_settlement`` to its state, naming the entry that
    booked it; a paid line carries no reason. ``source`` labels the payout events. Returns how
    many payouts moved."""
    session.execute(text("SELECT set_config('ledger.source', :s, true)"), {"s": source})
    moved = session.execute(
        text(
            "UPDATE payout p SET state = s.state, last_entry_id = s.entry_id, "
            "reason_code = CASE WHEN s.state = 'paid' THEN NULL "
            "  ELSE COALESCE(s.reason_code, 'unspecified') END, "
            "raw_code = CASE WHEN s.state = 'paid' THEN NULL ELSE s.raw_code END, "
            "raw_text = CASE WHEN s.state = 'paid' THEN NULL ELSE s.raw_text END, "
            "updated_at = now() FROM payout_settlement s WHERE s.payout_id = p.id"
        )
    )
    session.execute(text("TRUNCATE payout_settlement"))
    return int(moved.rowcount or 0)  # type: ignore[attr-defined]
