"""The person file (一人一档): everything about one person and their households, in one read.

Reached by ``person_key`` (the keyed hash of the ID number). The file covers the counties the
reader sees: roster versions, payout attempts with the entry that settled each, the stored
findings that name the person's payouts or households, the registers that match the person
(death, public payroll, staff relatives, holdings) the households' reviews and the complaints about the person or a household. Account numbers
are shown in full only to civil affairs and admins; the ID number is never stored in full.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.access.service import Principal
from ledger.errors import Forbidden, NotFound
from ledger.people.models import (
    ComplaintRef,
    FindingRef,
    PayoutAttemptPublic,
    PersonFile,
    RegisterMatch,
    ReviewRef,
    RosterVersionPublic,
)
from ledger.pii import decrypt, person_key

READERS = ("civil_affairs", "auditor", "admin")
FULL_ACCOUNTS = ("civil_affairs", "admin")


def key_of(id_number: str) -> str:
    return person_key(id_number)


def _account(enc: str, masked: str, full: bool) -> str:
    return decrypt(enc) if full else masked


def person_file(session: Session, *, key: str, principal: Principal) -> PersonFile:
    """The file of ``key`` as ``principal`` may read it; NotFound when the person is unknown in
    the reader's scope (a reader learns nothing of people outside it)."""
    if principal.role not in READERS:
        raise Forbidden(
            f"role {principal.role} does not read person files",
            [{"field": "role", "reason": "not allowed"}],
        )
    counties = sorted(
        c.strip()
        for c in session.execute(
            text(
                "SELECT county_code FROM roster_version WHERE person_key = :k UNION "
                "SELECT county_code FROM payout WHERE person_key = :k"
            ),
            {"k": key},
        ).scalars()
        if principal.sees(c.strip())
    )
    if not counties:
        raise NotFound(
            "no person file with this key in your scope",
            [{"field": "person_key", "reason": "unknown"}],
        )
    full = principal.role in FULL_ACCOUNTS
    params = {"k": key, "c": counties}
    roster_rows = session.execute(
        text(
            "SELECT * FROM roster_version WHERE person_key = :k AND county_code = ANY(:c) "
            "ORDER BY county_code, fund_code, valid_from, id"
        ),
        params,
    ).all()
    roster = []
    previous: dict[tuple[str, str], str] = {}
    for r in roster_rows:
        where = (r.county_code, r.fund_code)
        changed = where in previous and previous[where] != r.household_id
        previous[where] = r.household_id
        roster.append(
            RosterVersionPublic(
                id=r.id,
                county=r.county_code.strip(),
                fund=r.fund_code,
                valid_from=r.valid_from,
                active=r.active,
                household_id=r.household_id,
                household_changed=changed,
                payee_name=r.payee_name,
                township=r.township,
                village=r.village,
                household_size=r.household_size,
                amount_fen=r.amount_fen,
                bank_code=r.bank_code,
                account=_account(r.account_enc, r.account_masked, full),
                start_period=r.start_period,
                end_period=r.end_period,
            )
        )
    payout_rows = session.execute(
        text(
            "SELECT * FROM payout WHERE person_key = :k AND county_code = ANY(:c) "
            "ORDER BY period, fund_code, id"
        ),
        params,
    ).all()
    payouts = [
        PayoutAttemptPublic(
            id=p.id,
            reference=p.reference,
            batch_id=p.batch_id,
            county=p.county_code.strip(),
            fund=p.fund_code,
            period=p.period,
            amount_fen=p.amount_fen,
            state=p.state,
            reason_code=p.reason_code,
            bank_reason=p.raw_text,
            settling_entry_id=p.last_entry_id if p.state not in ("draft", "cancelled") else None,
            reissue_of=p.reissue_of,
            account=_account(p.account_enc, p.account_masked, full),
        )
        for p in payout_rows
    ]
    households = sorted(
        {(r.county_code.strip(), r.household_id) for r in roster_rows}
        | {(p.county_code.strip(), p.household_id) for p in payout_rows}
    )
    finding_rows = session.execute(
        text(
            "SELECT id, rule, severity, jurisdiction_code, period, batch_id, message FROM finding f "
            "WHERE EXISTS (SELECT 1 FROM unnest(CAST(:pids AS bigint[])) x "
            "  WHERE f.evidence->'payout_ids' @> to_jsonb(ARRAY[x]) "
            "  OR f.evidence->'payout_id' = to_jsonb(x) "
            "  OR f.evidence->'existing_payout_id' = to_jsonb(x)) "
            "OR EXISTS (SELECT 1 FROM unnest(CAST(:cs AS text[]), CAST(:hs AS text[])) h(c, hid) "
            "  WHERE f.jurisdiction_code = h.c AND (f.evidence->>'household_id' = h.hid "
            "  OR f.evidence->'household_ids' @> to_jsonb(ARRAY[h.hid]))) "
            "ORDER BY f.id"
        ),
        {
            "pids": [p.id for p in payout_rows],
            "cs": [c for c, _h in households],
            "hs": [h for _c, h in households],
        },
    ).all()
    found = [
        FindingRef(
            id=f.id,
            rule=f.rule,
            severity=f.severity,
            jurisdiction=f.jurisdiction_code.strip(),
            period=f.period,
            batch_id=f.batch_id,
            message=f.message,
        )
        for f in finding_rows
        if principal.sees(f.jurisdiction_code.strip())
    ]
    matches = [
        RegisterMatch(source=r.register, id=r.id, detail=r.detail, on=r.day, value_fen=r.value_fen)
        for r in session.execute(
            text(
                "SELECT 'death' AS register, id, name AS detail, date_of_death AS day, "
                "  CAST(NULL AS bigint) AS value_fen FROM death_record WHERE person_key = :k "
                "UNION ALL SELECT 'public_payroll', id, employer, NULL, NULL FROM public_payroll "
                "  WHERE person_key = :k "
                "UNION ALL SELECT 'staff_relative', id, staff_name || '（' || relation || '，' || "
                "  CASE WHEN filed THEN '已备案' ELSE '未备案' END || '）', filing_date, NULL "
                "  FROM staff_relative WHERE relative_person_key = :k "
                "UNION ALL SELECT 'holding', id, institution_kind || ' ' || institution || ' ' || "
                "  account_masked, as_of, value_fen FROM holding WHERE person_key = :k "
                "ORDER BY 1, 2"
            ),
            {"k": key},
        )
    ]
    reviews = [
        ReviewRef(
            id=r.id,
            county=r.county_code.strip(),
            household_id=r.household_id,
            kind=r.kind,
            reviewed_on=r.reviewed_on,
            outcome=r.outcome,
            reviewer=r.reviewer,
            assets_fen=r.assets_fen,
        )
        for r in session.execute(
            text(
                "SELECT * FROM household_review WHERE (county_code, household_id) IN "
                "(SELECT * FROM unnest(CAST(:cs AS char(6)[]), CAST(:hs AS text[]))) "
                "ORDER BY reviewed_on, id"
            ),
            {"cs": [c for c, _h in households], "hs": [h for _c, h in households]},
        )
    ]
    complaints = [
        ComplaintRef(
            id=c.id,
            reference=c.reference,
            channel=c.channel,
            received_on=c.received_on,
            jurisdiction=c.jurisdiction_code.strip(),
            concerns=c.concerns,
            content=c.content,
            deadline=c.deadline,
            outcome=c.outcome,
            closed_on=c.closed_on,
        )
        for c in session.execute(
            text(
                "SELECT * FROM complaint c WHERE c.person_key = :k OR EXISTS (SELECT 1 FROM "
                "unnest(CAST(:cs AS text[]), CAST(:hs AS text[])) h(c, hid) "
                "WHERE c.jurisdiction_code = h.c AND c.household_id = h.hid) "
                "ORDER BY c.received_on, c.id"
            ),
            {"k": key, "cs": [c for c, _h in households], "hs": [h for _c, h in households]},
        )
        if principal.sees(c.jurisdiction_code.strip())
    ]
    masked = next(
        iter(
            session.execute(
                text(
                    "SELECT id_masked FROM roster_version WHERE person_key = :k AND county_code = "
                    "ANY(:c) ORDER BY id DESC LIMIT 1"
                ),
                params,
            ).scalars()
        ),
        "",
    )
    names = sorted({r.payee_name for r in roster_rows} | {p.payee_name for p in payout_rows})
    return PersonFile(
        person_key=key,
        id_masked=masked,
        names=names,
        counties=counties,
        full_accounts=full,
        roster=roster,
        payouts=payouts,
        findings=found,
        matches=matches,
        reviews=reviews,
        complaints=complaints,
    )
