"""Settling payouts from bank files (回盘), reconciling statements, and the exceptions queue.

One file is one transaction: the file row, the entries, every payout change and every queued
line commit together or not at all, so a crash halfway leaves nothing and a retry applies the
whole file once. ``import_bank_file`` applies a return file in four steps, each a module:
``staging`` (lines COPYed into ``recon_line``), ``matching`` (each line's payout and action),
``posting`` (the journal, only through ``ledger.journal.service.post_entry``) and ``applying``
(the file row, the payouts, the exceptions); a camt.053 statement is reconciled by
``statements``. Lines are settled with set-based SQL. Reading files and resolving exceptions
are here too.
"""

from __future__ import annotations

from datetime import date
from typing import IO, Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.access.service import Principal
from ledger.batches.settlement import settle_payouts, settlement_table
from ledger.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ledger.filebytes import ByteSource
from ledger.jobs.models import ProgressFn
from ledger.journal import service as journal
from ledger.jurisdictions.catalog import level_of
from reconciliation.applying import apply
from reconciliation.bankfile import BankFile, new_file_id
from reconciliation.matching import APPLYING, decide, match, settlement_lines
from reconciliation.parsers import FileRejected, check_totals, load_column_map, open_return_file
from reconciliation.posting import post
from reconciliation.staging import stage
from reconciliation.statements import reconcile_statement


def _rejected(exc: FileRejected) -> ValidationFailed:
    return ValidationFailed(
        f"the file was not applied: {exc}",
        [{"line": exc.line, "field": exc.field, "reason": exc.reason}],
    )


# ---- import ----------------------------------------------------------------------------------


def import_bank_file(
    session: Session,
    *,
    data: bytes | IO[bytes] | ByteSource,
    uploaded_by: str,
    principal: Principal | None = None,
    bank_code: str | None = None,
    batch_id: int | None = None,
    county: str | None = None,
    fund: str | None = None,
    filename: str = "",
    progress: ProgressFn | None = None,
    value_date: date | None = None,
) -> dict[str, Any]:
    """Store a bank file as received and apply it, or return the first import of the same bytes.

    ``principal`` is the uploading bank user (their bank is then the file's bank and only their
    own batches can be touched); the CLI passes ``bank_code`` or lets the file tell it. Raises
    ValidationFailed (nothing applied) naming the line and the reason. ``progress(done, total)``
    is told the lines read (the total of a CSV file is its line count; of XML, unknown).
    ``value_date`` is the day a return file's settlement entries are dated (the day the bank
    paid or returned the lines; default today): never a day of a closed period.

    ``data`` is read in pieces, pass by pass (hash, encoding, parse, store), never whole: give
    a seekable file (a spooled upload) for a large one.
    """
    if principal is not None and principal.role == "bank":
        bank_code = principal.bank_code
    source = ByteSource.of(data)
    sha = source.sha256
    # Two uploads of the same bytes serialise here; the second then finds the first's row.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:s, 7))"), {"s": sha})
    first = session.execute(
        text("SELECT result FROM bank_file WHERE sha256 = :s"), {"s": sha}
    ).first()
    if first is not None:
        return {**first.result, "replayed": True}
    if not source.size:
        raise ValidationFailed("the file is empty", [{"line": 1, "reason": "no content"}])
    try:
        # Read once: a return file is parsed while it is staged, and its totals are checked
        # from that pass before any line is applied (see ``staging.stage``).
        parsed = open_return_file(source, column_map=load_column_map(bank_code))
        if parsed.summary.kind == "camt.053":
            for _ in parsed.lines():
                pass
            check_totals(parsed)
    except FileRejected as exc:
        raise _rejected(exc) from None
    if value_date is not None and parsed.summary.kind == "camt.053":
        raise ValidationFailed(
            "a statement books nothing: its dates are its own; a value date is for return files",
            [{"field": "value_date", "reason": "not for camt.053"}],
        )
    file = BankFile(
        session,
        file_id=new_file_id(session),
        sha=sha,
        kind=parsed.summary.kind,
        source=source,
        bank_code=bank_code,
        uploaded_by=uploaded_by,
        filename=filename,
        principal=principal,
        value_date=value_date,
    )
    try:
        if file.kind == "camt.053":
            result = reconcile_statement(
                file, parsed.summary, batch_id=batch_id, county=county, fund=fund
            )
        else:
            staged = stage(file, parsed, progress=progress)
            matched = match(file, staged, batch_id=batch_id)
            entries = post(matched)
            result = apply(staged, matched, entries)
    except FileRejected as exc:
        raise _rejected(exc) from None
    return {**result, "replayed": False}


# ---- reads -----------------------------------------------------------------------------------


def get_bank_file(session: Session, *, file_id: int, principal: Principal) -> dict[str, Any]:
    row = session.execute(
        text(
            "SELECT id, bank_code, county_code, uploaded_by, uploaded_at, filename, result "
            "FROM bank_file WHERE id = :i"
        ),
        {"i": file_id},
    ).first()
    if row is None:
        raise NotFound(f"bank file {file_id} does not exist")
    if not _may_see(principal, row.bank_code, row.county_code):
        raise Forbidden(f"bank file {file_id} is outside your scope")
    return {
        **row.result,
        "uploaded_by": row.uploaded_by,
        "uploaded_at": row.uploaded_at,
        "filename": row.filename,
    }


def _may_see(principal: Principal, bank_code: str | None, county: str | None) -> bool:
    if principal.role == "bank":
        return principal.bank_code == bank_code
    if county is None:
        return level_of(principal.jurisdiction) <= 1
    return principal.sees(county)


def _scope_sql(principal: Principal) -> tuple[str, dict[str, Any]]:
    if principal.role == "bank":
        return "f.bank_code = :scope", {"scope": principal.bank_code}
    level = level_of(principal.jurisdiction)
    if level <= 1:
        return "true", {}
    prefix = principal.jurisdiction[:4] if level == 2 else principal.jurisdiction
    return "x.county_code LIKE :scope", {"scope": prefix + "%"}


def list_exceptions(
    session: Session,
    *,
    principal: Principal,
    status: str | None = "open",
    bank_file_id: int | None = None,
    after_id: int = 0,
    limit: int = 100,
    awaiting_me: bool = False,
) -> list[dict[str, Any]]:
    """Exceptions in the principal's scope; ``awaiting_me``: open ones this user may act on —
    not uploaded by them, and either without a proposal or proposed by someone else."""
    where, params = _scope_sql(principal)
    if awaiting_me:
        where += (
            " AND x.status = 'open' AND f.uploaded_by <> :me"
            " AND (x.proposed_by IS NULL OR x.proposed_by <> :me)"
        )
        params["me"] = principal.username
    rows = session.execute(
        text(
            "SELECT x.*, f.uploaded_by FROM recon_exception x JOIN bank_file f "
            f"ON f.id = x.bank_file_id WHERE {where} "
            "AND (CAST(:st AS text) IS NULL OR x.status = :st) "
            "AND (CAST(:bf AS bigint) IS NULL OR x.bank_file_id = :bf) AND x.id > :after "
            "ORDER BY x.id LIMIT :lim"
        ),
        {**params, "st": status, "bf": bank_file_id, "after": after_id, "lim": limit},
    ).mappings()
    return [dict(r) for r in rows]


# ---- resolution ------------------------------------------------------------------------------


_RESOLVED = {"match": "matched", "refer": "referred", "write_off": "written_off"}


def _locked_exception(session: Session, exception_id: int, principal: Principal) -> Any:
    x = session.execute(
        text(
            "SELECT x.*, f.uploaded_by, f.bank_code FROM recon_exception x "
            "JOIN bank_file f ON f.id = x.bank_file_id WHERE x.id = :i FOR UPDATE OF x"
        ),
        {"i": exception_id},
    ).first()
    if x is None:
        raise NotFound(f"exception {exception_id} does not exist")
    if not _may_see(principal, x.bank_code, x.county_code):
        raise Forbidden(f"exception {exception_id} is outside your scope")
    if x.status != "open":
        raise Conflict(f"exception {exception_id} was already resolved ({x.status})")
    if principal.username == x.uploaded_by:
        raise Forbidden(
            "the person who uploaded the file cannot decide its exceptions",
            [{"field": "user", "reason": "same person as the uploader"}],
        )
    return x


def propose_resolution(
    session: Session,
    *,
    exception_id: int,
    action: str,
    reason: str,
    principal: Principal,
    payout_id: int | None = None,
) -> dict[str, Any]:
    """Propose how an exception is resolved (match by hand, refer, write off to suspense), with
    a reason. Nothing posts: a second user who is neither the proposer nor the uploader approves
    it. A new proposal replaces an undecided one."""
    if action not in _RESOLVED:
        raise ValidationFailed(
            "action must be match, refer or write_off", [{"field": "action", "reason": "unknown"}]
        )
    if not reason.strip():
        raise ValidationFailed("a reason is required", [{"field": "reason", "reason": "empty"}])
    x = _locked_exception(session, exception_id, principal)
    if action == "match":
        _check_match(session, x, payout_id, principal)
    elif action == "write_off" and not x.suspense_fen:
        raise ValidationFailed(
            "nothing of this line sits in suspense: refer it instead",
            [{"field": "action", "reason": "no suspense to write off"}],
        )
    session.execute(
        text(
            "UPDATE recon_exception SET proposed_action = :a, proposed_payout_id = :p, "
            "proposed_reason = :r, proposed_by = :by, proposed_at = now() WHERE id = :i"
        ),
        {
            "a": action,
            "p": payout_id if action == "match" else None,
            "r": reason.strip(),
            "by": principal.username,
            "i": x.id,
        },
    )
    return get_exception(session, exception_id=x.id)


def decide_resolution(
    session: Session, *, exception_id: int, principal: Principal, approve: bool, reason: str = ""
) -> dict[str, Any]:
    """Approve the proposal (it posts when it moves money) or turn it down (the exception stays
    open, free for a new proposal). The decider is neither the proposer nor the uploader."""
    x = _locked_exception(session, exception_id, principal)
    if x.proposed_by is None:
        raise Conflict(
            f"exception {exception_id} has no proposal to decide",
            [{"field": "proposal", "reason": "none"}],
        )
    if principal.username == x.proposed_by:
        raise Forbidden(
            "the proposer of a resolution cannot approve it: a second user must",
            [{"field": "user", "reason": "same person as the proposer"}],
        )
    if not approve:
        if not reason.strip():
            raise ValidationFailed("a reason is required", [{"field": "reason", "reason": "empty"}])
        session.execute(
            text(
                "UPDATE recon_exception SET proposed_action = NULL, proposed_payout_id = NULL, "
                "proposed_reason = NULL, proposed_by = NULL, proposed_at = NULL WHERE id = :i"
            ),
            {"i": x.id},
        )
        return {**get_exception(session, exception_id=x.id), "turned_down_because": reason.strip()}
    entry_id: int | None = None
    matched: int | None = None
    if x.proposed_action == "match":
        entry_id, matched = _match_by_hand(
            session, x, x.proposed_payout_id, principal, x.proposed_reason
        )
    session.execute(
        text(
            "UPDATE recon_exception SET status = :st, resolved_by = :by, resolved_at = now(), "
            "resolution_reason = :r, resolution_entry_id = :e, matched_payout_id = :p WHERE id = :i"
        ),
        {
            "st": _RESOLVED[x.proposed_action],
            "by": principal.username,
            "r": x.proposed_reason,
            "e": entry_id,
            "p": matched,
            "i": x.id,
        },
    )
    return get_exception(session, exception_id=x.id)


def get_exception(session: Session, *, exception_id: int) -> dict[str, Any]:
    row = (
        session.execute(
            text(
                "SELECT x.*, f.uploaded_by FROM recon_exception x JOIN bank_file f "
                "ON f.id = x.bank_file_id WHERE x.id = :i"
            ),
            {"i": exception_id},
        )
        .mappings()
        .one()
    )
    return dict(row)


def _check_match(session: Session, x: Any, payout_id: int | None, principal: Principal) -> Any:
    """What a hand match needs, checked when it is proposed and again when it is approved."""
    if x.problem != "unmatched":
        raise ValidationFailed(
            f"a {x.problem} line cannot be matched by hand: refer it",
            [{"field": "action", "reason": "only unmatched lines are matched by hand"}],
        )
    if payout_id is None:
        raise ValidationFailed(
            "give the payout to match", [{"field": "payout_id", "reason": "required"}]
        )
    p = session.execute(
        text(
            "SELECT id, batch_id, county_code, fund_code, bank_code, amount_fen, state "
            "FROM payout WHERE id = :p FOR UPDATE"
        ),
        {"p": payout_id},
    ).first()
    if p is None or not principal.sees(p.county_code) or p.bank_code != x.bank_code:
        raise NotFound(f"payout {payout_id} does not exist in your scope or the file's bank")
    if x.batch_id is not None and p.batch_id != x.batch_id:
        raise ValidationFailed(
            f"payout {payout_id} is not in batch {x.batch_id} that the file answers",
            [{"field": "payout_id", "reason": "another batch"}],
        )
    if x.amount_fen is not None and x.amount_fen != p.amount_fen:
        raise ValidationFailed(
            f"the line is {x.amount_fen} fen, the payout {p.amount_fen} fen",
            [{"field": "payout_id", "reason": "amount differs"}],
        )
    action = decide(p.state, x.outcome)
    if action not in APPLYING:
        raise Conflict(
            f"payout {payout_id} is {p.state}: a {x.outcome} line {action} it",
            [{"field": "payout_id", "reason": f"{p.state} + {x.outcome} is {action}"}],
        )
    parked = bool(x.suspense_fen) and (p.county_code, p.fund_code) == (x.county_code, x.fund_code)
    if x.suspense_fen and not parked:
        raise ValidationFailed(
            "the line's money sits in the suspense of another county or fund",
            [{"field": "payout_id", "reason": "other books"}],
        )
    return p, action, parked


def _match_by_hand(
    session: Session, x: Any, payout_id: int | None, principal: Principal, reason: str
) -> tuple[int, int]:
    p, action, parked = _check_match(session, x, payout_id, principal)
    posted = journal.post_entry(
        session,
        kind="settlement",
        lines=settlement_lines(
            p.county_code,
            p.fund_code,
            paid_fen=p.amount_fen if action == "paid" else 0,
            failed_fen=p.amount_fen if action == "failed" else 0,
            returned_fen=p.amount_fen if action == "returned" else 0,
            from_suspense=parked,
        ),
        created_by=principal.username,
        memo=f"exception {x.id} matched by hand to payout {p.id}: {reason}",
        document_type="recon_exception",
        document_id=str(x.id),
    )
    settlement_table(session)
    session.execute(
        text(
            "INSERT INTO settlement_staging (payout_id, state, entry_id, reason_code, raw_code, "
            "raw_text, bank_file_id, line_no, exception_id) "
            "VALUES (:p, :st, :e, :rc, :raw, :txt, :f, :ln, :x)"
        ),
        {
            "st": action,
            "e": posted.id,
            "rc": x.reason_code,
            "raw": x.raw_code,
            "txt": x.raw_text,
            "p": p.id,
            "f": x.bank_file_id,
            "ln": x.line_no,
            "x": x.id,
        },
    )
    settle_payouts(session, source=f"recon_exception:{x.id}")
    return posted.id, p.id


# ---- verify ----------------------------------------------------------------------------------


def check_suspense(session: Session, report: Any) -> None:
    """Suspense of each (county, fund) equals the money of its unplaced exception lines."""
    rows = session.execute(
        text(
            "WITH gl AS (SELECT jurisdiction_code AS j, fund_code AS f, -balance_fen AS fen "
            "FROM account WHERE kind = 'suspense'), "
            "q AS (SELECT county_code AS j, fund_code AS f, sum(suspense_fen) AS fen "
            "FROM recon_exception WHERE status <> 'matched' AND suspense_fen > 0 GROUP BY 1, 2) "
            "SELECT COALESCE(gl.j, q.j) AS j, COALESCE(gl.f, q.f) AS f, "
            "COALESCE(gl.fen, 0) AS gl, COALESCE(q.fen, 0) AS queued "
            "FROM gl FULL JOIN q ON gl.j = q.j AND gl.f = q.f "
            "WHERE COALESCE(gl.fen, 0) <> COALESCE(q.fen, 0)"
        )
    ).all()
    for r in rows:
        report.fail(f"{r.j}/{r.f}: suspense {r.gl} vs unplaced bank lines {r.queued}")
