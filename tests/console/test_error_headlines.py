"""The console's error page leads with a Chinese headline chosen by the refusal's code; a
four-eyes refusal is named as such whatever its code."""

from __future__ import annotations

import pytest

from ledger.console.web import ERROR_HEADLINES, FOUR_EYES, error_headline
from ledger.errors import Conflict, DomainError, Forbidden, NotFound, PeriodClosed, ReplicaBehind


@pytest.mark.parametrize(
    ("problem", "expected"),
    [
        (PeriodClosed("period 202611 is closed"), "该会计期间已结账，不再接受记账"),
        (NotFound("no batch 7"), ERROR_HEADLINES["not_found"]),
        (ReplicaBehind("behind"), ERROR_HEADLINES["replica_behind"]),
        (
            Forbidden("x", [{"field": "approved_by", "reason": "maker and checker must differ"}]),
            FOUR_EYES,
        ),
        (Conflict("x", [{"field": "user", "reason": "same person as the proposer"}]), FOUR_EYES),
        (Forbidden("x", [{"field": "role", "reason": "out of scope"}]), "无权执行此操作"),
    ],
)
def test_the_headline_follows_the_code(problem: DomainError, expected: str) -> None:
    assert error_headline(problem) == expected


def test_every_error_code_has_a_headline() -> None:
    codes = {c.code for c in _subclasses(DomainError)} | {DomainError.code}
    assert codes <= set(ERROR_HEADLINES), codes - set(ERROR_HEADLINES)


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    return found | {s for c in found for s in _subclasses(c)}
