"""``ledger verify``: recompute the hash chain and re-check every invariant from the raw rows.

It trusts nothing the application cached: balances are re-summed from postings, each entry's
hash is recomputed from its stored fields and postings, each released batch's digest from its
payout lines, and the subledger is compared with the general ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.domain import (
    GENESIS_HASH,
    AccountKind,
    PostingLine,
    canonical_entry,
    entry_hash,
)
from ledger.payouts import LIVE_STATES, PayoutLine, batch_root, leaf_columns


@dataclass
class VerifyReport:
    ok: bool = True
    entry_count: int = 0
    chain_head: str = GENESIS_HASH
    first_broken_entry: int | None = None
    problems: list[str] = field(default_factory=list)
    checked_at: str = ""
    periods_live: list[str] = field(default_factory=list)
    """Periods whose payout lines were checked in the live tables."""
    periods_archived: list[str] = field(default_factory=list)
    """Archived periods: checked by their record's digests (and files, given the archive)."""
    archive_files_checked: list[str] = field(default_factory=list)
    archived_batches: set[int] = field(default_factory=set, repr=False)
    """Batches with archived lines: the archive check recomputes them, not the live one."""

    def fail(self, message: str, entry_id: int | None = None) -> None:
        self.ok = False
        if entry_id is not None and self.first_broken_entry is None:
            self.first_broken_entry = entry_id
        if len(self.problems) < 100:
            self.problems.append(message)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entry_count": self.entry_count,
            "chain_head": self.chain_head,
            "first_broken_entry": self.first_broken_entry,
            "problems": self.problems,
            "checked_at": self.checked_at,
            "periods": {
                "live": self.periods_live,
                "archived": self.periods_archived,
                "archive_files_checked": self.archive_files_checked,
            },
        }


Check = Callable[[Session, VerifyReport], None]
EXTRA_CHECKS: list[Check] = []
"""Checks other packages add (registered by the module that mounts them)."""


def _entries(session: Session, chunk: int = 5000) -> Iterator[tuple[Any, list[PostingLine]]]:
    last = 0
    while True:
        entries = session.execute(
            text(
                "SELECT id, kind, memo, effective_date, document_type, document_id, reverses_id, "
                "payload_digest, created_by, created_at, prev_hash, hash FROM journal_entry "
                "WHERE id > :last ORDER BY id LIMIT :n"
            ),
            {"last": last, "n": chunk},
        ).all()
        if not entries:
            return
        lo, hi = entries[0].id, entries[-1].id
        lines: dict[int, list[PostingLine]] = {}
        for r in session.execute(
            text(
                "SELECT p.entry_id, a.jurisdiction_code, a.fund_code, a.kind, p.side, p.amount_fen "
                "FROM posting p JOIN account a ON a.id = p.account_id "
                "WHERE p.entry_id BETWEEN :lo AND :hi ORDER BY p.entry_id, p.id"
            ),
            {"lo": lo, "hi": hi},
        ):
            lines.setdefault(r[0], []).append(
                PostingLine(r[1], r[2], AccountKind(r[3]), r[4], r[5])
            )
        for e in entries:
            yield e, lines.get(e.id, [])
        last = hi


def check_chain(session: Session, report: VerifyReport) -> None:
    prev_hash, expected_id = GENESIS_HASH, 1
    for e, lines in _entries(session):
        report.entry_count += 1
        if e.id != expected_id:
            report.fail(f"entry {expected_id} is missing: the chain jumps to {e.id}", expected_id)
        if e.prev_hash != prev_hash:
            report.fail(f"entry {e.id}: prev_hash does not name the hash of entry {e.id - 1}", e.id)
        recomputed = entry_hash(
            canonical_entry(
                entry_id=e.id,
                prev_hash=e.prev_hash,
                kind=e.kind,
                memo=e.memo,
                effective_date=e.effective_date,
                document_type=e.document_type,
                document_id=e.document_id,
                reverses_id=e.reverses_id,
                payload_digest=e.payload_digest.strip() if e.payload_digest else None,
                created_by=e.created_by,
                created_at=e.created_at,
                lines=lines,
            )
        )
        if recomputed != e.hash:
            report.fail(
                f"entry {e.id}: stored hash does not match its fields and postings "
                "(the entry or one of its postings was changed)",
                e.id,
            )
        totals: dict[tuple[str, str], int] = {}
        for ln in lines:
            k = (ln.jurisdiction, ln.fund)
            totals[k] = totals.get(k, 0) + (ln.amount_fen if ln.side == "D" else -ln.amount_fen)
        if len(lines) < 2 or any(totals.values()):
            report.fail(f"entry {e.id} does not balance per jurisdiction and fund", e.id)
        prev_hash, expected_id = e.hash, e.id + 1
    head = session.execute(text("SELECT seq, hash FROM chain_head")).one()
    if head.seq != report.entry_count or head.hash != prev_hash:
        report.fail(f"chain head ({head.seq}, {head.hash[:12]}…) does not match the last entry")
    report.chain_head = prev_hash


def check_balances(session: Session, report: VerifyReport) -> None:
    rows = session.execute(
        text(
            "SELECT a.id, a.jurisdiction_code, a.fund_code, a.kind, a.balance_fen, "
            "COALESCE(sum(CASE p.side WHEN 'D' THEN p.amount_fen ELSE -p.amount_fen END), 0) AS summed "
            "FROM account a LEFT JOIN posting p ON p.account_id = a.id GROUP BY a.id ORDER BY a.id"
        )
    ).all()
    for r in rows:
        if r.balance_fen != r.summed:
            report.fail(
                f"account {r.jurisdiction_code}/{r.fund_code}/{r.kind}: cached balance "
                f"{r.balance_fen} ≠ sum of postings {r.summed}"
            )
        if r.kind == "special_cash" and r.summed < 0:
            report.fail(
                f"special cash of {r.jurisdiction_code}/{r.fund_code} is negative ({r.summed})"
            )


def check_subledger(session: Session, report: VerifyReport) -> None:
    """In transit = Σ sent payouts and benefit expense = Σ paid payouts, per (county, fund)."""
    rows = session.execute(
        text(
            "WITH gl AS (SELECT jurisdiction_code AS j, fund_code AS f, "
            "  sum(balance_fen) FILTER (WHERE kind = 'in_transit') AS transit, "
            "  sum(balance_fen) FILTER (WHERE kind = 'benefit_expense') AS expense "
            "  FROM account GROUP BY 1, 2), "
            "sub_parts AS (SELECT county_code AS j, fund_code AS f, "
            "  COALESCE(sum(amount_fen) FILTER (WHERE state = 'sent'), 0) AS transit, "
            "  COALESCE(sum(amount_fen) FILTER (WHERE state = 'paid'), 0) AS expense "
            "  FROM payout GROUP BY 1, 2 "
            # An archived period's lines are its record's totals (all paid or closed by then).
            "  UNION ALL SELECT t.county, t.fund, "
            "  COALESCE(sum(t.amount_fen) FILTER (WHERE t.state = 'sent'), 0), "
            "  COALESCE(sum(t.amount_fen) FILTER (WHERE t.state = 'paid'), 0) "
            "  FROM period_archive a, jsonb_to_recordset(a.totals) "
            "  AS t(county char(6), fund text, state text, amount_fen bigint) GROUP BY 1, 2), "
            "sub AS (SELECT j, f, sum(transit) AS transit, sum(expense) AS expense "
            "  FROM sub_parts GROUP BY 1, 2) "
            "SELECT COALESCE(gl.j, sub.j) AS j, COALESCE(gl.f, sub.f) AS f, "
            "  COALESCE(gl.transit, 0) AS gl_transit, COALESCE(sub.transit, 0) AS sub_transit, "
            "  COALESCE(gl.expense, 0) AS gl_expense, COALESCE(sub.expense, 0) AS sub_expense "
            "FROM gl FULL JOIN sub ON gl.j = sub.j AND gl.f = sub.f "
            "WHERE COALESCE(gl.transit, 0) <> COALESCE(sub.transit, 0) "
            "   OR COALESCE(gl.expense, 0) <> COALESCE(sub.expense, 0)"
        )
    ).all()
    for r in rows:
        report.fail(
            f"{r.j}/{r.f}: in transit {r.gl_transit} vs sent payouts {r.sub_transit}; "
            f"benefit expense {r.gl_expense} vs paid payouts {r.sub_expense}"
        )


def check_batch_digests(session: Session, report: VerifyReport) -> None:
    """Each released batch's payout lines still hash to the digest its release entry committed to."""
    batches = session.execute(
        text(
            "SELECT b.id, b.merkle_root, e.payload_digest, b.release_entry_id FROM payment_batch b "
            "JOIN journal_entry e ON e.id = b.release_entry_id WHERE b.status = 'released' ORDER BY b.id"
        )
    ).all()
    for b in batches:
        if b.id in report.archived_batches:
            # Its root needs the archived lines too (check_archives, given the files); each
            # live line is still checked against the digest recorded when it was sent.
            _name_changed_payouts(session, report, b.id)
            continue
        root = batch_root(session, b.id)
        if root != b.payload_digest or root != b.merkle_root:
            report.fail(
                f"batch {b.id}: payout lines no longer match the digest committed by entry "
                f"{b.release_entry_id} (a payout line was changed)",
                b.release_entry_id,
            )
            _name_changed_payouts(session, report, b.id)


def _name_changed_payouts(session: Session, report: VerifyReport, batch_id: int) -> None:
    """Each line's digest was recorded when it was sent: the lines that differ are named."""
    rows = session.execute(
        text(
            "SELECT p.id, ev.line_digest, "
            + leaf_columns("p")
            + " FROM payout p LEFT JOIN payout_event ev "
            "ON ev.payout_id = p.id AND ev.to_state = 'sent' WHERE p.batch_id = :b ORDER BY p.seq"
        ),
        {"b": batch_id},
    )
    for r in rows:
        line = PayoutLine(*r[2:])
        if r.line_digest != line.leaf_hash():
            report.fail(
                f"payout {r.id} (batch {batch_id}, line {line.seq}, reference {line.reference}) "
                "was changed"
            )


def check_audit_log(session: Session, report: VerifyReport) -> None:
    """The audit log is hash-chained in the database; recompute every link."""
    rows = session.execute(
        text(
            "SELECT id, seq FROM (SELECT a.id, a.seq, a.hash, a.prev_hash, audit_log_digest(a) AS recomputed, "
            "lag(a.hash) OVER (ORDER BY a.seq) AS previous, lag(a.seq) OVER (ORDER BY a.seq) AS previous_seq "
            "FROM audit_log a) t WHERE hash IS DISTINCT FROM recomputed "
            "OR prev_hash IS DISTINCT FROM COALESCE(previous, :genesis) "
            "OR seq IS DISTINCT FROM COALESCE(previous_seq, 0) + 1 ORDER BY seq LIMIT 20"
        ),
        {"genesis": GENESIS_HASH},
    ).all()
    for r in rows:
        report.fail(
            f"audit_log row {r.id} (seq {r.seq}) was changed or a row before it was removed"
        )
    head = session.execute(
        text(
            "SELECT h.seq, h.hash, (SELECT max(seq) FROM audit_log) AS last, "
            "(SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1) AS last_hash FROM audit_chain_head h"
        )
    ).one()
    if head.seq != (head.last or 0) or (head.last and head.hash != head.last_hash):
        report.fail("the audit log's last rows were removed: its chain head does not match")


def check_live_payouts(session: Session, report: VerifyReport) -> None:
    """The registry of live payouts (``payout_live``, one per person, fund and period) names
    exactly the payouts whose state is live, in every period not archived."""
    live = ", ".join(f"'{s}'" for s in LIVE_STATES)
    rows = session.execute(
        text(
            "WITH p AS (SELECT id, person_key, fund_code, period, state FROM payout "
            f"WHERE state IN ({live})), "
            "r AS (SELECT payout_id AS id, person_key, fund_code, period FROM payout_live "
            "WHERE period NOT IN (SELECT period FROM period_archive)) "
            "SELECT p.id AS live_id, p.state, r.id AS registered_id, r.period "
            "FROM p FULL JOIN r ON r.id = p.id AND r.person_key = p.person_key "
            "AND r.fund_code = p.fund_code AND r.period = p.period "
            "WHERE p.id IS NULL OR r.id IS NULL ORDER BY COALESCE(p.id, r.id) LIMIT 100"
        )
    ).all()
    for r in rows:
        if r.registered_id is None:
            report.fail(f"payout {r.live_id} is {r.state} but not registered as live")
        else:
            report.fail(
                f"payout {r.registered_id} is registered as the live payout of its person, fund "
                f"and period {r.period}, but is not live (or its person, fund or period changed)"
            )


def verify(session: Session, *, archive_dir: Path | None = None) -> VerifyReport:
    """Every check; archived periods by their records, and by their files given ``archive_dir``."""
    from ledger.journal.archive import check_archives

    report = VerifyReport()
    report.archived_batches = check_archives(session, report, archive_dir)
    for check in (
        check_chain,
        check_balances,
        check_subledger,
        check_batch_digests,
        check_live_payouts,
        check_audit_log,
        *EXTRA_CHECKS,
    ):
        check(session, report)
    report.checked_at = datetime.now(UTC).isoformat(timespec="seconds")
    return report
