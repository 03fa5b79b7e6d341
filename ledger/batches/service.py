"""Payment batches (代发批次): build from the roster, check, acknowledge, release, hand to the bank.

Bulk paths are set-based: a batch of a million lines is one INSERT … SELECT to build and one
UPDATE to release; only the Merkle digest streams the lines through Python, in bounded memory.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

from cryptography.fernet import InvalidToken
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.access.audit import subtree_prefix
from ledger.access.service import Principal
from ledger.batches.instruction_files import InstructionHeader, InstructionLine
from ledger.checks.batch_rules import BatchScope, run_batch_checks, same_person_twice
from ledger.domain import release_lines
from ledger.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ledger.journal.service import post_entry
from ledger.jurisdictions.catalog import resolve_fund
from ledger.jurisdictions.service import fund_code
from ledger.payouts import release_root
from ledger.pii import account_key, decrypt
from ledger.roster.service import entitled_sql

_PERIOD_RE = r"^[0-9]{4}(0[1-9]|1[0-2])$"
_COPY_COLUMNS = (
    "person_key, household_id, household_size, township, village, payee_name, account_key, "
    "account_enc, account_masked, account_name, bank_code, amount_fen"
)


def get_batch(session: Session, batch_id: int, *, lock: bool = False) -> dict[str, Any]:
    row = (
        session.execute(
            text(
                "SELECT id, county_code, fund_code, period, bank_code, status, line_count, total_fen, "
                "merkle_root, release_entry_id, created_by, created_at, released_by, released_at "
                "FROM payment_batch WHERE id = :b" + (" FOR UPDATE" if lock else "")
            ),
            {"b": batch_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"payment batch {batch_id} does not exist")
    return dict(row)


def _scope(batch: dict[str, Any]) -> BatchScope:
    return BatchScope(
        batch["id"], batch["county_code"], batch["fund_code"], batch["period"], batch["bank_code"]
    )


def findings(session: Session, batch_id: int, *, latest_only: bool = True) -> list[dict[str, Any]]:
    """The batch's findings (of its latest check run unless asked otherwise: a run that found
    nothing is a run too, so a batch whose problem was mended has no findings)."""
    rows = session.execute(
        text(
            "SELECT id, rule, severity, message, evidence, run_id, created_at, acknowledged_by, "
            "acknowledged_at, ack_reason FROM finding WHERE batch_id = :b AND (NOT :latest OR "
            "run_id = (SELECT run_id FROM check_run WHERE batch_id = :b ORDER BY id DESC LIMIT 1)) "
            "ORDER BY id"
        ),
        {"b": batch_id, "latest": latest_only},
    ).mappings()
    return [dict(r) for r in rows]


def _reissue_problems(
    session: Session, *, county: str, fund: str, period: str, bank: str, ids: list[int]
) -> list[dict[str, Any]]:
    rows = {
        r.id: r
        for r in session.execute(
            text(
                "SELECT id, county_code, fund_code, period, state, bank_code, "
                "(SELECT r.batch_id FROM payout r WHERE r.reissue_of = o.id) AS reissued_in "
                "FROM payout o WHERE id = ANY(:ids)"
            ),
            {"ids": ids},
        )
    }
    problems = []
    for i, pid in enumerate(ids):
        r = rows.get(pid)
        reason = None
        if r is None:
            reason = "no such payout"
        elif (r.county_code, r.fund_code) != (county, fund):
            reason = "payout belongs to another county or fund"
        elif r.reissued_in is not None:
            reason = f"already reissued in batch {r.reissued_in}"
        elif r.state not in ("failed", "returned"):
            reason = f"only failed or returned payouts can be reissued, this one is {r.state}"
        elif r.period >= period:
            reason = "a reissue goes into a batch of a later period"
        if reason:
            problems.append(
                {"line": i + 1, "field": "reissue", "reason": f"payout {pid}: {reason}"}
            )
    return problems


def build_batch(
    session: Session,
    *,
    county: str,
    fund: str,
    period: str,
    bank_code: str,
    created_by: str,
    reissue: list[int] | None = None,
) -> dict[str, Any]:
    """One payout per entitled payee of the bank, plus the chosen failed payouts for reissue.

    Runs the pre-release checks and stores their findings with the batch.
    """
    spec = resolve_fund(fund)
    if spec is None:
        raise ValidationFailed(f"unknown fund {fund!r}", [{"field": "fund", "reason": "unknown"}])
    return _build(
        session,
        county=county,
        fund=spec.code,
        period=period,
        bank=bank_code,
        reissue=sorted(reissue or []),
        created_by=created_by,
    )


def _build(
    session: Session,
    *,
    county: str,
    fund: str,
    period: str,
    bank: str,
    reissue: list[int],
    created_by: str,
) -> dict[str, Any]:
    import re

    if not re.match(_PERIOD_RE, period):
        raise ValidationFailed("period must be YYYYMM", [{"field": "period", "reason": "invalid"}])
    if not session.execute(text("SELECT 1 FROM bank WHERE code = :b"), {"b": bank}).first():
        raise ValidationFailed(
            f"unknown bank {bank}", [{"field": "bank_code", "reason": "unknown"}]
        )
    problems = _reissue_problems(
        session, county=county, fund=fund, period=period, bank=bank, ids=reissue
    )
    if problems:
        raise ValidationFailed("some payouts cannot be reissued", problems)
    live = session.execute(
        text(
            "SELECT id FROM payment_batch WHERE county_code = :c AND fund_code = :f AND period = :p "
            "AND bank_code = :b AND status <> 'cancelled'"
        ),
        {"c": county, "f": fund, "p": period, "b": bank},
    ).first()
    if live:
        raise Conflict(
            f"batch {live.id} already covers {county}/{fund}/{period}/{bank}; cancel it first",
            [{"field": "period", "reason": "batch exists"}],
        )
    batch_id = session.execute(
        text(
            "INSERT INTO payment_batch (county_code, fund_code, period, bank_code, created_by) "
            "VALUES (:c, :f, :p, :b, :by) RETURNING id"
        ),
        {"c": county, "f": fund, "p": period, "b": bank, "by": created_by},
    ).scalar_one()
    params = {"c": county, "fund": fund, "period": period, "bank": bank, "ids": reissue}
    # Candidates first, so people who already have a live attempt can be reported and left out
    # instead of tripping the unique index halfway through a million-row insert.
    session.execute(
        text(
            "CREATE TEMP TABLE batch_candidate ON COMMIT DROP AS "
            f"SELECT {_COPY_COLUMNS}, CAST(:period AS char(6)) AS period, "
            "CAST(NULL AS bigint) AS reissue_of "
            f"FROM ({entitled_sql('county_code = :c AND fund_code = :fund')}) e "
            "WHERE bank_code = :bank "
            "UNION ALL "
            # A reissue pays the old amount for the old period to the account the roster now holds.
            "SELECT o.person_key, o.household_id, o.household_size, o.township, o.village, "
            "o.payee_name, COALESCE(r.account_key, o.account_key), "
            "COALESCE(r.account_enc, o.account_enc), COALESCE(r.account_masked, o.account_masked), "
            "COALESCE(r.account_name, o.account_name), :bank, o.amount_fen, o.period, o.id "
            f"FROM payout o LEFT JOIN ({entitled_sql('county_code = :c AND fund_code = :fund')}) r "
            "ON r.person_key = o.person_key WHERE o.id = ANY(:ids)"
        ),
        params,
    )
    scope = BatchScope(batch_id, county, fund, period, bank)
    duplicates = same_person_twice(session, scope, "batch_candidate")
    session.execute(text("SET LOCAL ledger.source = 'batch_build'"))
    session.execute(
        text(
            "INSERT INTO payout (batch_id, seq, reference, county_code, fund_code, period, "
            f"{_COPY_COLUMNS}, reissue_of) "
            # The number is drawn in a subquery, so that payout_reference (one SQL expression
            # of it) is inlined rather than called once per line.
            f"SELECT :b, seq, payout_reference(n), :c, :fund, period, {_COPY_COLUMNS}, "
            "reissue_of FROM (SELECT row_number() OVER (ORDER BY reissue_of NULLS FIRST, "
            "household_id, person_key) AS seq, nextval('payout_reference_seq') AS n, c.* "
            "FROM batch_candidate c WHERE NOT EXISTS (SELECT 1 FROM payout_live l "
            "WHERE l.person_key = c.person_key AND l.fund_code = :fund "
            "AND l.period = c.period)) c"
        ),
        {**params, "b": batch_id},
    )
    session.execute(text("DROP TABLE batch_candidate"))
    session.execute(
        text(
            "UPDATE payment_batch b SET line_count = t.n, total_fen = t.total FROM "
            "(SELECT count(*) AS n, CAST(COALESCE(sum(amount_fen), 0) AS bigint) AS total FROM payout "
            "WHERE batch_id = :b) t WHERE b.id = :b"
        ),
        {"b": batch_id},
    )
    found = run_batch_checks(session, scope, ran_by=created_by, earlier=duplicates)
    batch = get_batch(session, batch_id)
    return {**_public(batch), "findings": _tally(found)}


def _tally(found: list[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in found:
        out[f.rule] = out.get(f.rule, 0) + 1
    return out


def _public(batch: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in batch.items()}


def recheck_batch(session: Session, *, batch_id: int, ran_by: str) -> dict[str, Any]:
    """Run the checks again (e.g. after a new death register or once the county is funded);
    the run is recorded even when it finds nothing, and it decides release. Acknowledgements of
    the same rule and evidence carry over, since nothing about them changed."""
    batch = get_batch(session, batch_id, lock=True)
    if batch["status"] != "draft":
        raise Conflict(f"batch {batch_id} is {batch['status']}; only a draft is checked")
    previous = findings(session, batch_id)
    found = run_batch_checks(session, _scope(batch), ran_by=ran_by)
    session.execute(
        text(
            "UPDATE finding f SET acknowledged_by = o.acknowledged_by, acknowledged_at = "
            "o.acknowledged_at, ack_reason = o.ack_reason FROM finding o WHERE f.batch_id = :b "
            "AND o.batch_id = :b AND o.id = ANY(:old) AND f.id > ALL(:old) AND f.rule = o.rule "
            "AND f.evidence = o.evidence AND o.acknowledged_by IS NOT NULL"
        ),
        {"b": batch_id, "old": [f["id"] for f in previous] or [0]},
    )
    return {"batch_id": batch_id, "findings": _tally(found)}


def acknowledge(
    session: Session, *, batch_id: int, finding_ids: list[int], reason: str, by: str
) -> dict[str, Any]:
    """Acknowledge named warnings of the latest check run, each with the reason given, by a user
    other than the batch's maker (the database checks it too). Blocking findings never are."""
    if len(reason.strip()) < 2:
        raise ValidationFailed("a reason is required", [{"field": "reason", "reason": "empty"}])
    if not finding_ids:
        raise ValidationFailed(
            "name each finding to acknowledge", [{"field": "finding_ids", "reason": "empty"}]
        )
    batch = get_batch(session, batch_id, lock=True)
    if batch["status"] != "draft":
        raise Conflict(f"batch {batch_id} is {batch['status']}")
    if batch["created_by"] == by:
        raise Forbidden(
            "the maker of a batch cannot acknowledge its warnings: a second user must",
            [{"field": "acknowledged_by", "reason": "same person as the batch's maker"}],
        )
    latest = {f["id"]: f for f in findings(session, batch_id)}
    problems = [
        {
            "field": "finding_ids",
            "reason": f"finding {i} is not a finding of this batch's latest check run",
        }
        for i in finding_ids
        if i not in latest
    ] + [
        {
            "field": "finding_ids",
            "reason": f"finding {i} is blocking: mend its cause and re-run the checks",
        }
        for i in finding_ids
        if i in latest and latest[i]["severity"] == "blocking"
    ]
    if problems:
        raise ValidationFailed(
            "only warnings of the batch's latest check run can be acknowledged", problems
        )
    ids = sorted({i for i in finding_ids if latest[i]["acknowledged_by"] is None})
    session.execute(
        text(
            "UPDATE finding SET acknowledged_by = :by, acknowledged_at = now(), ack_reason = :r "
            "WHERE id = ANY(:ids)"
        ),
        {"by": by, "r": reason.strip(), "ids": ids},
    )
    return {"batch_id": batch_id, "acknowledged": len(ids), "finding_ids": ids}


def acknowledged_warnings(session: Session, batch_id: int) -> list[dict[str, Any]]:
    """The acknowledged warnings of the latest check run: rule, who, when and why."""
    return [
        {
            "finding_id": f["id"],
            "rule": f["rule"],
            "message": f["message"],
            "acknowledged_by": f["acknowledged_by"],
            "acknowledged_at": f["acknowledged_at"],
            "reason": f["ack_reason"],
        }
        for f in findings(session, batch_id)
        if f["acknowledged_by"] is not None
    ]


def digest(session: Session, batch_id: int) -> str:
    """The Merkle root of the batch's lines in seq order, as ``ledger verify`` recomputes it."""
    return release_root(session, batch_id)


def release_batch(
    session: Session,
    *,
    batch_id: int,
    released_by: str,
    effective_date: dt.date | None = None,
) -> dict[str, Any]:
    """Second person releases: one entry Dr in transit / Cr special cash for the total, committed
    to the lines' digest; every draft payout moves to sent; reissued originals to reissued.
    The answer lists the warnings that were acknowledged, and by whom."""
    return _release(session, batch_id, released_by, effective_date)


def _release(
    session: Session, batch_id: int, released_by: str, effective_date: dt.date | None
) -> dict[str, Any]:
    batch = get_batch(session, batch_id, lock=True)
    if batch["status"] != "draft":
        raise Conflict(
            f"batch {batch_id} is {batch['status']}", [{"field": "status", "reason": "not draft"}]
        )
    if batch["created_by"] == released_by:
        raise Conflict(
            "the person who built a batch cannot release it (maker-checker)",
            [{"field": "released_by", "reason": "same person as the maker"}],
        )
    open_items = [
        f
        for f in findings(session, batch_id)
        if f["severity"] == "blocking" or (f["severity"] == "warning" and not f["acknowledged_by"])
    ]
    if open_items:
        raise Conflict(
            f"batch {batch_id} has {len(open_items)} blocking or unacknowledged finding(s)",
            [
                {
                    "line": None,
                    "field": f"finding {f['id']}",
                    "reason": f"{f['rule']}: {f['message']}",
                }
                for f in open_items[:100]
            ],
        )
    totals = session.execute(
        text(
            "SELECT count(*) AS n, CAST(COALESCE(sum(amount_fen), 0) AS bigint) AS total FROM payout "
            "WHERE batch_id = :b AND state = 'draft'"
        ),
        {"b": batch_id},
    ).one()
    if totals.n == 0:
        raise Conflict(f"batch {batch_id} has no lines to release")
    root = digest(session, batch_id)
    entry = post_entry(
        session,
        kind="batch_release",
        lines=release_lines(batch["county_code"], batch["fund_code"], totals.total),
        created_by=released_by,
        effective_date=effective_date,
        memo=f"代发 {batch['county_code']} {batch['fund_code']} {batch['period']} "
        f"{batch['bank_code']}: {totals.n} lines",
        document_type="payment_batch",
        document_id=str(batch_id),
        payload_digest=root,
    )
    session.execute(text("SET LOCAL ledger.source = 'batch_release'"))
    session.execute(
        text(
            "UPDATE payout SET state = 'sent', last_entry_id = :e, updated_at = now() "
            "WHERE batch_id = :b AND state = 'draft'"
        ),
        {"b": batch_id, "e": entry.id},
    )
    session.execute(
        text(
            "UPDATE payout SET state = 'reissued', updated_at = now() WHERE id IN "
            "(SELECT reissue_of FROM payout WHERE batch_id = :b AND reissue_of IS NOT NULL)"
        ),
        {"b": batch_id},
    )
    session.execute(
        text(
            "UPDATE payment_batch SET status = 'released', line_count = :n, total_fen = :t, "
            "merkle_root = :root, release_entry_id = :e, released_by = :by, released_at = now() "
            "WHERE id = :b"
        ),
        {
            "n": totals.n,
            "t": totals.total,
            "root": root,
            "e": entry.id,
            "by": released_by,
            "b": batch_id,
        },
    )
    return {
        "batch_id": batch_id,
        "status": "released",
        "line_count": totals.n,
        "total_fen": totals.total,
        "merkle_root": root,
        "entry_id": entry.id,
        "entry_hash": entry.hash,
        "acknowledged_warnings": acknowledged_warnings(session, batch_id),
    }


def cancel_batch(session: Session, *, batch_id: int, by: str) -> dict[str, Any]:
    """Withdraw a draft: its lines are cancelled (their people free for a new batch)."""
    batch = get_batch(session, batch_id, lock=True)
    if batch["status"] != "draft":
        raise Conflict(f"batch {batch_id} is {batch['status']}; only a draft can be cancelled")
    session.execute(text("SET LOCAL ledger.source = 'batch_cancel'"))
    # A cancelled line never happened: unlink it from the payout it would have reissued so
    # that payout can still be reissued once.
    n = session.execute(
        text(
            "WITH u AS (UPDATE payout SET state = 'cancelled', reissue_of = NULL, "
            "updated_at = now() WHERE batch_id = :b AND state = 'draft' RETURNING 1) "
            "SELECT count(*) FROM u"
        ),
        {"b": batch_id},
    ).scalar_one()
    session.execute(
        text("UPDATE payment_batch SET status = 'cancelled' WHERE id = :b"), {"b": batch_id}
    )
    return {"batch_id": batch_id, "status": "cancelled", "cancelled_lines": n, "by": by}


# ---- instruction files ---------------------------------------------------------------------


def instruction_header(session: Session, batch: dict[str, Any]) -> InstructionHeader:
    names = session.execute(
        text(
            "SELECT j.name AS county_name, f.name AS fund_name, f.budget_function_code, "
            "k.name AS bank_name FROM jurisdiction j, fund f, bank k "
            "WHERE j.code = :c AND f.code = :f AND k.code = :b"
        ),
        {"c": batch["county_code"], "f": batch["fund_code"], "b": batch["bank_code"]},
    ).one()
    released = batch["released_at"] or dt.datetime.now(dt.UTC)
    return InstructionHeader(
        batch_id=batch["id"],
        message_id=f"B{batch['id']:010d}{batch['period']}",
        county_code=batch["county_code"],
        county_name=names.county_name,
        fund_code=batch["fund_code"],
        fund_name=names.fund_name,
        period=batch["period"],
        # The fund's special account (专户) at the paying bank, named by county and budget code.
        payer_account=f"{batch['county_code']}{names.budget_function_code}",
        payer_name=f"{names.county_name}民政局{names.fund_name}专户",
        bank_code=batch["bank_code"],
        bank_name=names.bank_name,
        created_at=released,
        line_count=batch["line_count"],
        total_fen=batch["total_fen"],
    )


def instruction_lines(session: Session, batch_id: int) -> Iterator[InstructionLine]:
    """The lines with their full account numbers: the one place the ciphertext is opened."""
    result = session.execute(
        text(
            "SELECT seq, reference, account_key, account_enc, account_name, amount_fen, "
            "payee_name FROM payout WHERE batch_id = :b AND state <> 'cancelled' ORDER BY seq"
        ).execution_options(yield_per=20000),
        {"b": batch_id},
    )
    for r in result:
        yield InstructionLine(
            r.seq,
            r.reference,
            opened_account(r.account_key, r.account_enc, batch_id=batch_id, seq=r.seq),
            r.account_name,
            r.amount_fen,
            r.payee_name,
        )


def opened_account(key: str, enc: str, *, batch_id: int, seq: int) -> str:
    """Decrypt a line's account and check it against the key the batch digest commits to: a
    ciphertext swapped in the database would otherwise send the money elsewhere unnoticed."""
    try:
        account = decrypt(enc)
    except InvalidToken:
        account = ""
    if not account or account_key(account) != key:
        raise Conflict(
            f"batch {batch_id}, line {seq}: the stored account does not match its key",
            [{"line": seq, "field": "account", "reason": "account changed outside the service"}],
        )
    return account


def list_batches(
    session: Session,
    *,
    principal: Principal,
    bank: str | None = None,
    county: str | None = None,
    fund: str | None = None,
    period: str | None = None,
    status: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Batches the principal may see, oldest first, up to ``limit + 1`` (the extra row says a
    next page exists): a bank only those addressed to it, everyone else those of their subtree."""
    if principal.role == "bank":
        if bank is not None and bank != principal.bank_code:
            raise Forbidden(
                f"a bank user sees only the batches of bank {principal.bank_code}",
                [{"field": "bank", "reason": "not your bank"}],
            )
        bank, prefix = principal.bank_code, ""
    else:
        prefix = subtree_prefix(principal.jurisdiction)
    rows = session.execute(
        text(
            "SELECT id, county_code, fund_code, period, bank_code, status, line_count, total_fen, "
            "merkle_root, release_entry_id, created_by, created_at, released_by, released_at "
            "FROM payment_batch WHERE id > :after AND county_code LIKE :prefix || '%' "
            "AND (CAST(:bank AS text) IS NULL OR bank_code = :bank) "
            "AND (CAST(:county AS text) IS NULL OR county_code = :county) "
            "AND (CAST(:fund AS text) IS NULL OR fund_code = :fund) "
            "AND (CAST(:period AS text) IS NULL OR period = :period) "
            "AND (CAST(:status AS text) IS NULL OR status = :status) ORDER BY id LIMIT :lim"
        ),
        {
            "after": after_id,
            "prefix": prefix,
            "bank": bank,
            "county": county,
            "fund": fund_code(session, fund) if fund else None,
            "period": period,
            "status": status,
            "lim": limit + 1,
        },
    ).mappings()
    return [dict(r) for r in rows]


def list_payouts(
    session: Session,
    batch_id: int,
    *,
    state: str | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """A batch's payout lines in id order (up to ``limit + 1``), the account masked: who may
    read the batch may read its lines; the full account is only in the bank's instruction file."""
    rows = session.execute(
        text(
            "SELECT o.id, o.seq, o.reference, o.payee_name, o.account_masked, o.household_size, "
            "o.township, o.village, o.amount_fen, o.state, o.reason_code, o.raw_text, o.reissue_of, "
            "(SELECT r.batch_id FROM payout r WHERE r.reissue_of = o.id) AS reissued_in "
            "FROM payout o WHERE o.batch_id = :b AND o.id > :after "
            "AND (CAST(:state AS text) IS NULL OR o.state = :state) ORDER BY o.id LIMIT :lim"
        ),
        {"b": batch_id, "after": after_id, "state": state, "lim": limit + 1},
    ).mappings()
    return [dict(r) for r in rows]


def instruction_file_name(session: Session, batch: dict[str, Any], ext: str = "csv") -> str:
    """``ICBCGD_440103_荔湾区_城市低保_202406_批次12.csv``: bank, county, fund, period, batch —
    a name a bank clerk can file without opening it."""
    county = session.execute(
        text("SELECT name FROM jurisdiction WHERE code = :c"), {"c": batch["county_code"]}
    ).scalar()
    spec = resolve_fund(batch["fund_code"])
    parts = [
        batch["bank_code"],
        batch["county_code"].strip(),
        str(county or ""),
        spec.name if spec else batch["fund_code"],
        batch["period"].strip(),
        f"批次{batch['id']}",
    ]
    return re.sub(r'[\\/:*?"<>|\s]+', "-", "_".join(p for p in parts if p)) + f".{ext}"
