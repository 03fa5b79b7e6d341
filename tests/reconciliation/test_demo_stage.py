"""The demo stage settles each released batch through the API and writes the bank's files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ledger.demo import DemoContext
from ledger.journal.verify import verify
from ledger.main import create_app
from reconciliation.demo import stage_reconciled
from tests.factories import make_user
from tests.reconciliation.batches import released_batch
from tests.reconciliation.test_api import bank_user


def test_stage_reconciled(engine: Engine, session: Session, tmp_path: Path) -> None:
    ctx = DemoContext(
        engine=engine,
        out=tmp_path,
        size=0,
        counties=[],
        period="202601",
        effective_date=dt.date.today(),
        tag="t",
        create_app=create_app,
    )
    assert stage_reconciled(ctx) == {"batches": 0}
    released_batch(session, n=70, bank="ICBCGD")
    released_batch(session, n=40, bank="RCCGD", county="440104", fund_first=True)
    for bank in ("ICBCGD", "RCCGD"):
        user = (
            make_user(session, "bank", "440000", bank=bank)
            if bank == "ICBCGD"
            else bank_user(session, bank)
        )
        ctx.tokens[user.username] = user.token
        ctx.users[f"bank@{bank}#1"] = user.username
    figures = stage_reconciled(ctx)
    assert figures["batches"] == 2 and figures["returned"] == 1 and figures["unmatched"] == 0
    assert figures["paid"] + figures["failed"] == 110 and figures["failed"] >= 3
    assert len(figures["failed_by_reason"]) >= 2
    names = sorted(p.name for p in (tmp_path / "returns").iterdir())
    assert names[-1] == "late_return_camt054.xml" and len(names) == 3
    json.dumps(figures)
    session.rollback()
    assert verify(session).ok
