"""Crafted books for the report tests: batches released, settled, returned and reissued the way
the payment-batch and reconciliation services do it (entries through post_entry, payout states
along the allowed transitions), so verify() stays clean."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.access import service as access
from ledger.domain import AccountKind, pair, release_lines
from ledger.journal.service import post_entry
from ledger.payouts import batch_root
from ledger.pii import person_key, store_account

_refs = itertools.count(1)


@dataclass(frozen=True)
class Line:
    name: str
    amount_fen: int
    township: str = "多宝街道"
    village: str = "多宝社区"
    household_size: int = 1
    id_number: str = "440103198001011234"
    account_no: str = "6222020200112233445"
    household_id: str = ""
    reissue_of: int | None = None


def release(
    session: Session, county: str, fund: str, period: str, lines: list[Line], on: date
) -> list[int]:
    """A released batch of ``lines``; returns the payout ids in line order."""
    access.create_bank(session, code="ICBCGD", name="工商银行", counties=[county])
    batch = session.execute(
        text(
            "INSERT INTO payment_batch (county_code, fund_code, period, bank_code, created_by) "
            "VALUES (:c, :f, :p, 'ICBCGD', 'maker') RETURNING id"
        ),
        {"c": county, "f": fund, "p": period},
    ).scalar_one()
    ids = []
    for seq, ln in enumerate(lines, start=1):
        ref = f"T{next(_refs):08d}"
        key = person_key(ln.id_number)
        account = store_account(ln.account_no)
        ids.append(
            session.execute(
                text(
                    "INSERT INTO payout (batch_id, seq, reference, county_code, fund_code, period, "
                    "person_key, household_id, household_size, township, village, payee_name, "
                    "account_key, account_enc, account_masked, account_name, bank_code, amount_fen, "
                    "reissue_of) VALUES (:b, :s, :r, :c, :f, :p, :k, :h, :hs, :t, :v, :n, :ak, "
                    ":ae, :am, :n, 'ICBCGD', :m, :ro) RETURNING id"
                ),
                {
                    "b": batch,
                    "s": seq,
                    "r": ref,
                    "c": county,
                    "f": fund,
                    "p": period,
                    "k": key,
                    "h": ln.household_id or f"H{key[:8]}",
                    "hs": ln.household_size,
                    "t": ln.township,
                    "v": ln.village,
                    "n": ln.name,
                    "ak": account.key,
                    "ae": account.enc,
                    "am": account.masked,
                    "m": ln.amount_fen,
                    "ro": ln.reissue_of,
                },
            ).scalar_one()
        )
    root = batch_root(session, batch)
    total = sum(ln.amount_fen for ln in lines)
    entry = post_entry(
        session,
        kind="batch_release",
        lines=release_lines(county, fund, total),
        created_by="checker",
        effective_date=on,
        payload_digest=root,
    )
    session.execute(
        text(
            "UPDATE payment_batch SET status = 'released', merkle_root = :root, line_count = :n, "
            "total_fen = :t, release_entry_id = :e, released_by = 'checker', released_at = now() "
            "WHERE id = :b"
        ),
        {"root": root, "n": len(lines), "t": total, "e": entry.id, "b": batch},
    )
    session.execute(
        text("UPDATE payout SET state = 'sent', last_entry_id = :e WHERE batch_id = :b"),
        {"e": entry.id, "b": batch},
    )
    reissued = [ln.reissue_of for ln in lines if ln.reissue_of]
    if reissued:
        session.execute(
            text("UPDATE payout SET state = 'reissued' WHERE id = ANY(:ids)"), {"ids": reissued}
        )
    session.commit()
    return ids


def _amounts(session: Session, ids: list[int]) -> tuple[str, str, int]:
    row = session.execute(
        text(
            "SELECT min(county_code), min(fund_code), COALESCE(sum(amount_fen), 0) FROM payout "
            "WHERE id = ANY(:ids)"
        ),
        {"ids": ids},
    ).one()
    return row[0], row[1], int(row[2])


def settle(
    session: Session,
    *,
    paid: list[int],
    failed: list[int] = (),  # type: ignore[assignment]
    on: date,
    reason: str = "account_closed",
) -> None:
    """One return file: paid lines to benefit expense, failed lines back to special cash."""
    lines = []
    county = fund = ""
    if paid:
        county, fund, fen = _amounts(session, paid)
        lines += pair(county, fund, AccountKind.benefit_expense, AccountKind.in_transit, fen)
    if failed:
        county, fund, fen = _amounts(session, list(failed))
        lines += pair(county, fund, AccountKind.special_cash, AccountKind.in_transit, fen)
    entry = post_entry(
        session, kind="settlement", lines=lines, created_by="bank", effective_date=on
    )
    session.execute(
        text("UPDATE payout SET state = 'paid', last_entry_id = :e WHERE id = ANY(:ids)"),
        {"e": entry.id, "ids": paid},
    )
    session.execute(
        text(
            "UPDATE payout SET state = 'failed', last_entry_id = :e, reason_code = :r, "
            "raw_text = '已销户' WHERE id = ANY(:ids)"
        ),
        {"e": entry.id, "ids": list(failed), "r": reason},
    )
    session.commit()


def return_paid(session: Session, ids: list[int], on: date) -> None:
    """Paid lines the bank sent back later: special cash up, benefit expense down."""
    county, fund, fen = _amounts(session, ids)
    entry = post_entry(
        session,
        kind="return",
        lines=pair(county, fund, AccountKind.special_cash, AccountKind.benefit_expense, fen),
        created_by="bank",
        effective_date=on,
    )
    session.execute(
        text(
            "UPDATE payout SET state = 'returned', last_entry_id = :e, reason_code = "
            "'beneficiary_deceased' WHERE id = ANY(:ids)"
        ),
        {"e": entry.id, "ids": ids},
    )
    session.commit()


def allocate(session: Session, jur: str, fund: str, fen: int, on: date) -> int:
    entry = post_entry(
        session,
        kind="allocation",
        lines=pair(jur, fund, AccountKind.special_cash, AccountKind.appropriation_revenue, fen),
        created_by="finance",
        effective_date=on,
    )
    session.commit()
    return entry.id


def transfer(session: Session, sender: str, receiver: str, fund: str, fen: int, on: date) -> int:
    from ledger.domain import transfer_lines

    entry = post_entry(
        session,
        kind="transfer",
        lines=transfer_lines(sender, receiver, fund, fen),
        created_by="finance",
        effective_date=on,
    )
    session.commit()
    return entry.id


def review_register(
    session: Session,
    rows: list[tuple[str, str, str]],
    kind: str = "information_check",
    *,
    commit: bool = True,
) -> None:
    """Reviews of ``kind`` with (county, household, reviewed on) rows, written one by one
    through the registers service as a county bureau records them."""
    from ledger.registers.service import record_review

    for county, household, on in rows:
        record_review(
            session,
            county=county,
            household_id=household,
            kind=kind,
            reviewed_on=date.fromisoformat(on),
            outcome="符合条件",
            reviewer="王核查",
            assets_fen=None,
            recorded_by="civil",
        )
    if commit:
        session.commit()
