"""Makers, checkers, reversals, rejections, withdrawals and replays across several bureaus, at
random, through the API: no entry ever posts whose approver is its maker, no principal ever
receives another principal's answer, and after every step ``verify`` passes."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from ledger.journal.verify import verify
from tests.factories import TestUser, make_user

FUND = "urban_minimum_living"
BUREAUS = ("440000", "440100", "440300")
KEYS = ("k1", "k2", "k3")  # few keys, so principals collide on them all the time


class FourEyesMachine(RuleBasedStateMachine):
    engine: Engine
    client: Any
    users: dict[str, list[TestUser]]

    @initialize()
    def start(self) -> None:
        self.run = getattr(self, "run", 0) + 1
        self.documents: list[tuple[int, str]] = []  # (id, bureau)
        # (principal, key, path) -> (body, first answer): what a replay must give back
        self.answers: dict[tuple[str, str, str], tuple[Any, dict[str, Any]]] = {}
        self.tag = f"{id(self)}-{self.run}"

    def _user(self, bureau: int, who: int) -> TestUser:
        return self.users[BUREAUS[bureau % len(BUREAUS)]][who % 3]

    def _send(self, user: TestUser, key: str, path: str, body: Any) -> Any:
        full_key = f"{self.tag}-{key}"
        r = self.client.post(path, json=body, headers=user.write(full_key))
        # A key is the principal's own, per operation: the same key on another path is another key.
        first = self.answers.get((user.username, full_key, path))
        if first is not None:
            if first[0] == body:
                assert r.json() == first[1], "a replay must give the first answer back"
            else:
                assert r.status_code == 409
        elif r.status_code < 300:
            self.answers[(user.username, full_key, path)] = (body, r.json())
        return r

    @rule(
        bureau=st.integers(0, 2),
        who=st.integers(0, 2),
        key=st.sampled_from(KEYS),
        amount=st.integers(1, 10**6),
    )
    def draft(self, bureau: int, who: int, key: str, amount: int) -> None:
        user = self._user(bureau, who)
        body = {
            "number": f"{self.tag}-{key}-{amount}",
            "fiscal_year": date.today().year,
            "amount": f"{amount // 100}.{amount % 100:02d}",
            "fund": FUND,
        }
        r = self._send(user, key, "/documents/allocations", body)
        if r.status_code == 201:
            doc = r.json()
            assert doc["created_by"] == user.username  # never another principal's document
            self.documents.append((doc["id"], doc["jurisdiction"]))

    def _document(self, index: int) -> tuple[int, str] | None:
        return self.documents[index % len(self.documents)] if self.documents else None

    @rule(index=st.integers(0, 10**6), who=st.integers(0, 2), key=st.sampled_from(KEYS))
    def approve(self, index: int, who: int, key: str) -> None:
        found = self._document(index)
        if found is not None:
            user = self._user(BUREAUS.index(found[1]), who)
            self._send(user, key, f"/documents/{found[0]}/approval", None)

    @rule(
        index=st.integers(0, 10**6),
        who=st.integers(0, 2),
        key=st.sampled_from(KEYS),
        withdraw=st.booleans(),
    )
    def decide(self, index: int, who: int, key: str, withdraw: bool) -> None:
        found = self._document(index)
        if found is not None:
            user = self._user(BUREAUS.index(found[1]), who)
            what = "withdrawal" if withdraw else "rejection"
            self._send(user, key, f"/documents/{found[0]}/{what}", {"reason": "核对有误"})

    @rule(index=st.integers(0, 10**6), who=st.integers(0, 2), key=st.sampled_from(KEYS))
    def reverse(self, index: int, who: int, key: str) -> None:
        found = self._document(index)
        if found is None:
            return
        user = self._user(BUREAUS.index(found[1]), who)
        doc = self.client.get(f"/documents/{found[0]}", headers=user.headers).json()
        if doc["entry_ids"]:
            r = self._send(
                user, key, f"/entries/{doc['entry_ids'][0]}/reversal", {"reason": "冲销"}
            )
            if r.status_code == 201:
                self.documents.append((r.json()["id"], r.json()["jurisdiction"]))

    @invariant()
    def four_eyes_and_books_hold(self) -> None:
        with Session(self.engine) as s:
            same = s.execute(
                text(
                    "SELECT count(*) FROM fund_document WHERE approved_by = created_by "
                    "OR (status = 'rejected' AND decided_by = created_by)"
                )
            ).scalar_one()
            unapproved = s.execute(
                text(
                    "SELECT count(*) FROM journal_entry e WHERE e.document_type IS NOT NULL AND "
                    "NOT EXISTS (SELECT 1 FROM fund_document d WHERE d.id::text = e.document_id "
                    "AND e.id IN (d.entry_id, d.second_entry_id) AND d.approved_by <> d.created_by)"
                )
            ).scalar_one()
            report = verify(s)
        assert same == 0 and unapproved == 0
        assert report.ok, report.problems


@pytest.mark.parametrize("_run", [0])
def test_four_eyes_state_machine(engine: Engine, client: Any, session: Session, _run: int) -> None:
    FourEyesMachine.engine = engine
    FourEyesMachine.client = client
    FourEyesMachine.users = {
        b: [make_user(session, "finance", b) for _ in range(3)] for b in BUREAUS
    }
    machine = FourEyesMachine.TestCase
    machine.settings = settings(
        max_examples=10,
        stateful_step_count=15,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    machine().runTest()
