"""Many writers draining one special account never overdraw it and lose no successful write."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ledger.domain import transfer_lines
from ledger.errors import InsufficientFunds
from ledger.journal import service
from ledger.journal.verify import verify
from tests.factories import fund_chain

FUND = "urban_minimum_living"


def test_concurrent_withdrawals_never_overdraw(engine: Engine, session: Session) -> None:
    fund_chain(session, FUND, {"440000": 10_000})
    children = ["440100", "440200", "440300", "440400"]
    start = threading.Barrier(8)
    results: list[tuple[str, int]] = []
    lock = threading.Lock()

    def drain(worker: int) -> None:
        start.wait()
        for i in range(15):
            amount = 100 + (worker * 7 + i) % 5 * 50
            with Session(engine) as s:
                try:
                    service.post_entry(
                        s,
                        kind="transfer",
                        created_by=f"w{worker}",
                        lines=transfer_lines("440000", children[(worker + i) % 4], FUND, amount),
                    )
                    s.commit()
                    outcome = "ok"
                except InsufficientFunds:
                    s.rollback()
                    outcome = "refused"
            with lock:
                results.append((outcome, amount))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(drain, range(8)))
    sent = sum(a for o, a in results if o == "ok")
    assert any(o == "refused" for o, _ in results), "the account should run dry"
    assert service.special_cash(session, "440000", FUND) == 10_000 - sent >= 0
    received = sum(service.special_cash(session, c, FUND) for c in children)
    assert received == sent
    report = verify(session)
    assert report.ok, report.problems
    assert report.entry_count == 1 + sum(1 for o, _ in results if o == "ok")
