"""Fund documents: made by one finance user, approved by another of the same bureau, then posted.

Allocations, transfers, reallocations and reversals (冲销) alike: a reversal names a posted
document's entry and a reason, and its approval posts the mirror entries and marks the original
``reversed`` (linked both ways). A draft can be rejected by a checker or withdrawn by its maker.

Approval and posting are one transaction: an approved document is a posted one, and an approval
the books refuse (not enough special cash, a closed period) changes nothing at all.
Lock order: the document row, then post_entry's accounts and chain head.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ledger.access.audit import subtree_prefix
from ledger.access.service import Principal
from ledger.domain import allocation_lines, period_of, reallocation_lines, transfer_lines
from ledger.errors import Conflict, Forbidden, NotFound, PeriodClosed, ValidationFailed
from ledger.journal.service import post_entry, reverse_entry, reversible_entry, translate_db_error
from ledger.jurisdictions.catalog import resolve_fund
from ledger.money import fen_to_str

_SELECT = (
    "SELECT d.id, d.doc_type, d.number, d.bureau_id, d.jurisdiction_code AS jurisdiction, "
    "d.to_jurisdiction, d.fund_code AS fund, d.to_fund_code AS to_fund, d.fiscal_year, "
    "d.effective_date, d.amount_fen, d.memo, d.status, m.username AS created_by, d.created_at, "
    "c.username AS approved_by, d.approved_at, d.entry_id, d.second_entry_id, "
    "d.reverses_document_id, d.reversed_by_document_id, d.reason, x.username AS decided_by, "
    "d.decided_at, d.decision_reason, "
    "d.created_by AS maker_id FROM fund_document d JOIN app_user m ON m.id = d.created_by "
    "LEFT JOIN app_user c ON c.id = d.approved_by LEFT JOIN app_user x ON x.id = d.decided_by "
)


def _public(row: Any) -> dict[str, Any]:
    doc = dict(row)
    doc["amount"] = fen_to_str(doc.pop("amount_fen"))
    doc["entry_ids"] = [e for e in (doc.pop("entry_id"), doc.pop("second_entry_id")) if e]
    doc.pop("maker_id", None)
    return doc


def _fund(value: str, field: str) -> str:
    spec = resolve_fund(value)
    if spec is None:
        raise ValidationFailed(
            f"fund {value!r} does not exist", [{"field": field, "reason": "unknown fund"}]
        )
    return spec.code


def create_document(
    session: Session,
    *,
    principal: Principal,
    doc_type: str,
    number: str,
    fiscal_year: int,
    amount_fen: int,
    fund: str,
    to_jurisdiction: str | None = None,
    to_fund: str | None = None,
    memo: str = "",
    effective_date: date | None = None,
) -> dict[str, Any]:
    """Record a draft issued by the principal's bureau; nothing posts until another user approves."""
    if principal.role != "finance":
        raise Forbidden(
            "only a finance bureau issues fund documents",
            [{"field": "role", "reason": "not allowed"}],
        )
    fund_code = _fund(fund, "from_fund" if doc_type == "reallocation" else "fund")
    to_fund_code = _fund(to_fund, "to_fund") if to_fund is not None else None
    if to_fund_code == fund_code:
        raise ValidationFailed(
            "a reallocation moves money between two different funds",
            [{"field": "to_fund", "reason": "same as from_fund"}],
        )
    effective_date = effective_date or date.today()
    if effective_date.year != fiscal_year:
        raise ValidationFailed(
            f"effective date {effective_date} is outside fiscal year {fiscal_year}",
            [{"field": "effective_date", "reason": "outside the fiscal year"}],
        )
    if to_jurisdiction is not None:
        _check_direct_child(session, principal.jurisdiction, to_jurisdiction)
    _refuse_closed(session, effective_date)
    return _insert(
        session,
        principal=principal,
        doc_type=doc_type,
        number=number,
        jurisdiction=principal.jurisdiction,
        to_jurisdiction=to_jurisdiction,
        fund=fund_code,
        to_fund=to_fund_code,
        fiscal_year=fiscal_year,
        effective_date=effective_date,
        amount_fen=amount_fen,
        memo=memo,
    )


def _refuse_closed(session: Session, effective_date: date) -> None:
    """A draft dated into a closed period could never post: say so when it is made."""
    period = period_of(effective_date)
    through = session.execute(text("SELECT max(period) FROM fiscal_period_close")).scalar()
    if through is not None and period <= through:
        raise PeriodClosed(
            f"the books are closed through {through}: date the document in the open period "
            "(a correction of a closed month goes into the open one and names what it corrects)",
            [{"field": "effective_date", "reason": f"period {period} is closed"}],
        )


def _insert(
    session: Session,
    *,
    principal: Principal,
    doc_type: str,
    number: str,
    jurisdiction: str,
    to_jurisdiction: str | None,
    fund: str,
    to_fund: str | None,
    fiscal_year: int,
    effective_date: date,
    amount_fen: int,
    memo: str,
    reverses_document_id: int | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    try:
        row = session.execute(
            text(
                "INSERT INTO fund_document (doc_type, number, bureau_id, jurisdiction_code, "
                "to_jurisdiction, fund_code, to_fund_code, fiscal_year, effective_date, amount_fen, "
                "memo, created_by, reverses_document_id, reason) VALUES (:t, :n, :b, :j, :tj, :f, "
                ":tf, :y, :d, :a, :m, :u, :rev, :why) RETURNING id"
            ),
            {
                "t": doc_type,
                "n": number,
                "b": principal.bureau_id,
                "j": jurisdiction,
                "tj": to_jurisdiction,
                "f": fund,
                "tf": to_fund,
                "y": fiscal_year,
                "d": effective_date,
                "a": amount_fen,
                "m": memo,
                "u": principal.user_id,
                "rev": reverses_document_id,
                "why": reason,
            },
        ).one()
    except IntegrityError as exc:
        if "fund_document_number_unique" in str(exc.orig):
            raise Conflict(
                f"document number {number} was already issued by this bureau",
                [{"field": "number", "reason": "not unique within the issuing bureau"}],
            ) from exc
        if "fund_document_one_reversal" in str(exc.orig):
            raise Conflict(
                "that document already has a reversal awaiting approval or posted",
                [{"field": "entry_id", "reason": "already being reversed"}],
            ) from exc
        raise translate_db_error(exc) from exc
    return get_document(session, document_id=int(row[0]))


def create_reversal(
    session: Session,
    *,
    principal: Principal,
    entry_id: int,
    reason: str,
    effective_date: date | None = None,
    number: str | None = None,
) -> dict[str, Any]:
    """Draft the reversal (冲销) of a posted document's entry: made by a finance user of the bureau
    that issued the original, with a reason; it posts only when another user of that bureau
    approves it. A correction of a closed month is dated in the open period."""
    if len(reason.strip()) < 2:
        raise ValidationFailed(
            "a reversal needs a reason", [{"field": "reason", "reason": "required"}]
        )
    entry = reversible_entry(session, entry_id)
    original = (
        session.execute(text(_SELECT + "WHERE d.id = :i"), {"i": int(entry.document_id)})
        .mappings()
        .first()
    )
    if original is None or original["status"] != "posted":
        raise Conflict(
            f"entry {entry_id} belongs to a document that is not posted",
            [{"field": "entry_id", "reason": "document not posted"}],
        )
    if principal.role != "finance" or principal.bureau_id != original["bureau_id"]:
        raise Forbidden(
            "a reversal is made by a finance user of the bureau that issued the original",
            [{"field": "role", "reason": "not a finance user of the issuing bureau"}],
        )
    effective_date = effective_date or date.today()
    _refuse_closed(session, effective_date)
    return _insert(
        session,
        principal=principal,
        doc_type="reversal",
        number=number or f"冲销-{original['number']}",
        jurisdiction=original["jurisdiction"],
        to_jurisdiction=None,
        fund=original["fund"],
        to_fund=None,
        fiscal_year=effective_date.year,
        effective_date=effective_date,
        amount_fen=int(original["amount_fen"]),
        memo=f"冲销 {original['number']}（entry {entry_id}）",
        reverses_document_id=int(original["id"]),
        reason=reason.strip(),
    )


def _check_direct_child(session: Session, sender: str, receiver: str) -> None:
    """Transfers go one level down: central → province, province → city (Dongguan and Zhongshan
    included, they have no counties), city → county."""
    parent = session.execute(
        text("SELECT parent_code FROM jurisdiction WHERE code = :c"), {"c": receiver}
    ).first()
    if parent is None:
        raise ValidationFailed(
            f"jurisdiction {receiver} does not exist",
            [{"field": "to_jurisdiction", "reason": "unknown code"}],
        )
    if parent[0] != sender:
        raise ValidationFailed(
            f"{receiver} is not a direct child of {sender}: transfers go one level down",
            [{"field": "to_jurisdiction", "reason": "not a direct child of the issuer"}],
        )


def get_document(session: Session, *, document_id: int) -> dict[str, Any]:
    row = session.execute(text(_SELECT + "WHERE d.id = :i"), {"i": document_id}).mappings().first()
    if row is None:
        raise NotFound(
            f"document {document_id} does not exist",
            [{"field": "document_id", "reason": "unknown"}],
        )
    return _public(row)


def document_scope(session: Session, *, document_id: int) -> tuple[str, str | None]:
    """(issuer, receiver) of a document, for the scope check before anything else is read."""
    row = session.execute(
        text("SELECT jurisdiction_code, to_jurisdiction FROM fund_document WHERE id = :i"),
        {"i": document_id},
    ).first()
    if row is None:
        raise NotFound(
            f"document {document_id} does not exist",
            [{"field": "document_id", "reason": "unknown"}],
        )
    return row[0], row[1]


def list_documents(
    session: Session,
    *,
    jurisdiction: str,
    fiscal_year: int | None = None,
    status: str | None = None,
    limit: int = 100,
    after_id: int = 0,
) -> list[dict[str, Any]]:
    """Documents issued by or addressed to ``jurisdiction`` itself."""
    rows = (
        session.execute(
            text(
                _SELECT + "WHERE (d.jurisdiction_code = :j OR d.to_jurisdiction = :j) "
                "AND (CAST(:y AS integer) IS NULL OR d.fiscal_year = :y) "
                "AND (CAST(:s AS text) IS NULL OR d.status = :s) AND d.id > :after "
                "ORDER BY d.id LIMIT :lim"
            ),
            {"j": jurisdiction, "y": fiscal_year, "s": status, "after": after_id, "lim": limit},
        )
        .mappings()
        .all()
    )
    return [_public(r) for r in rows]


def document_queue(
    session: Session,
    *,
    principal: Principal,
    status: str | None = None,
    awaiting_me: bool = False,
    after_id: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Documents issued by or addressed to the principal's subtree, in id order (up to
    ``limit + 1``). ``awaiting_me``: drafts of the principal's own bureau made by someone else —
    the ones this user may approve or reject."""
    prefix = subtree_prefix(principal.jurisdiction)
    rows = (
        session.execute(
            text(
                _SELECT + "WHERE (d.jurisdiction_code LIKE :p || '%' OR d.to_jurisdiction LIKE "
                ":p || '%') AND (CAST(:s AS text) IS NULL OR d.status = :s) AND (NOT :mine OR "
                "(d.status = 'draft' AND d.bureau_id = :bureau AND d.created_by <> :uid)) "
                "AND d.id > :after ORDER BY d.id LIMIT :lim"
            ),
            {
                "p": prefix,
                "s": status,
                "mine": awaiting_me,
                "bureau": principal.bureau_id,
                "uid": principal.user_id,
                "after": after_id,
                "lim": limit + 1,
            },
        )
        .mappings()
        .all()
    )
    return [_public(r) for r in rows]


def _locked_draft(session: Session, document_id: int) -> Any:
    doc = (
        session.execute(text(_SELECT + "WHERE d.id = :i FOR UPDATE OF d"), {"i": document_id})
        .mappings()
        .first()
    )
    if doc is None:
        raise NotFound(
            f"document {document_id} does not exist",
            [{"field": "document_id", "reason": "unknown"}],
        )
    return doc


def approve_document(session: Session, *, principal: Principal, document_id: int) -> dict[str, Any]:
    """Approve and post a draft; returns ``{"document", "newly_approved"}``.

    The checker is a finance user of the issuing bureau other than the maker. Approving a posted
    document again is a no-op that returns it unchanged.
    """
    doc = _locked_draft(session, document_id)
    if principal.role != "finance" or principal.bureau_id != doc["bureau_id"]:
        raise Forbidden(
            "a document is approved by a finance user of the bureau that issued it",
            [{"field": "role", "reason": "not a finance user of the issuing bureau"}],
        )
    if principal.user_id == doc["maker_id"]:
        raise Forbidden(
            "the maker of a document cannot approve it",
            [{"field": "approved_by", "reason": "maker and checker must differ"}],
        )
    if doc["status"] in ("rejected", "withdrawn"):
        raise Conflict(
            f"document {document_id} was {doc['status']}; issue a new one",
            [{"field": "status", "reason": doc["status"]}],
        )
    newly = doc["status"] == "draft"
    if newly:
        entry_ids = _post(session, doc, principal.username)
        session.execute(
            text(
                "UPDATE fund_document SET status = 'posted', approved_by = :u, approved_at = now(), "
                "entry_id = :e1, second_entry_id = :e2 WHERE id = :i"
            ),
            {
                "u": principal.user_id,
                "e1": entry_ids[0],
                "e2": entry_ids[1] if len(entry_ids) > 1 else None,
                "i": document_id,
            },
        )
        if doc["doc_type"] == "reversal":
            session.execute(
                text(
                    "UPDATE fund_document SET status = 'reversed', reversed_by_document_id = :r "
                    "WHERE id = :o"
                ),
                {"r": document_id, "o": doc["reverses_document_id"]},
            )
    return {"document": get_document(session, document_id=document_id), "newly_approved": newly}


def decide_draft(
    session: Session, *, principal: Principal, document_id: int, decision: str, reason: str
) -> dict[str, Any]:
    """Reject (a checker of the issuing bureau, not the maker) or withdraw (the maker) a draft,
    with a reason. Nothing was posted, so nothing is undone."""
    if len(reason.strip()) < 2:
        raise ValidationFailed("a reason is required", [{"field": "reason", "reason": "empty"}])
    doc = _locked_draft(session, document_id)
    if doc["status"] != "draft":
        raise Conflict(
            f"document {document_id} is {doc['status']}; only a draft can be {decision}",
            [{"field": "status", "reason": doc["status"]}],
        )
    if decision == "withdrawn":
        if principal.user_id != doc["maker_id"]:
            raise Forbidden(
                "only the maker withdraws a draft; a checker rejects it",
                [{"field": "user", "reason": "not the maker"}],
            )
    elif principal.role != "finance" or principal.bureau_id != doc["bureau_id"]:
        raise Forbidden(
            "a draft is rejected by a finance user of the bureau that issued it",
            [{"field": "role", "reason": "not a finance user of the issuing bureau"}],
        )
    elif principal.user_id == doc["maker_id"]:
        raise Forbidden(
            "the maker withdraws a draft; a rejection is another user's decision",
            [{"field": "user", "reason": "maker and checker must differ"}],
        )
    session.execute(
        text(
            "UPDATE fund_document SET status = :st, decided_by = :u, decided_at = now(), "
            "decision_reason = :r WHERE id = :i"
        ),
        {"st": decision, "u": principal.user_id, "r": reason.strip(), "i": document_id},
    )
    return get_document(session, document_id=document_id)


def _post(session: Session, doc: Any, checker: str) -> list[int]:
    amount, fund = int(doc["amount_fen"]), doc["fund"]
    jur, doc_type = doc["jurisdiction"], doc["doc_type"]
    if doc_type == "reversal":
        original = get_document(session, document_id=int(doc["reverses_document_id"]))
        return [
            reverse_entry(
                session,
                entry_id=entry_id,
                created_by=checker,
                reversal_document_id=int(doc["id"]),
                memo=f"{doc['number']}: {doc['reason']}",
                effective_date=doc["effective_date"],
            ).id
            for entry_id in original["entry_ids"]
        ]
    if doc_type == "allocation":
        batches = [allocation_lines(jur, fund, amount)]
    elif doc_type == "transfer":
        batches = [transfer_lines(jur, doc["to_jurisdiction"], fund, amount)]
    else:
        batches = reallocation_lines(jur, fund, doc["to_fund"], amount)
    return [
        post_entry(
            session,
            kind=doc_type,
            lines=lines,
            created_by=checker,
            effective_date=doc["effective_date"],
            memo=f"{doc['number']} {doc['memo']}".strip(),
            document_type=doc_type,
            document_id=str(doc["id"]),
        ).id
        for lines in batches
    ]
