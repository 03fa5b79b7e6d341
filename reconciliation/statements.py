"""Reconciling a camt.053 statement of a special account (专户) against the books.

The statement's closing balance is set against the special cash of its (county, fund) at that
date; the difference is explained by released batches the bank has not debited yet and by
returns not yet booked, or flagged as a finding. Nothing posts: the file is stored with its
answer (``applying.store``).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from ledger.domain import AccountKind
from ledger.errors import Forbidden, ValidationFailed
from ledger.journal import service as journal
from reconciliation.applying import store
from reconciliation.bankfile import CURRENCY, BankFile
from reconciliation.parsers import FileRejected, FileSummary


def reconcile_statement(
    file: BankFile,
    s: FileSummary,
    *,
    batch_id: int | None,
    county: str | None,
    fund: str | None,
) -> dict[str, Any]:
    """camt.053: the closing balance against special cash at that date, the gap explained
    by batches the bank has not debited yet and returns not yet booked, or flagged."""
    if batch_id is not None:
        batch = file.batch(batch_id)
        county, fund = batch.county_code, batch.fund_code
    if county is None or fund is None:
        raise ValidationFailed(
            "a statement needs the county and fund of the special account it states",
            [{"field": "county", "reason": "required for camt.053"}],
        )
    if file.bank_code is None:
        raise ValidationFailed(
            "a statement needs the bank code", [{"field": "bank", "reason": "required"}]
        )
    stmt = s.statement
    if stmt is None or stmt.closing_fen is None:
        raise FileRejected("the statement has no closing balance (CLBD)", field="Bal")
    ccys = {c.upper() for c in (stmt.currency, s.currency) if c}
    ccys |= {e.currency.upper() for e in stmt.entries if e.currency}
    if ccys - {CURRENCY}:
        raise FileRejected(
            f"the statement is in {', '.join(sorted(ccys))}: only CNY accounts are ours",
            field="Ccy",
        )
    if file.principal is not None and file.principal.role == "bank":
        serves = file.execute(
            "SELECT 1 FROM payment_batch WHERE bank_code = :bk AND county_code = :c "
            "UNION SELECT 1 FROM bank_service_area WHERE bank_code = :bk AND county_code = :c",
            bk=file.bank_code,
            c=county,
        ).first()
        if serves is None:
            raise Forbidden(f"bank {file.bank_code} does not serve {county}")
    as_of = stmt.closing_date or stmt.to_date or date.today()
    books = {
        r["kind"]: int(r["balance_fen"])
        for r in journal.balances(file.session, jurisdiction=county, fund=fund, as_of=as_of)
    }
    cash = books.get(AccountKind.special_cash.value, 0)
    difference = stmt.closing_fen - cash
    debited = {e.amount_fen for e in stmt.entries if e.credit_debit == "DBIT"}
    items: list[dict[str, Any]] = []
    for b in file.execute(
        "SELECT b.id, b.total_fen, count(p.id) AS n, sum(p.amount_fen) AS fen "
        "FROM payment_batch b JOIN payout p ON p.batch_id = b.id AND p.state = 'sent' "
        "WHERE b.county_code = :c AND b.fund_code = :f AND b.status = 'released' "
        "AND b.released_at::date <= :d GROUP BY b.id ORDER BY b.id",
        c=county,
        f=fund,
        d=as_of,
    ):
        if b.total_fen in debited:
            continue  # the bank executed it: its open lines are in the bank's hands
        items.append(
            {"item": "in_transit", "batch_id": b.id, "lines": b.n, "amount_fen": int(b.fen)}
        )
    refs = [r for e in stmt.entries if e.credit_debit == "CRDT" for r in e.end_to_end_ids]
    if refs:
        for p in file.execute(
            "SELECT reference, amount_fen, state FROM payout WHERE reference = ANY(:r) "
            "AND state IN ('sent', 'paid') AND county_code = :c AND fund_code = :f",
            r=[r.strip().upper() for r in refs],
            c=county,
            f=fund,
        ):
            items.append(
                {
                    "item": "return_not_booked",
                    "reference": p.reference,
                    "amount_fen": int(p.amount_fen),
                }
            )
    explained = sum(i["amount_fen"] for i in items)
    residual = difference - explained
    status = "agreed" if difference == 0 else ("explained" if residual == 0 else "flagged")
    result = {
        "file_id": file.file_id,
        "sha256": file.sha,
        "kind": file.kind,
        "status": status,
        "bank_code": file.bank_code,
        "county": county,
        "fund": fund,
        "as_of": as_of.isoformat(),
        "closing_fen": stmt.closing_fen,
        "special_cash_fen": cash,
        "difference_fen": difference,
        "items": items[:1000],
        "explained_fen": explained,
        "residual_fen": residual,
        "suspense_fen": -books.get(AccountKind.suspense.value, 0),
        "line_count": s.counted,
        "total_fen": s.counted_total_fen,
        "counts": {},
    }
    if status == "flagged":
        file.execute(
            "INSERT INTO finding (rule, severity, jurisdiction_code, fund_code, period, "
            "message, evidence) VALUES ('statement_unreconciled', 'warning', :c, :f, :p, :m, "
            "CAST(:e AS jsonb))",
            c=county,
            f=fund,
            p=as_of.strftime("%Y%m"),
            m=f"专户对账单余额与账面专户存款不符，差额 {residual} 分未能解释",
            e=json.dumps({"bank_file_id": file.file_id, "residual_fen": residual}),
        )
    store(file, s, result, status=status, county=county, fund=fund)
    return result
