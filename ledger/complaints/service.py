"""Complaints and reports (举报核查): recorded with a deadline of N working days from receipt
(weekends and the ``holiday`` table skipped), closed with an outcome, linked to the findings they
opened or closed. The public may submit one without an account, bounded in size and in number
per client address and hour (counted in the database), and follow it with its reference."""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.config import get_settings
from ledger.errors import Conflict, NotFound, TooManyRequests, ValidationFailed
from ledger.pii import person_key

REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read over the phone


def add_working_days(start: date, days: int, holidays: set[date]) -> date:
    """The ``days``-th working day after ``start`` (the day of receipt itself not counted)."""
    day, left = start, days
    while left > 0:
        day += timedelta(days=1)
        if day.weekday() < 5 and day not in holidays:
            left -= 1
    return day


def holidays(session: Session, start: date, end: date) -> set[date]:
    return set(
        session.execute(
            text("SELECT day FROM holiday WHERE day BETWEEN :a AND :b"), {"a": start, "b": end}
        ).scalars()
    )


def deadline_for(session: Session, received_on: date, days: int | None = None) -> date:
    n = days or get_settings().complaint_working_days
    # n working days fit in 2n + 30 calendar days unless a month of holidays intervenes
    return add_working_days(
        received_on, n, holidays(session, received_on, received_on + timedelta(days=3 * n + 60))
    )


def _reference() -> str:
    return "TS" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(10))


def _link(session: Session, complaint_id: int, finding_ids: list[int], relation: str) -> None:
    if not finding_ids:
        return
    known = set(
        session.execute(
            text("SELECT id FROM finding WHERE id = ANY(:ids)"), {"ids": finding_ids}
        ).scalars()
    )
    missing = sorted(set(finding_ids) - known)
    if missing:
        raise ValidationFailed(
            "unknown findings",
            [{"field": "finding_ids", "reason": f"no finding {i}"} for i in missing],
        )
    session.execute(
        text(
            "INSERT INTO complaint_finding (complaint_id, finding_id, relation) "
            "SELECT :c, unnest(CAST(:ids AS bigint[])), :r ON CONFLICT DO NOTHING"
        ),
        {"c": complaint_id, "ids": sorted(known), "r": relation},
    )


def create_complaint(
    session: Session,
    *,
    channel: str,
    received_on: date,
    jurisdiction: str,
    concerns: str,
    content: str,
    created_by: str,
    id_number: str | None = None,
    household_id: str | None = None,
    batch_id: int | None = None,
    handler: str | None = None,
    finding_ids: list[int] | None = None,
) -> dict[str, Any]:
    needed = {"person": id_number, "household": household_id, "batch": batch_id}
    if concerns in needed and not needed[concerns]:
        field = {"person": "id_number", "household": "household_id", "batch": "batch_id"}[concerns]
        raise ValidationFailed(
            f"a complaint about a {concerns} names it", [{"field": field, "reason": "required"}]
        )
    if received_on > date.today():
        raise ValidationFailed(
            "a complaint cannot be received in the future",
            [{"field": "received_on", "reason": "in the future"}],
        )
    if batch_id is not None:
        county = session.execute(
            text("SELECT county_code FROM payment_batch WHERE id = :b"), {"b": batch_id}
        ).scalar()
        if county is None or county.strip() != jurisdiction:
            raise ValidationFailed(
                "the batch is not one of this jurisdiction",
                [{"field": "batch_id", "reason": "unknown here"}],
            )
    row = session.execute(
        text(
            "INSERT INTO complaint (reference, channel, received_on, jurisdiction_code, concerns, "
            "person_key, household_id, batch_id, content, handler, deadline, created_by) VALUES "
            "(:ref, :ch, :rec, :j, :con, :pk, :h, :b, :content, :handler, :dl, :by) RETURNING id"
        ),
        {
            "ref": _reference(),
            "ch": channel,
            "rec": received_on,
            "j": jurisdiction,
            "con": concerns,
            "pk": person_key(id_number) if id_number else None,
            "h": household_id,
            "b": batch_id,
            "content": content,
            "handler": handler,
            "dl": deadline_for(session, received_on),
            "by": created_by,
        },
    ).scalar_one()
    _link(session, row, finding_ids or [], "opened")
    return get_complaint(session, complaint_id=row)


def close_complaint(
    session: Session,
    *,
    complaint_id: int,
    outcome: str,
    closed_on: date,
    closed_by: str,
    finding_ids: list[int] | None = None,
) -> dict[str, Any]:
    current = get_complaint(session, complaint_id=complaint_id, lock=True)
    if current["closed_on"] is not None:
        raise Conflict(
            f"complaint {complaint_id} is already closed",
            [{"field": "complaint_id", "reason": "closed"}],
        )
    if closed_on < current["received_on"] or closed_on > date.today():
        raise ValidationFailed(
            "closed on a day before its receipt or in the future",
            [{"field": "closed_on", "reason": "out of range"}],
        )
    session.execute(
        text("UPDATE complaint SET outcome = :o, closed_on = :d, closed_by = :by WHERE id = :id"),
        {"o": outcome, "d": closed_on, "by": closed_by, "id": complaint_id},
    )
    _link(session, complaint_id, finding_ids or [], "closed")
    return get_complaint(session, complaint_id=complaint_id)


def get_complaint(session: Session, *, complaint_id: int, lock: bool = False) -> dict[str, Any]:
    row = (
        session.execute(
            text("SELECT * FROM complaint WHERE id = :id" + (" FOR UPDATE" if lock else "")),
            {"id": complaint_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(
            f"no complaint {complaint_id}", [{"field": "complaint_id", "reason": "unknown"}]
        )
    links = session.execute(
        text(
            "SELECT finding_id, relation FROM complaint_finding WHERE complaint_id = :id ORDER BY 1"
        ),
        {"id": complaint_id},
    ).all()
    return {
        "id": row["id"],
        "reference": row["reference"],
        "channel": row["channel"],
        "received_on": row["received_on"],
        "jurisdiction": row["jurisdiction_code"].strip(),
        "concerns": row["concerns"],
        "person_key": row["person_key"],
        "household_id": row["household_id"],
        "batch_id": row["batch_id"],
        "content": row["content"],
        "handler": row["handler"],
        "deadline": row["deadline"],
        "outcome": row["outcome"],
        "closed_on": row["closed_on"],
        "closed_by": row["closed_by"],
        "opened_findings": [r.finding_id for r in links if r.relation == "opened"],
        "closed_findings": [r.finding_id for r in links if r.relation == "closed"],
    }


def complaint_jurisdiction(session: Session, complaint_id: int) -> str:
    code = session.execute(
        text("SELECT jurisdiction_code FROM complaint WHERE id = :id"), {"id": complaint_id}
    ).scalar()
    if code is None:
        raise NotFound(
            f"no complaint {complaint_id}", [{"field": "complaint_id", "reason": "unknown"}]
        )
    return str(code).strip()


def list_complaints(session: Session, *, pattern: str, limit: int = 500) -> list[dict[str, Any]]:
    ids = session.execute(
        text(
            "SELECT id FROM complaint WHERE jurisdiction_code LIKE :p "
            "ORDER BY received_on DESC, id DESC LIMIT :n"
        ),
        {"p": pattern, "n": limit},
    ).scalars()
    return [get_complaint(session, complaint_id=i) for i in ids]


def submit_public(
    session: Session,
    *,
    jurisdiction: str,
    content: str,
    client_addr: str,
    today: date | None = None,
) -> dict[str, Any]:
    """An unauthenticated submission (channel ``web``). At most
    ``public_complaints_per_hour`` per client address in any hour; the count is taken under a
    transaction-scoped advisory lock on the address, so concurrent requests cannot slip past."""
    limit = get_settings().public_complaints_per_hour
    session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('public:' || :a))"), {"a": client_addr}
    )
    recent = session.execute(
        text(
            "SELECT count(*) FROM public_submission WHERE client_addr = :a "
            "AND submitted_at > now() - interval '1 hour'"
        ),
        {"a": client_addr},
    ).scalar_one()
    if recent >= limit:
        raise TooManyRequests(
            f"at most {limit} submissions an hour from one address; try again later",
            [{"field": None, "reason": "rate limited"}],
        )
    known = session.execute(
        text("SELECT 1 FROM jurisdiction WHERE code = :j"), {"j": jurisdiction}
    ).first()
    if known is None:
        raise ValidationFailed(
            "unknown jurisdiction", [{"field": "jurisdiction", "reason": "unknown"}]
        )
    made = create_complaint(
        session,
        channel="web",
        received_on=today or date.today(),
        jurisdiction=jurisdiction,
        concerns="jurisdiction",
        content=content,
        created_by="public",
    )
    session.execute(
        text("INSERT INTO public_submission (client_addr, complaint_id) VALUES (:a, :c)"),
        {"a": client_addr, "c": made["id"]},
    )
    return public_status(session, reference=made["reference"])


def public_status(session: Session, *, reference: str) -> dict[str, Any]:
    row = session.execute(
        text(
            "SELECT reference, received_on, deadline, closed_on FROM complaint WHERE reference = :r"
        ),
        {"r": reference},
    ).first()
    if row is None:
        raise NotFound(
            "no complaint with this reference", [{"field": "reference", "reason": "unknown"}]
        )
    return {
        "reference": row.reference,
        "received_on": row.received_on,
        "deadline": row.deadline,
        "status": "closed" if row.closed_on else "open",
        "closed_on": row.closed_on,
    }
