"""Applying a posted return file: its row and its answer, the payouts moved, the exceptions queued.

The last step, after ``posting``: the file is stored as received (encrypted, chunk by chunk)
with its ``bank_file`` row holding the answer the upload gets; what each matched payout became
is handed to ``ledger.batches.settlement.settle_payouts``, naming the entry of its (county,
fund) from ``recon_entry``; the lines a person must look at go to ``recon_exception``.
``store`` also records a reconciled statement (``statements``).
"""

from __future__ import annotations

import json
from typing import Any

from ledger.batches.settlement import settle_payouts, settlement_table
from reconciliation.bankfile import BankFile
from reconciliation.filestore import CHUNKED, store_chunks
from reconciliation.matching import QUEUED, Matched
from reconciliation.parsers import FileRejected, FileSummary
from reconciliation.staging import StagedFile


def apply(staged: StagedFile, matched: Matched, entries: list[int]) -> dict[str, Any]:
    """Store the file with its answer, settle its payouts and queue its exceptions; the answer."""
    file, batch, s = matched.file, matched.batch, staged.summary
    failed_by_reason = {
        r.reason: r.n
        for r in file.execute(
            "SELECT COALESCE(reason, 'unspecified') AS reason, count(*) AS n FROM recon_line "
            "WHERE action = 'failed' GROUP BY 1 ORDER BY 1"
        )
    }
    result = {
        "file_id": file.file_id,
        "sha256": file.sha,
        "kind": file.kind,
        "status": "applied",
        "bank_code": file.bank_code,
        "batch_id": batch.id if batch is not None else None,
        "line_count": s.counted,
        "total_fen": s.counted_total_fen,
        "counts": matched.counts,
        "failed_by_reason": failed_by_reason,
        "entries": entries,
    }
    store(file, s, result, batch=batch)
    _apply_payouts(file)
    _queue(file, batch)
    return result


def store(
    file: BankFile,
    summary: FileSummary,
    result: dict[str, Any],
    *,
    batch: Any = None,
    status: str = "applied",
    county: str | None = None,
    fund: str | None = None,
) -> None:
    """Store the file as received and its ``bank_file`` row, holding ``result``."""
    if file.bank_code is None:
        raise FileRejected("cannot tell which bank sent this file: give the bank code")
    # A return file lists account numbers: stored encrypted, chunk by chunk as it is read.
    store_chunks(file.session, file_id=file.file_id, source=file.source)
    file.execute(
        "INSERT INTO bank_file (id, sha256, content_format, size_bytes, kind, bank_code, "
        "batch_id, county_code, fund_code, filename, uploaded_by, status, line_count, "
        "total_fen, counts, result) VALUES (:id, :sha, :format, :size, :kind, :bank, :batch, "
        ":county, :fund, :fn, :by, :status, :n, :total, CAST(:counts AS jsonb), "
        "CAST(:result AS jsonb))",
        id=file.file_id,
        sha=file.sha,
        format=CHUNKED,
        size=file.source.size,
        kind=file.kind,
        bank=file.bank_code,
        batch=batch.id if batch is not None else None,
        county=county or (batch.county_code if batch is not None else None),
        fund=fund or (batch.fund_code if batch is not None else None),
        fn=file.filename,
        by=file.uploaded_by,
        status=status,
        n=summary.counted,
        total=summary.counted_total_fen,
        counts=json.dumps(result.get("counts", {})),
        result=json.dumps(result, ensure_ascii=False, default=str),
    )


def _apply_payouts(file: BankFile) -> None:
    """Hand what each matched payout became to the ledger's settlement service."""
    settlement_table(file.session)
    file.execute(
        "INSERT INTO settlement_staging (payout_id, state, entry_id, reason_code, raw_code, "
        "raw_text, bank_file_id, line_no) SELECT s.payout_id, s.action, e.entry_id, s.reason, "
        "s.raw_code, s.raw_text, :file, s.line_no "
        "FROM recon_line s JOIN payout p ON p.id = s.payout_id "
        "JOIN recon_entry e ON e.county = p.county_code AND e.fund = p.fund_code "
        "WHERE s.action IN ('paid', 'failed', 'returned')",
        file=file.file_id,
    )
    settle_payouts(file.session, source=f"bank_file:{file.file_id}")


def _queue(file: BankFile, batch: Any) -> None:
    """Queue the lines a person must decide (``QUEUED``), in file order; an unmatched line whose
    money was parked in suspense names the suspense and the entry that parked it."""
    file.execute(
        "INSERT INTO recon_exception (bank_file_id, line_no, problem, batch_id, county_code, "
        "fund_code, payout_id, suggested_payout_id, payout_state, reference, seq, account, "
        "name, amount_fen, outcome, reason_code, raw_code, raw_text, suspense_fen, entry_id) "
        "SELECT :file, s.line_no, s.action, COALESCE(p.batch_id, :b), "
        "COALESCE(p.county_code, :c), COALESCE(p.fund_code, :f), s.payout_id, s.suggested, "
        "p.state, s.reference, s.seq, s.account, s.name, s.amount_fen, s.outcome, s.reason, "
        "s.raw_code, s.raw_text, "
        "CASE WHEN parked THEN s.amount_fen ELSE 0 END, CASE WHEN parked THEN e.entry_id END "
        "FROM recon_line s LEFT JOIN payout p ON p.id = s.payout_id "
        "LEFT JOIN recon_entry e ON e.county = :c AND e.fund = :f "
        "CROSS JOIN LATERAL (SELECT s.action = 'unmatched' AND s.outcome IN "
        "('failed', 'returned') AND s.amount_fen IS NOT NULL AND CAST(:b AS bigint) IS NOT NULL"
        " AS parked) z "
        f"WHERE s.action IN ({', '.join(repr(q) for q in QUEUED)}) ORDER BY s.k",
        file=file.file_id,
        b=batch.id if batch is not None else None,
        c=batch.county_code if batch is not None else None,
        f=batch.fund_code if batch is not None else None,
    )
