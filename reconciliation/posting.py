"""Posting a matched return file: one settlement entry per (county, fund) it moves.

The step after ``matching``: each entry carries a pair of postings per outcome (paid, failed,
returned) and, in the batch's books, the bank money of lines that matched nothing (to suspense),
written only through ``ledger.journal.service.post_entry``. Every account of every (county,
fund) is locked in id order before the first entry takes the chain head. The entries are
recorded in the temporary table ``recon_entry`` (county, fund, entry), which ``applying`` reads.
"""

from __future__ import annotations

from typing import Any

from ledger.journal import service as journal
from ledger.jurisdictions.service import ensure_charts
from reconciliation.matching import Matched, settlement_lines


def post(matched: Matched) -> list[int]:
    """Post the file's entries; their ids, in (county, fund) order."""
    file, batch = matched.file, matched.batch
    rows = file.execute(
        "SELECT p.county_code AS county, p.fund_code AS fund, s.action, "
        "sum(p.amount_fen) AS fen, count(*) AS n, "
        "array_agg(DISTINCT p.last_entry_id) FILTER (WHERE s.action = 'returned') AS paid_by "
        "FROM recon_line s JOIN payout p ON p.id = s.payout_id "
        "WHERE s.action IN ('paid', 'failed', 'returned') GROUP BY 1, 2, 3"
    ).all()
    books: dict[tuple[str, str], dict[str, Any]] = {}
    for r in rows:
        b = books.setdefault((r.county, r.fund), {"paid_by": set()})
        b[r.action] = int(r.fen)
        b[r.action + "_n"] = r.n
        b["paid_by"].update(e for e in (r.paid_by or []) if e is not None)
    if batch is not None:
        # Bank money on lines that matched nothing: parked in suspense of the batch's books.
        parked = file.execute(
            "SELECT COALESCE(sum(amount_fen), 0) AS fen, count(*) AS n FROM recon_line "
            "WHERE action = 'unmatched' AND outcome IN ('failed', 'returned') "
            "AND amount_fen IS NOT NULL"
        ).one()
        if parked.fen:
            b = books.setdefault((batch.county_code, batch.fund_code), {"paid_by": set()})
            b["suspense"] = int(parked.fen)
            b["suspense_n"] = parked.n
    file.execute(
        "CREATE TEMP TABLE recon_entry (county text, fund text, entry_id bigint) ON COMMIT DROP"
    )
    if not books:
        return []
    pairs = sorted(books)
    ensure_charts(file.session, set(pairs))
    # Every account of every (county, fund) is locked before the first entry takes the
    # chain head: the journal's lock order (accounts, then head) holds across the file.
    file.execute(
        "WITH l AS (SELECT id FROM account WHERE (jurisdiction_code, fund_code) IN "
        "(SELECT * FROM unnest(CAST(:j AS text[]), CAST(:f AS text[]))) "
        "AND kind IN ('special_cash', 'in_transit', 'benefit_expense', 'suspense') "
        "ORDER BY id FOR UPDATE) SELECT count(*) FROM l",
        j=[p[0] for p in pairs],
        f=[p[1] for p in pairs],
    )
    entries: list[int] = []
    for county, fund in pairs:
        b = books[(county, fund)]
        memo = (
            f"{file.kind} bank file {file.file_id}: {b.get('paid_n', 0)} paid, "
            f"{b.get('failed_n', 0)} failed, {b.get('returned_n', 0)} returned, "
            f"{b.get('suspense_n', 0)} unmatched to suspense"
        )
        if b["paid_by"]:
            memo += "; returns of payouts paid by entries " + ", ".join(
                str(e) for e in sorted(b["paid_by"])
            )
        posted = journal.post_entry(
            file.session,
            kind="settlement",
            lines=settlement_lines(
                county,
                fund,
                paid_fen=b.get("paid", 0),
                failed_fen=b.get("failed", 0),
                returned_fen=b.get("returned", 0),
                suspense_fen=b.get("suspense", 0),
            ),
            created_by=file.uploaded_by,
            effective_date=file.value_date,
            memo=memo,
            document_type="bank_file",
            document_id=str(file.file_id),
            payload_digest=file.sha,
        )
        entries.append(posted.id)
        file.execute("INSERT INTO recon_entry VALUES (:c, :f, :e)", c=county, f=fund, e=posted.id)
    return entries
