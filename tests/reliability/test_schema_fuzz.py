"""Hostile input over the whole OpenAPI document: schemathesis with a valid token of each role.

No request may produce a 500, and every response must match what the document promises (status
code, content type, body schema), on a database that holds real books.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy.orm import Session

from tests.factories import fund_chain, make_user, released_batch

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
ROLES = [
    ("finance", "440000"),
    ("civil_affairs", "440103"),
    ("bank", "440103"),
    ("auditor", "440100"),
    ("admin", "000000"),
]
MAX_EXAMPLES = 5


def test_no_request_of_any_role_breaks_the_documented_contract(session: Session, app: Any) -> None:
    fund = "urban_minimum_living"
    fund_chain(session, fund, {"440000": 900_000, "440100": 400_000, "440103": 100_000})
    released_batch(
        session, county="440103", fund=fund, period="202406", bank="FUZZ", amounts=[1200, 800]
    )
    users = [
        make_user(session, role, jur, bank="FUZZ" if role == "bank" else None)
        for role, jur in ROLES
    ]
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    keys = itertools.count(1)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations, "the OpenAPI document lists no operations"
    for operation in operations:
        # Invalid data is refused before authorisation looks at the role: one role suffices.
        runs = [(u, GenerationMode.POSITIVE) for u in users] + [(users[0], GenerationMode.NEGATIVE)]
        for user, mode in runs:
            try:
                _fuzz(operation, mode, user.headers, keys)
            except Unsatisfiable:  # nothing in the request can be made invalid (no parameters)
                assert mode is GenerationMode.NEGATIVE
            except Exception as exc:  # every operation's failure is collected, then reported
                failures.append(f"{operation.label} as {user.role}, {mode.value} data: {exc}")
    assert not failures, "\n\n".join(failures)


def _fuzz(operation: Any, mode: GenerationMode, auth: dict[str, str], keys: Iterator[int]) -> None:
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(mode))
    def exercise(case: Any) -> None:
        case.call_and_validate(
            headers={**auth, "Idempotency-Key": f"fuzz-{next(keys)}"}, checks=CHECKS
        )

    exercise()
