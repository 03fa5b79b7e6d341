"""Matching a staged return file's lines to payouts, and the rules of what each line does.

The rules are pure: one table decides every (state, outcome) pair; ``decide_sql`` turns it into
the SQL ``CASE`` that decides a whole file at once, so the Python rule (a hand match) and the
set-based path cannot drift apart. ``match`` is the step after ``staging``: it finds the batch
the file answers and each line's payout in ``recon_line`` (by reference, by batch and 序号, by
account, amount and name; a fuzzy suggestion for a person otherwise), adds the payouts a
pain.002 does not list, and decides each line's action, with its payouts locked in id order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from ledger.domain import AccountKind, PostingLine, pair
from reconciliation.bankfile import BankFile
from reconciliation.parsers import FileRejected, FileSummary, unlisted_outcome, unlisted_status
from reconciliation.staging import StagedFile

Action = Literal[
    "paid", "failed", "returned", "duplicate", "conflict", "refused", "unknown", "accepted"
]
APPLYING: tuple[str, ...] = ("paid", "failed", "returned")
"""Actions that move a payout and post to the books."""
QUEUED: tuple[str, ...] = ("unmatched", "conflict", "refused", "amount_mismatch")
"""Line problems that go to the exceptions queue for a person."""

# (payout state, bank outcome) -> action. Anything absent is refused (and recorded).
TRANSITIONS: dict[tuple[str, str], Action] = {
    ("sent", "paid"): "paid",
    ("sent", "failed"): "failed",
    ("paid", "returned"): "returned",
    # The same news twice is a counted no-op.
    ("paid", "paid"): "duplicate",
    ("failed", "failed"): "duplicate",
    ("returned", "returned"): "duplicate",
    ("reissued", "failed"): "duplicate",
    ("reissued", "returned"): "duplicate",
    # Contradicting news goes to review and overwrites nothing.
    ("paid", "failed"): "conflict",
    ("failed", "paid"): "conflict",
    ("failed", "returned"): "conflict",
    ("returned", "paid"): "conflict",
    ("returned", "failed"): "conflict",
    ("reissued", "paid"): "conflict",
}
OUTCOMES = ("paid", "failed", "returned", "unknown")


def decide(state: str, outcome: str) -> Action:
    """What ``outcome`` from the bank does to a payout in ``state``.

    An unknown result never moves anything (it is never taken for a failure); a return for a
    line we still hold as sent, or any news on a draft, cancelled or reissued line, is refused.
    """
    if outcome == "unknown":
        return "unknown"
    return TRANSITIONS.get((state, outcome), "refused")


def decide_sql(state: str, outcome: str) -> str:
    """``decide`` as a SQL expression over two text columns."""
    arms = " ".join(f"WHEN '{s}/{o}' THEN '{a}'" for (s, o), a in sorted(TRANSITIONS.items()))
    return (
        f"CASE WHEN {outcome} = 'unknown' THEN 'unknown' "
        f"ELSE CASE {state} || '/' || {outcome} {arms} ELSE 'refused' END END"
    )


def settlement_lines(
    county: str,
    fund: str,
    *,
    paid_fen: int = 0,
    failed_fen: int = 0,
    returned_fen: int = 0,
    suspense_fen: int = 0,
    from_suspense: bool = False,
) -> list[PostingLine]:
    """The postings of one (county, fund) settlement, one pair per outcome (回盘 entries).

    paid: Dr benefit expense / Cr in transit; failed: Dr special cash / Cr in transit;
    returned after payment: Dr special cash / Cr benefit expense; bank money that matched no
    payout: Dr special cash / Cr suspense (暂存款, a liability until a person places it).
    ``from_suspense``: the money already sits in suspense (a hand match of a line whose money
    was parked there), so suspense is debited instead of special cash.
    """
    cash = AccountKind.suspense if from_suspense else AccountKind.special_cash
    lines: list[PostingLine] = []
    if paid_fen:
        lines += pair(county, fund, AccountKind.benefit_expense, AccountKind.in_transit, paid_fen)
    if failed_fen:
        lines += pair(county, fund, cash, AccountKind.in_transit, failed_fen)
    if returned_fen:
        lines += pair(county, fund, cash, AccountKind.benefit_expense, returned_fen)
    if suspense_fen:
        lines += pair(county, fund, AccountKind.special_cash, AccountKind.suspense, suspense_fen)
    return lines


# ---- the match step --------------------------------------------------------------------------

_SETTLED_STATUSES = frozenset({"ACSC", "ACCC"})  # settlement completed: the money reached them


@dataclass(frozen=True)
class Matched:
    """A staged file whose lines are matched and decided: ``recon_line.action`` is set on every
    line, and the payouts the lines name are locked."""

    file: BankFile
    """The file, its bank now known."""
    batch: Any
    """The batch the file answers (None only for a camt.054 given none)."""
    counts: dict[str, Any]
    """Lines and amounts by action, as the file's answer gives them."""


def match(file: BankFile, staged: StagedFile, *, batch_id: int | None) -> Matched:
    """Match every staged line to a payout and decide what it does. ``batch_id``: the batch the
    caller says the file answers; otherwise the one the lines' references name."""
    batch = file.batch(batch_id) if batch_id is not None else None
    if staged.foreign_currency is not None:
        raise staged.foreign_currency
    # 1. Our reference, among this bank's payouts (another bank's lines never match).
    file.execute(
        "UPDATE recon_line s SET payout_id = p.id, matched_by = 'reference' FROM payout p "
        "WHERE s.reference IS NOT NULL AND p.reference = s.reference "
        "AND (CAST(:bank AS text) IS NULL OR p.bank_code = :bank)",
        bank=file.bank_code,
    )
    file, batch = _answered_batch(file, batch)
    if batch is not None and file.kind in ("csv_return", "pain.002"):
        _check_against_batch(file, staged.summary, batch)
    if batch is not None:
        _match_within_batch(file, batch.id)
        if file.kind == "pain.002":
            _stage_unlisted(file, staged.summary, batch.id)
    _decide(file)
    return Matched(file=file, batch=batch, counts=_counts(file))


def _answered_batch(file: BankFile, batch: Any) -> tuple[BankFile, Any]:
    """The bank that sent the file (the one given, else the one its references name) and the
    batch the file answers (the one given, else the one its references name)."""
    rows = file.execute(
        "SELECT p.batch_id, min(s.line_no) AS first_line, count(*) AS n FROM recon_line s "
        "JOIN payout p ON p.id = s.payout_id GROUP BY p.batch_id ORDER BY n DESC"
    ).all()
    if file.bank_code is None:
        banks = file.execute(
            "SELECT DISTINCT p.bank_code FROM recon_line s JOIN payout p ON p.id = s.payout_id"
        ).all()
        if len(banks) > 1:
            raise FileRejected("the lines name payouts of several banks; give the bank code")
        if banks:
            file = replace(file, bank_code=banks[0][0])
        elif batch is not None:
            file = replace(file, bank_code=batch.bank_code)
        else:
            raise FileRejected(
                "no line names a payout of ours: give the bank code and the batch it answers"
            )
    if file.kind == "camt.054":
        return file, batch
    if batch is not None:
        stray = next((r for r in rows if r.batch_id != batch.id), None)
        if stray is not None:
            raise FileRejected(
                f"the reference names a payout of batch {stray.batch_id}, not of batch "
                f"{batch.id} that this file answers",
                line=stray.first_line,
                field="reference",
            )
        return file, batch
    if len(rows) > 1:
        raise FileRejected(
            "a return file answers one batch, but its references name batches "
            + ", ".join(str(r.batch_id) for r in rows),
            line=rows[1].first_line,
            field="reference",
        )
    if not rows:
        raise FileRejected(
            f"no line names a payout that bank {file.bank_code} was sent, so the batch this "
            "file answers is unknown: give it",
            field="batch_id",
        )
    return file, file.batch(rows[0].batch_id)


def _check_against_batch(file: BankFile, s: FileSummary, batch: Any) -> None:
    """A CSV return file answers no more lines or money than the batch holds; a pain.002's
    declared count and sum are the batch's."""
    if file.kind == "csv_return":
        where = s.trailer_line
        if s.counted > batch.line_count:
            raise FileRejected(
                f"the file has {s.counted} lines but batch {batch.id} has {batch.line_count}",
                line=where,
                field="合计",
            )
        if s.counted_total_fen > batch.total_fen:
            raise FileRejected(
                f"the lines total {s.counted_total_fen} fen, more than batch {batch.id}'s "
                f"{batch.total_fen}",
                line=where,
                field="合计",
            )
    else:
        if s.declared_count is not None and s.declared_count != batch.line_count:
            raise FileRejected(
                f"OrgnlNbOfTxs {s.declared_count} ≠ {batch.line_count} lines of batch {batch.id}",
                field="OrgnlNbOfTxs",
            )
        if s.declared_total_fen is not None and s.declared_total_fen != batch.total_fen:
            raise FileRejected(
                f"OrgnlCtrlSum {s.declared_total_fen} fen ≠ batch {batch.id} total "
                f"{batch.total_fen} fen",
                field="OrgnlCtrlSum",
            )


def _match_within_batch(file: BankFile, batch_id: int) -> None:
    # 2. (batch, 序号), when the amount agrees.
    file.execute(
        "UPDATE recon_line s SET payout_id = p.id, matched_by = 'seq' FROM payout p "
        "WHERE s.payout_id IS NULL AND s.seq IS NOT NULL AND p.batch_id = :b "
        "AND p.seq = s.seq AND p.amount_fen = s.amount_fen",
        b=batch_id,
    )
    # 3. Normalised (account, amount, name), only when exactly one payout fits. The file
    # side is already NFKC-normalised with spaces and · removed by the parser.
    norm_account = "p.account_key"
    norm_name = "regexp_replace(p.payee_name, '[\\s·・•‧･]', '', 'g')"
    file.execute(
        "WITH cand AS (SELECT s.k, min(p.id) AS pid, count(*) AS n FROM recon_line s "
        f"JOIN payout p ON p.batch_id = :b AND p.amount_fen = s.amount_fen "
        f"AND {norm_account} = s.account_key AND {norm_name} = s.name "
        "WHERE s.payout_id IS NULL GROUP BY s.k) "
        "UPDATE recon_line s SET payout_id = c.pid, matched_by = 'account' FROM cand c "
        "WHERE c.k = s.k AND c.n = 1",
        b=batch_id,
    )
    # Fuzzy: the same amount, preferring a payout whose account or name agrees, among
    # sent payouts no line of this file took. Only a suggestion for a person.
    file.execute(
        "UPDATE recon_line s SET suggested = (SELECT p.id FROM payout p "
        "WHERE p.batch_id = :b AND p.state = 'sent' AND p.amount_fen = s.amount_fen "
        "AND NOT EXISTS (SELECT 1 FROM recon_line t WHERE t.payout_id = p.id) "
        f"ORDER BY ({norm_account} = s.account_key OR {norm_name} = s.name) DESC, p.id LIMIT 1) "
        "WHERE s.payout_id IS NULL",
        b=batch_id,
    )


def _stage_unlisted(file: BankFile, s: FileSummary, batch_id: int) -> None:
    """pain.002 often lists only rejected lines; the rest take the block or group status.

    Settlement completed (ACSC/ACCC) means paid; RJCT failed; any other accepted status
    (ACCP, ACSP, PART…) is not yet paid, so those lines stay sent.
    """
    block = s.payment_infos[0].pmt_inf_id if len(s.payment_infos) == 1 else None
    status = unlisted_status(s, block)
    code = (status or "").strip().upper()
    if code in _SETTLED_STATUSES:
        outcome = "paid"
    elif unlisted_outcome(status) == "failed":
        outcome = "failed"
    else:
        outcome = "accepted" if unlisted_outcome(status) == "accepted" else "unknown"
    info = next((i for i in s.payment_infos if i.pmt_inf_id == block and i.status), None)
    reason, raw_code, raw_text = (
        (info.reason, info.raw_code, info.raw_text)
        if info is not None
        else (s.group_reason, s.group_raw_code, s.group_raw_text)
    )
    file.execute(
        "INSERT INTO recon_line (line_no, reference, amount_fen, outcome, reason, raw_code, "
        "raw_text, payout_id, matched_by) SELECT NULL, p.reference, p.amount_fen, :o, "
        "CASE WHEN :o = 'failed' THEN COALESCE(CAST(:r AS text), 'unspecified') END, :rc, :rt, "
        "p.id, 'unlisted' FROM payout p WHERE p.batch_id = :b "
        "AND NOT EXISTS (SELECT 1 FROM recon_line s WHERE s.payout_id = p.id)",
        o=outcome,
        r=reason,
        rc=raw_code if outcome == "failed" else None,
        rt=raw_text if outcome == "failed" else None,
        b=batch_id,
    )


def _decide(file: BankFile) -> None:
    # Lock the touched payouts in id order before deciding from their states.
    file.execute(
        "WITH l AS (SELECT p.id FROM payout p WHERE p.id IN "
        "(SELECT payout_id FROM recon_line WHERE payout_id IS NOT NULL) "
        "ORDER BY p.id FOR UPDATE) SELECT count(*) FROM l"
    )
    # One pass decides every matched line. A payout named twice in one file: the first line
    # counts, the next ones are a duplicate (same outcome) or a conflict (another outcome).
    file.execute(
        "UPDATE recon_line s SET rn = r.rn, action = CASE "
        "WHEN r.rn > 1 THEN CASE WHEN r.first_outcome = s.outcome THEN 'duplicate' "
        "ELSE 'conflict' END "
        "WHEN s.outcome = 'accepted' THEN 'accepted' "
        "WHEN s.amount_fen IS NOT NULL AND s.amount_fen <> r.payout_fen THEN 'amount_mismatch' "
        f"ELSE {decide_sql('r.state', 's.outcome')} END "
        "FROM (SELECT t.k, row_number() OVER w AS rn, first_value(t.outcome) OVER w "
        "AS first_outcome, p.state, p.amount_fen AS payout_fen "
        "FROM recon_line t JOIN payout p ON p.id = t.payout_id "
        "WINDOW w AS (PARTITION BY t.payout_id ORDER BY t.k)) r WHERE r.k = s.k"
    )
    file.execute("UPDATE recon_line SET action = 'unmatched' WHERE payout_id IS NULL")


def _counts(file: BankFile) -> dict[str, Any]:
    counts: dict[str, Any] = {
        a: 0
        for a in (
            *APPLYING,
            "duplicate",
            "conflict",
            "refused",
            "unknown",
            "accepted",
            "unmatched",
            "amount_mismatch",
        )
    }
    amounts: dict[str, int] = {}
    for r in file.execute(
        "SELECT action, count(*) AS n, COALESCE(sum(amount_fen), 0) AS fen FROM recon_line "
        "GROUP BY action"
    ):
        counts[r.action] = r.n
        amounts[r.action] = int(r.fen)
    counts["amount_fen"] = {a: amounts.get(a, 0) for a in (*APPLYING, "unmatched")}
    return counts
