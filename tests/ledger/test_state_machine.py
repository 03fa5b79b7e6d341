"""Random allocations, transfers and concurrent withdrawals: after every step each (jurisdiction,
fund) trial balance is zero, no special cash is negative, and verify passes. Reversals are
documents with a maker and a checker: see test_four_eyes_machine."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from ledger.domain import allocation_lines, transfer_lines
from ledger.errors import InsufficientFunds
from ledger.journal import service
from ledger.journal.verify import verify

FUNDS = ["urban_minimum_living", "rural_minimum_living"]
EDGES = [("440000", "440100"), ("440100", "440103"), ("440100", "440104"), ("440000", "441900")]
JURS = sorted({j for e in EDGES for j in e})


class LedgerMachine(RuleBasedStateMachine):
    engine: Engine

    @initialize()
    def start(self) -> None:
        # The database outlives one example: start from what earlier examples left.
        with Session(self.engine) as s:
            rows = s.execute(
                text(
                    "SELECT jurisdiction_code, fund_code, balance_fen FROM account WHERE kind = 'special_cash'"
                )
            )
            self.expected: dict[tuple[str, str], int] = {(r[0], r[1]): r[2] for r in rows}
        self.entries: list[int] = []

    def _post(self, lines, kind: str) -> None:
        with Session(self.engine) as s:
            try:
                e = service.post_entry(s, kind=kind, lines=lines, created_by="machine")
                s.commit()
            except InsufficientFunds:
                s.rollback()
                return
        self.entries.append(e.id)
        for ln in lines:
            if ln.kind.value == "special_cash":
                k = (ln.jurisdiction, ln.fund)
                self.expected[k] = self.expected.get(k, 0) + (
                    ln.amount_fen if ln.side == "D" else -ln.amount_fen
                )

    @rule(fund=st.sampled_from(FUNDS), amount=st.integers(1, 10**9))
    def allocate(self, fund: str, amount: int) -> None:
        self._post(allocation_lines("440000", fund, amount), "allocation")

    @rule(edge=st.sampled_from(EDGES), fund=st.sampled_from(FUNDS), amount=st.integers(1, 10**9))
    def transfer(self, edge: tuple[str, str], fund: str, amount: int) -> None:
        self._post(transfer_lines(edge[0], edge[1], fund, amount), "transfer")

    @rule(fund=st.sampled_from(FUNDS), amount=st.integers(1, 10**8), n=st.integers(2, 6))
    def concurrent_withdrawals(self, fund: str, amount: int, n: int) -> None:
        def one(i: int) -> None:
            self._post(transfer_lines("440000", EDGES[i % 2 * 3][1], fund, amount), "transfer")

        with ThreadPoolExecutor(n) as pool:
            list(pool.map(one, range(n)))

    @invariant()
    def books_hold(self) -> None:
        with Session(self.engine) as s:
            bad = s.execute(
                text(
                    "SELECT count(*) FROM (SELECT 1 FROM account GROUP BY jurisdiction_code, fund_code "
                    "HAVING sum(balance_fen) <> 0) t"
                )
            ).scalar()
            negative = s.execute(
                text("SELECT count(*) FROM account WHERE kind = 'special_cash' AND balance_fen < 0")
            ).scalar()
            for (j, f), v in self.expected.items():
                assert service.special_cash(s, j, f) == v
            report = verify(s)
        assert bad == 0 and negative == 0
        assert report.ok, report.problems


@pytest.mark.parametrize("_run", [0])
def test_ledger_state_machine(engine: Engine, _run: int) -> None:
    LedgerMachine.engine = engine
    machine = LedgerMachine.TestCase
    machine.settings = settings(
        max_examples=12,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    machine().runTest()
