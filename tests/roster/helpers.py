"""A county ready to pay: banks, two civil-affairs users, a bank user, funded special accounts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.access import service as access
from ledger.pii import decrypt
from ledger.roster.files import RosterRow
from ledger.roster.synthetic import generate_roster, write_roster_csv
from reconciliation.simulate import SimLine, write_csv_return
from tests.factories import TestUser, fund_chain, make_user

PERIOD = "202403"
BANK = "ICBCGD"
URBAN = "urban_minimum_living"
RURAL = "rural_minimum_living"


@dataclass
class County:
    code: str
    maker: TestUser
    checker: TestUser
    bank: TestUser


def ensure_bank(session: Session, code: str = BANK) -> None:
    access.create_bank(session, code=code, name=f"{code} 银行", counties=[])
    session.commit()


def county(session: Session, code: str = "440103", *, fund_fen: int = 10_000_000_00) -> County:
    ensure_bank(session)
    maker = make_user(session, "civil_affairs", code)
    checker = make_user(session, "civil_affairs", code)
    bank_user = make_user(session, "bank", "440000", bank=BANK)
    if fund_fen:
        for fund in (URBAN, RURAL):
            city = code[:4] + "00"
            fund_chain(session, fund, {"440000": fund_fen * 3, city: fund_fen * 2, code: fund_fen})
    return County(code, maker, checker, bank_user)


def rows(code: str, n: int, *, fund: str = URBAN, seed: int = 1) -> list[RosterRow]:
    out = generate_roster(
        code, households=n, seed=seed, funds=[fund], bank_codes=[BANK], start_period="202401"
    )
    return [dataclasses.replace(r, bank_code=BANK) for r in out]


def csv_of(roster: list[RosterRow], **kw: Any) -> bytes:
    return write_roster_csv(roster, **kw)


def upload(
    client: Any,
    c: County,
    data: bytes,
    *,
    period: str = PERIOD,
    name: str = "roster.csv",
    **form: Any,
) -> Any:
    """Upload as the county's maker; ``form`` adds mode, dry_run or confirm_exits."""
    return client.post(
        f"/counties/{c.code}/roster",
        headers=c.maker.write(),
        files={"file": (name, data)},
        data={"effective_period": period, **{k: str(v) for k, v in form.items()}},
    )


def build(client: Any, c: County, *, fund: str = URBAN, period: str = PERIOD, **kw: Any) -> Any:
    return client.post(
        "/batches",
        headers=c.maker.write(),
        json={"county": c.code, "fund": fund, "period": period, "bank_code": BANK, **kw},
    )


def release(client: Any, c: County, batch_id: int, key: str | None = None) -> Any:
    return client.post(f"/batches/{batch_id}/release", headers=c.checker.write(key))


def acknowledge_and_release(client: Any, c: County, batch_id: int) -> Any:
    """The maker acknowledges every warning (with a reason), the checker releases."""
    findings = client.get(f"/batches/{batch_id}/findings", headers=c.maker.headers).json()
    for rule in {f["rule"] for f in findings if f["severity"] == "warning"}:
        client.post(
            f"/batches/{batch_id}/acknowledgements",
            headers=c.maker.write(),
            json={"rule": rule, "reason": "已入户核实"},
        )
    reply = release(client, c, batch_id)
    assert reply.status_code == 200, reply.text
    return reply


def bank_answers(client: Any, session: Session, c: Any, batch_id: int, fail: int = 0) -> None:
    """The bank's 回盘 uploaded: every line paid, but the first ``fail`` lines."""
    reply = client.post(
        "/bank-files",
        content=return_file(session, batch_id, fail),
        headers=c.bank.write(),
        params={"filename": f"b{batch_id}.csv", "batch_id": batch_id},
    )
    assert reply.status_code == 201, reply.text
    session.commit()


def return_file(session: Session, batch_id: int, fail: int = 0) -> bytes:
    """The bank's 回盘 of a batch: every line paid, but the first ``fail`` lines."""
    lines = session.execute(
        text(
            "SELECT seq, reference, account_enc, payee_name, amount_fen FROM payout "
            "WHERE batch_id = :b ORDER BY seq"
        ),
        {"b": batch_id},
    ).all()
    sim = [
        SimLine(
            p.seq,
            p.reference,
            decrypt(p.account_enc),
            p.payee_name,
            p.amount_fen,
            "failed" if i < fail else "paid",
            "账号不存在" if i < fail else None,
        )
        for i, p in enumerate(lines)
    ]
    return write_csv_return(sim)


def counts(session: Session) -> dict[str, int]:
    tables = ("roster_version", "register_import", "payout", "payment_batch", "finding")
    return {t: session.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}
