"""The journal: posting balanced, hash-chained entries under locks, and reading the books.

Order of locks for every writer: the touched accounts by id, then the chain head (one statement
takes both, in that order). Holding them in that order keeps concurrent writers free of
deadlocks; the database re-checks every rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from ledger.domain import (
    AccountKind,
    PostingLine,
    UnbalancedEntry,
    check_balanced,
    period_of,
    reversal_lines,
)
from ledger.errors import Conflict, InsufficientFunds, NotFound, PeriodClosed, ValidationFailed
from ledger.jurisdictions.catalog import in_subtree, level_of
from ledger.jurisdictions.service import ensure_charts
from ledger.money import fen_to_str


@dataclass(frozen=True)
class PostedEntry:
    id: int
    hash: str
    prev_hash: str
    kind: str
    effective_date: date
    created_at: datetime

    def as_dict(self) -> dict[str, Any]:
        return {
            "entry_id": self.id,
            "hash": self.hash,
            "prev_hash": self.prev_hash,
            "kind": self.kind,
            "effective_date": self.effective_date.isoformat(),
        }


@dataclass(frozen=True)
class PostingWork:
    """A write that is one journal entry, given as data. Run as a unit of work's ``work`` it
    posts the entry with ``post_entry`` and answers ``PostedEntry.as_dict()``; a group poster
    instead hands many of them to the server's ``journal_post_group`` in one call, which does the
    same steps (migration 0023)."""

    kind: str
    lines: tuple[PostingLine, ...]
    created_by: str
    effective_date: date | None = None
    memo: str = ""
    document_type: str | None = None
    document_id: str | None = None
    reverses_id: int | None = None
    payload_digest: str | None = None

    def arguments(self) -> dict[str, Any]:
        """``post_entry``'s arguments."""
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __call__(self, session: Session) -> dict[str, Any]:
        return post_entry(session, **self.arguments()).as_dict()

    def server_entry(self) -> dict[str, Any]:
        """The entry as ``journal_post_group`` takes it (``entry_arguments`` as JSON); raises
        what ``post_entry`` would refuse before the database (that write takes the ordinary
        path)."""
        check_balanced(self.lines)
        entry = entry_arguments(**self.arguments())
        return {
            **entry,
            "effective_date": entry["effective_date"].isoformat(),
            "created_at": entry["created_at"].isoformat(),
        }

    @staticmethod
    def answer(entry: dict[str, Any], row: Any) -> dict[str, Any]:
        """``post_entry``'s answer for the ``server_entry`` a group call posted as ``row``."""
        return PostedEntry(
            row.entry_id,
            row.entry_hash,
            row.prev_hash,
            entry["kind"],
            date.fromisoformat(entry["effective_date"]),
            datetime.fromisoformat(entry["created_at"]),
        ).as_dict()


def entry_arguments(
    *,
    kind: str,
    lines: Sequence[PostingLine],
    created_by: str,
    effective_date: date | None = None,
    memo: str = "",
    document_type: str | None = None,
    document_id: str | None = None,
    reverses_id: int | None = None,
    payload_digest: str | None = None,
) -> dict[str, Any]:
    """An entry as the server's ``journal_post`` takes it (by these names), dated today unless
    said, made now."""
    effective_date = effective_date or date.today()
    return {
        "kind": kind,
        "memo": memo,
        "effective_date": effective_date,
        "period": period_of(effective_date),
        "document_type": document_type,
        "document_id": document_id,
        "reverses_id": reverses_id,
        "payload_digest": payload_digest,
        "created_by": created_by,
        "created_at": datetime.now(UTC),
        **line_arrays(lines),
    }


def post_entry(
    session: Session,
    *,
    kind: str,
    lines: Sequence[PostingLine],
    created_by: str,
    effective_date: date | None = None,
    memo: str = "",
    document_type: str | None = None,
    document_id: str | None = None,
    reverses_id: int | None = None,
    payload_digest: str | None = None,
) -> PostedEntry:
    """Write one entry inside the caller's transaction (the caller commits)."""
    try:
        check_balanced(lines)
    except UnbalancedEntry as exc:
        raise ValidationFailed(str(exc), [{"field": "postings", "reason": str(exc)}]) from exc
    params = entry_arguments(
        kind=kind,
        lines=lines,
        created_by=created_by,
        effective_date=effective_date,
        memo=memo,
        document_type=document_type,
        document_id=document_id,
        reverses_id=reverses_id,
        payload_digest=payload_digest,
    )
    row = _journal_post(session, params)
    if row.outcome == "missing":  # first use of a (jurisdiction, fund): make its chart, post again
        ensure_charts(session, {(ln.jurisdiction, ln.fund) for ln in lines})
        row = _journal_post(session, params)
    if row.outcome == "closed":
        raise PeriodClosed(
            f"fiscal period {params['period']} is closed: a correction goes into the open period "
            "and names what it corrects",
            [{"field": "effective_date", "reason": "period closed"}],
        )
    if row.outcome == "missing":  # an account kind no chart has
        raise ValidationFailed(
            "a posting names an account that does not exist",
            [{"field": "postings", "reason": "no such account"}],
        )
    if row.outcome == "insufficient":
        raise InsufficientFunds(
            f"special cash of {row.short_jurisdiction}/{row.short_fund} holds "
            f"{fen_to_str(row.short_balance)}, {fen_to_str(-row.short_change)} is needed",
            [{"field": "amount", "reason": "exceeds the special account balance"}],
        )
    return PostedEntry(
        row.entry_id,
        row.entry_hash,
        row.prev_hash,
        kind,
        params["effective_date"],
        params["created_at"],
    )


_JOURNAL_POST = text(
    "SELECT * FROM journal_post(:kind, :memo, :effective_date, :period, :document_type, "
    ":document_id, :reverses_id, :payload_digest, :created_by, :created_at, "
    "CAST(:jurisdictions AS text[]), CAST(:funds AS text[]), CAST(:kinds AS text[]), "
    "CAST(:sides AS text[]), CAST(:amounts AS bigint[]))"
)


def line_arrays(lines: Sequence[PostingLine]) -> dict[str, list[Any]]:
    """An entry's lines as the server's functions take them: one array per column."""
    return {
        "jurisdictions": [ln.jurisdiction for ln in lines],
        "funds": [ln.fund for ln in lines],
        "kinds": [ln.kind.value for ln in lines],
        "sides": [ln.side for ln in lines],
        "amounts": [ln.amount_fen for ln in lines],
    }


def _journal_post(session: Session, params: dict[str, Any]) -> Any:
    """One call of the server's ``journal_post`` (migration 0023): the accounts locked in id
    order, then the chain head; the period and special-cash tests; the entry hashed over
    ``canonical_entry``'s bytes, chained and inserted with its postings. Every trigger fires."""
    try:
        return session.execute(_JOURNAL_POST, params).one()
    except IntegrityError as exc:
        raise translate_db_error(exc) from exc


def translate_db_error(exc: DBAPIError) -> Exception:
    """Turn a refusal by a database rule into the domain error a caller expects."""
    msg = str(exc.orig)
    if "special_cash_not_negative" in msg:
        return InsufficientFunds("special cash cannot go below zero")
    if "period_closed" in msg or "is closed" in msg:
        return PeriodClosed("the fiscal period is closed")
    if "journal_entry_reverses_id_key" in msg:
        return Conflict("that entry has already been reversed")
    if "payout_one_live_attempt" in msg:
        return Conflict("a person would be paid twice for one fund and period")
    return Conflict(f"refused by the database: {msg.splitlines()[0]}")


def entry_lines(session: Session, entry_id: int) -> list[PostingLine]:
    rows = session.execute(
        text(
            "SELECT a.jurisdiction_code, a.fund_code, a.kind, p.side, p.amount_fen "
            "FROM posting p JOIN account a ON a.id = p.account_id WHERE p.entry_id = :e ORDER BY p.id"
        ),
        {"e": entry_id},
    ).all()
    return [PostingLine(r[0], r[1], AccountKind(r[2]), r[3], r[4]) for r in rows]


def reversible_entry(session: Session, entry_id: int) -> Any:
    """The entry a reversal may name: it exists, is no reversal itself, is not yet reversed, and
    moves money by a fund document (payouts are corrected through their own states)."""
    original = session.execute(
        text(
            "SELECT id, kind, reverses_id, document_type, document_id FROM journal_entry WHERE id = :e"
        ),
        {"e": entry_id},
    ).first()
    if original is None:
        raise NotFound(f"journal entry {entry_id} does not exist")
    if original.reverses_id is not None:
        raise Conflict(f"entry {entry_id} is itself a reversal; post a new entry instead")
    if session.execute(
        text("SELECT 1 FROM journal_entry WHERE reverses_id = :e"), {"e": entry_id}
    ).first():
        raise Conflict(f"entry {entry_id} has already been reversed")
    if original.kind in ("batch_release", "settlement"):
        raise Conflict(f"a {original.kind} entry is corrected through its payouts, not reversed")
    if original.document_type not in ("allocation", "transfer", "reallocation"):
        raise Conflict(
            f"entry {entry_id} was not posted by a fund document; post a correcting document",
            [{"field": "entry_id", "reason": "no document to reverse"}],
        )
    return original


def reverse_entry(
    session: Session,
    *,
    entry_id: int,
    created_by: str,
    reversal_document_id: int,
    memo: str,
    effective_date: date | None = None,
) -> PostedEntry:
    """The mirror image of ``entry_id``, pointing at it, posted for an approved reversal
    document (the database refuses a reversing entry without one). An entry reverses once."""
    reversible_entry(session, entry_id)
    return post_entry(
        session,
        kind="reversal",
        lines=reversal_lines(entry_lines(session, entry_id)),
        created_by=created_by,
        effective_date=effective_date,
        memo=memo,
        document_type="reversal",
        document_id=str(reversal_document_id),
        reverses_id=entry_id,
    )


def close_period(session: Session, *, period: str, closed_by: str) -> dict[str, Any]:
    """Close the books through ``period`` (YYYYMM): it and every period before it take no more
    entries. Closing a period at or before the latest closed one changes nothing."""
    through = session.execute(text("SELECT max(period) FROM fiscal_period_close")).scalar()
    newly = through is None or period > through
    if newly:
        session.execute(
            text("INSERT INTO fiscal_period_close (period, closed_by) VALUES (:p, :b)"),
            {"p": period, "b": closed_by},
        )
    return {"period": period, "newly_closed": newly, "closed_through": max(period, through or "")}


# ---- reads ---------------------------------------------------------------------------------


def balances(
    session: Session, *, jurisdiction: str, fund: str | None = None, as_of: date | None = None
) -> list[dict[str, Any]]:
    """Debit-positive balances per account of one jurisdiction, as of a date (inclusive)."""
    if as_of is None:
        sql = (
            "SELECT jurisdiction_code, fund_code, kind, balance_fen FROM account "
            "WHERE jurisdiction_code = :j AND (CAST(:f AS text) IS NULL OR fund_code = :f) "
            "ORDER BY fund_code, kind"
        )
    else:
        sql = (
            "SELECT a.jurisdiction_code, a.fund_code, a.kind, COALESCE(sum(CASE p.side WHEN 'D' "
            "THEN p.amount_fen ELSE -p.amount_fen END) FILTER (WHERE e.effective_date <= :d), 0)"
            "::bigint AS balance_fen FROM account a LEFT JOIN posting p ON p.account_id = a.id "
            "LEFT JOIN journal_entry e ON e.id = p.entry_id "
            "WHERE a.jurisdiction_code = :j AND (CAST(:f AS text) IS NULL OR a.fund_code = :f) "
            "GROUP BY a.id ORDER BY a.fund_code, a.kind"
        )
    rows = session.execute(text(sql), {"j": jurisdiction, "f": fund, "d": as_of}).mappings().all()
    return [{**dict(r), "balance_fen": int(r["balance_fen"])} for r in rows]


def trial_balance(
    session: Session,
    *,
    jurisdiction: str,
    fund: str | None = None,
    rollup: bool = False,
    as_of: date | None = None,
) -> dict[str, Any]:
    """Debit and credit columns per (fund, account kind); ``rollup`` sums the whole subtree.

    Rolled up, transfers inside the subtree cancel out: the report also gives the net figures
    that reached the subtree from outside and left it to people.
    """
    level = level_of(jurisdiction)
    if rollup:
        prefix = {0: "", 1: jurisdiction[:2], 2: jurisdiction[:4], 3: jurisdiction}[level]
        where = (
            "a.jurisdiction_code LIKE :prefix || '%'"
            if level < 3
            else "a.jurisdiction_code = :prefix"
        )
        params: dict[str, Any] = {"prefix": prefix}
    else:
        where = "a.jurisdiction_code = :j"
        params = {"j": jurisdiction}
    params.update({"f": fund, "d": as_of})
    bal = (
        "a.balance_fen"
        if as_of is None
        else "(SELECT COALESCE(sum(CASE p.side WHEN 'D' THEN p.amount_fen ELSE -p.amount_fen END), 0) "
        "FROM posting p JOIN journal_entry e ON e.id = p.entry_id "
        "WHERE p.account_id = a.id AND e.effective_date <= :d)"
    )
    rows = session.execute(
        text(
            f"SELECT a.fund_code, a.kind, sum({bal}) AS balance FROM account a "
            f"WHERE {where} AND (CAST(:f AS text) IS NULL OR a.fund_code = :f) "
            "GROUP BY a.fund_code, a.kind ORDER BY a.fund_code, a.kind"
        ),
        params,
    ).all()
    funds: dict[str, dict[str, Any]] = {}
    for r in rows:
        f = funds.setdefault(
            r.fund_code, {"fund": r.fund_code, "accounts": [], "debit_fen": 0, "credit_fen": 0}
        )
        bal_fen = int(r.balance)
        debit, credit = (bal_fen, 0) if bal_fen >= 0 else (0, -bal_fen)
        f["accounts"].append({"kind": r.kind, "debit_fen": debit, "credit_fen": credit})
        f["debit_fen"] += debit
        f["credit_fen"] += credit
    for f in funds.values():
        f["balanced"] = f["debit_fen"] == f["credit_fen"]
    return {
        "jurisdiction": jurisdiction,
        "rollup": rollup,
        "as_of": as_of.isoformat() if as_of else None,
        "funds": list(funds.values()),
        "balanced": all(f["balanced"] for f in funds.values()),
    }


def get_entry(session: Session, entry_id: int) -> dict[str, Any]:
    row = (
        session.execute(
            text(
                "SELECT id, kind, memo, effective_date, period, document_type, document_id, reverses_id, "
                "payload_digest, created_by, created_at, prev_hash, hash, "
                "(SELECT r.id FROM journal_entry r WHERE r.reverses_id = e.id) AS reversed_by "
                "FROM journal_entry e WHERE id = :e"
            ),
            {"e": entry_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"journal entry {entry_id} does not exist")
    out = dict(row)
    out["postings"] = [
        {
            "jurisdiction": ln.jurisdiction,
            "fund": ln.fund,
            "account": ln.kind.value,
            "side": ln.side,
            "amount_fen": ln.amount_fen,
        }
        for ln in entry_lines(session, entry_id)
    ]
    return out


def entry_jurisdictions(session: Session, entry_id: int) -> set[str]:
    return {ln.jurisdiction for ln in entry_lines(session, entry_id)}


def account_journal(
    session: Session,
    *,
    jurisdiction: str,
    fund: str,
    kind: str,
    limit: int = 100,
    after_id: int = 0,
) -> list[dict[str, Any]]:
    rows = (
        session.execute(
            text(
                "SELECT e.id AS entry_id, e.effective_date, e.kind AS entry_kind, e.memo, p.side, p.amount_fen "
                "FROM posting p JOIN account a ON a.id = p.account_id JOIN journal_entry e ON e.id = p.entry_id "
                "WHERE a.jurisdiction_code = :j AND a.fund_code = :f AND a.kind = :k AND e.id > :after "
                "ORDER BY e.id LIMIT :lim"
            ),
            {"j": jurisdiction, "f": fund, "k": kind, "after": after_id, "lim": limit},
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]


def special_cash(session: Session, jurisdiction: str, fund: str) -> int:
    row = session.execute(
        text(
            "SELECT balance_fen FROM account WHERE jurisdiction_code = :j AND fund_code = :f "
            "AND kind = 'special_cash'"
        ),
        {"j": jurisdiction, "f": fund},
    ).first()
    return int(row[0]) if row else 0


__all__ = [
    "PostedEntry",
    "PostingWork",
    "account_journal",
    "balances",
    "close_period",
    "entry_lines",
    "get_entry",
    "in_subtree",
    "line_arrays",
    "post_entry",
    "reverse_entry",
    "special_cash",
    "trial_balance",
]
