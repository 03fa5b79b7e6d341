"""Released batches for reconciliation tests, made the way release makes them: payouts inserted
as draft, the release entry posted with the batch's Merkle root, the payouts moved to sent."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.access import service as access
from ledger.domain import allocation_lines, release_lines, transfer_lines
from ledger.journal.service import post_entry
from ledger.payouts import batch_root
from ledger.pii import store_account
from reconciliation.simulate import SimLine

FUND = "urban_minimum_living"
COUNTY = "440103"


@dataclass(frozen=True)
class Payout:
    id: int
    seq: int
    reference: str
    account: str
    name: str
    amount_fen: int


@dataclass(frozen=True)
class Batch:
    id: int
    county: str
    fund: str
    bank: str
    total_fen: int
    payouts: list[Payout]

    def sim(self, failed: dict[int, str] | None = None, *, refs: bool = True) -> list[SimLine]:
        """The bank's view of every line; ``failed`` maps a seq to its failure phrase."""
        failed = failed or {}
        return [
            SimLine(
                seq=p.seq,
                reference=p.reference if refs else None,
                account=p.account,
                name=p.name,
                amount_fen=p.amount_fen,
                outcome="failed" if p.seq in failed else "paid",
                reason_text=failed.get(p.seq),
                reason_code="AC04" if p.seq in failed else None,
            )
            for p in self.payouts
        ]


def fund_county(
    session: Session, county: str = COUNTY, fund: str = FUND, fen: int = 10**12
) -> None:
    city = county[:4] + "00"
    post_entry(
        session, kind="allocation", lines=allocation_lines("440000", fund, fen), created_by="t"
    )
    if city != county:
        post_entry(
            session,
            kind="transfer",
            lines=transfer_lines("440000", city, fund, fen),
            created_by="t",
        )
    post_entry(
        session, kind="transfer", lines=transfer_lines(city, county, fund, fen), created_by="t"
    )
    session.commit()


def released_batch(
    session: Session,
    *,
    n: int = 10,
    bank: str = "ICBCGD",
    county: str = COUNTY,
    fund: str = FUND,
    period: str = "202601",
    amount_fen: int = 120_000,
    fund_first: bool = True,
    payouts: bool = True,
) -> Batch:
    """A released batch of ``n`` payouts of ``amount_fen`` (+ seq fen, so amounts differ)."""
    access.create_bank(session, code=bank, name=f"{bank} bank", counties=[county])
    if fund_first:
        fund_county(session, county, fund)
    bid = session.execute(
        text(
            "INSERT INTO payment_batch (county_code, fund_code, period, bank_code, created_by) "
            "VALUES (:c, :f, :p, :b, 'maker') RETURNING id"
        ),
        {"c": county, "f": fund, "p": period, "b": bank},
    ).scalar_one()
    # Accounts are stored as key, ciphertext and mask: made here, in Python, where the key is.
    accounts = {g: f"6222{bid:04d}{g:09d}" for g in range(1, n + 1)}
    stored = [store_account(a) for a in accounts.values()]
    session.execute(
        text(
            "INSERT INTO payout (batch_id, seq, reference, county_code, fund_code, period, "
            "person_key, household_id, payee_name, account_key, account_enc, account_masked, "
            "account_name, bank_code, amount_fen) "
            "SELECT :b, g, 'B' || lpad(CAST(:b AS text), 4, '0') || lpad(g::text, 7, '0'), :c, :f, :p, "
            "encode(sha256((CAST(:b AS text) || '/' || g::text)::bytea), 'hex'), 'H' || g, "
            "'测试' || g, k, e, m, '测试' || g, :bank, :amt + g "
            "FROM unnest(CAST(:keys AS text[]), CAST(:encs AS text[]), CAST(:masks AS text[])) "
            "WITH ORDINALITY AS a(k, e, m, g)"
        ),
        {
            "b": bid,
            "c": county,
            "f": fund,
            "p": period,
            "bank": bank,
            "amt": amount_fen,
            "keys": [s.key for s in stored],
            "encs": [s.enc for s in stored],
            "masks": [s.masked for s in stored],
        },
    )
    rows = session.execute(
        text(
            "SELECT id, seq, reference, person_key, account_key, account_name, payee_name, "
            "amount_fen FROM payout WHERE batch_id = :b ORDER BY seq"
        ),
        {"b": bid},
    ).all()
    total = sum(r.amount_fen for r in rows)
    root = batch_root(session, bid)
    entry = post_entry(
        session,
        kind="batch_release",
        lines=release_lines(county, fund, total),
        created_by="checker",
        document_type="payment_batch",
        document_id=str(bid),
        payload_digest=root,
    )
    session.execute(
        text(
            "UPDATE payment_batch SET status = 'released', line_count = :n, total_fen = :t, "
            "merkle_root = :r, release_entry_id = :e, released_by = 'checker', released_at = now() "
            "WHERE id = :b"
        ),
        {"n": len(rows), "t": total, "r": root, "e": entry.id, "b": bid},
    )
    session.execute(
        text("UPDATE payout SET state = 'sent', last_entry_id = :e WHERE batch_id = :b"),
        {"e": entry.id, "b": bid},
    )
    session.commit()
    return Batch(
        id=bid,
        county=county,
        fund=fund,
        bank=bank,
        total_fen=total,
        payouts=[
            Payout(r.id, r.seq, r.reference, accounts[r.seq], r.payee_name, r.amount_fen)
            for r in rows
        ]
        if payouts
        else [],
    )
