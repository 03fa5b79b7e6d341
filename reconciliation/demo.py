"""Demo stage "reconciled": each released batch's bank answers, and the answers are uploaded
through the API as that bank's user. Files are written to ``DIR/returns/``."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from sqlalchemy import text

from ledger.demo import DemoContext
from ledger.pii import decrypt
from reconciliation.simulate import SimLine, write_camt054_returns, write_csv_return, write_pain002

CSV_BANK = "ICBCGD"  # writes GBK CSV 回盘 with a 合计 trailer; every other bank sends pain.002
FAILURES = (
    ("账号不存在", "AC01"),
    ("已销户", "AC04"),
    ("账户冻结", "AC06"),
    ("户名不符", "BE01"),
)


def stage_reconciled(ctx: DemoContext) -> dict[str, Any]:
    """Banks return every released batch (CSV 回盘 or pain.002, a few per cent failed) and one
    late return in a camt.054; all uploaded through the API."""
    out = ctx.out / "returns"
    with ctx.session() as s:
        batches = s.execute(
            text(
                "SELECT id, bank_code FROM payment_batch WHERE status = 'released' AND NOT EXISTS "
                "(SELECT 1 FROM bank_file f WHERE f.batch_id = payment_batch.id) ORDER BY id"
            )
        ).all()
        lines = {
            b.id: s.execute(
                text(
                    "SELECT seq, reference, account_enc, payee_name, amount_fen FROM payout "
                    "WHERE batch_id = :b AND state = 'sent' ORDER BY seq"
                ),
                {"b": b.id},
            ).all()
            for b in batches
        }
    if not batches:
        return {"batches": 0}
    out.mkdir(parents=True, exist_ok=True)
    # The banks answer, and the late return comes back, on the demo month's day: the files say
    # so and the settlements are booked on it (a later day could fall outside the month).
    answered = dt.datetime.combine(ctx.effective_date, dt.time(17, 0))
    totals: Counter[str] = Counter()
    by_reason: Counter[str] = Counter()
    late: SimLine | None = None
    late_bank = ""
    for b in ctx.track(batches, "bank answers", len(batches)):
        sim = []
        for i, p in enumerate(lines[b.id]):
            fails = i % 33 == 5  # about 3 per cent
            # Reasons rotate across batches too, so a small roster still shows each of them.
            text_, code = FAILURES[(b.id + i // 33) % len(FAILURES)]
            sim.append(
                SimLine(
                    p.seq,
                    p.reference,
                    decrypt(p.account_enc),  # the bank's file names the full account
                    p.payee_name,
                    p.amount_fen,
                    "failed" if fails else "paid",
                    text_ if fails else None,
                    code if fails else None,
                )
            )
        if b.bank_code == CSV_BANK:
            data, name = write_csv_return(sim, encoding="gbk"), f"batch{b.id}_huipan.csv"
        else:
            data = write_pain002(f"B{b.id}", sim, only_rejected=False, created=answered)
            name = f"batch{b.id}_pain002.xml"
        (out / name).write_bytes(data)
        reply = _upload(ctx, b.bank_code, data, name, b.id)
        for k in ("paid", "failed", "unmatched"):
            totals[k] += reply["counts"].get(k, 0)
        by_reason.update(reply.get("failed_by_reason", {}))
        if late is None:
            paid = next((x for x in sim if x.outcome == "paid"), None)
            if paid is not None:
                late = SimLine(
                    None,
                    paid.reference,
                    paid.account,
                    paid.name,
                    paid.amount_fen,
                    "failed",
                    "收款人已销户，资金退回",
                    "AC04",
                )
                late_bank = b.bank_code
    if late is not None:
        data = write_camt054_returns("DEMO-SPECIAL", [late], ctx.effective_date, created=answered)
        (out / "late_return_camt054.xml").write_bytes(data)
        reply = _upload(ctx, late_bank, data, "late_return_camt054.xml", None)
        totals["returned"] += reply["counts"].get("returned", 0)
    return {
        "batches": len(batches),
        "paid": totals["paid"],
        "failed": totals["failed"],
        "failed_by_reason": dict(sorted(by_reason.items())),
        "returned": totals["returned"],
        "unmatched": totals["unmatched"],
    }


def _upload(ctx: DemoContext, bank: str, data: bytes, name: str, batch_id: int | None) -> Any:
    params: dict[str, Any] = {"filename": name, "value_date": ctx.effective_date.isoformat()}
    if batch_id is not None:
        params["batch_id"] = batch_id
    return ctx.call(
        "POST",
        "/bank-files",
        user=ctx.user("bank", bank, 1),
        key=f"return-{name}",
        content=data,
        params=params,
    ).json()
