"""Fund documents: made by one finance user, approved by another of the same bureau, then posted.

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

from ledger.access.service import Principal
from ledger.domain import allocation_lines, reallocation_lines, transfer_lines
from ledger.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ledger.journal import idempotency
from ledger.journal.service import post_entry, translate_db_error
from ledger.jurisdictions.catalog import resolve_fund
from ledger.money import fen_to_str

_SELECT = (
    "SELECT d.id, d.doc_type, d.number, d.bureau_id, d.jurisdiction_code AS jurisdiction, "
    "d.to_jurisdiction, d.fund_code AS fund, d.to_fund_code AS to_fund, d.fiscal_year, "
    "d.effective_date, d.amount_fen, d.memo, d.status, m.username AS created_by, d.created_at, "
    "c.username AS approved_by, d.approved_at, d.entry_id, d.second_entry_id, "
    "d.created_by AS maker_id FROM fund_document d JOIN app_user m ON m.id = d.created_by "
    "LEFT JOIN app_user c ON c.id = d.approved_by "
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
    key: str,
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
    body = {
        "doc_type": doc_type,
        "number": number,
        "fiscal_year": fiscal_year,
        "amount_fen": amount_fen,
        "fund": fund,
        "to_jurisdiction": to_jurisdiction,
        "to_fund": to_fund,
        "memo": memo,
        "effective_date": effective_date,
    }
    stored = idempotency.claim(session, key=key, operation=f"document:{doc_type}", body=body)
    if stored is not None:
        return stored
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
    try:
        row = session.execute(
            text(
                "INSERT INTO fund_document (doc_type, number, bureau_id, jurisdiction_code, "
                "to_jurisdiction, fund_code, to_fund_code, fiscal_year, effective_date, amount_fen, "
                "memo, created_by) VALUES (:t, :n, :b, :j, :tj, :f, :tf, :y, :d, :a, :m, :u) "
                "RETURNING id"
            ),
            {
                "t": doc_type,
                "n": number,
                "b": principal.bureau_id,
                "j": principal.jurisdiction,
                "tj": to_jurisdiction,
                "f": fund_code,
                "tf": to_fund_code,
                "y": fiscal_year,
                "d": effective_date,
                "a": amount_fen,
                "m": memo,
                "u": principal.user_id,
            },
        ).one()
    except IntegrityError as exc:
        if "fund_document_number_unique" in str(exc.orig):
            raise Conflict(
                f"document number {number} was already issued by this bureau",
                [{"field": "number", "reason": "not unique within the issuing bureau"}],
            ) from exc
        raise translate_db_error(exc) from exc
    doc = get_document(session, document_id=int(row[0]))
    idempotency.record(session, key=key, response=doc, status_code=201)
    session.commit()
    return doc


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


def approve_document(
    session: Session, *, principal: Principal, key: str, document_id: int
) -> tuple[dict[str, Any], bool]:
    """Approve and post a draft; returns (document, newly approved).

    The checker is a finance user of the issuing bureau other than the maker. Approving a posted
    document again is a no-op that returns it unchanged.
    """
    stored = idempotency.claim(
        session, key=key, operation=f"approve:{document_id}", body={"document_id": document_id}
    )
    if stored is not None:
        return stored["document"], bool(stored["newly_approved"])
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
    result = get_document(session, document_id=document_id)
    idempotency.record(session, key=key, response={"document": result, "newly_approved": newly})
    session.commit()
    return result, newly


def _post(session: Session, doc: Any, checker: str) -> list[int]:
    amount, fund = int(doc["amount_fen"]), doc["fund"]
    jur, doc_type = doc["jurisdiction"], doc["doc_type"]
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
