"""Errors reach the user as the error shape with an exit code per kind, never a traceback
unless --debug asks for it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import OperationalError

from ledger import errors, terminal
from tests.cli.run import ledger


def test_unknown_jurisdiction_exits_not_found_without_a_traceback(db_url: str) -> None:
    env = {"LEDGER_DATABASE_URL": db_url}
    done = ledger("users", "list", "--jurisdiction", "449999", env=env)
    assert done.returncode == terminal.EXIT_NOT_FOUND == 3
    assert "jurisdiction 449999 does not exist" in done.stderr
    assert "field jurisdiction: unknown code" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout

    as_json = ledger("users", "list", "--jurisdiction", "449999", "--json", env=env)
    assert as_json.returncode == 3
    assert json.loads(as_json.stdout)["error"]["code"] == "not_found"

    debug = ledger("--debug", "users", "list", "--jurisdiction", "449999", env=env)
    assert debug.returncode != 0 and "NotFound" in debug.stderr
    assert "Traceback" in debug.stderr


def test_usage_errors_exit_2(db_url: str) -> None:
    done = ledger("demo", "--size", "0", env={"LEDGER_DATABASE_URL": db_url})
    assert done.returncode == terminal.EXIT_USAGE == 2
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.NotFound("x"), 3),
        (errors.Forbidden("x"), 4),
        (errors.Unauthenticated("x"), 4),
        (errors.Conflict("x"), 5),
        (errors.InsufficientFunds("x"), 5),
        (errors.PeriodClosed("x"), 5),
        (errors.ValidationFailed("x"), 6),
        (errors.PayloadTooLarge("x"), 6),
        (errors.ServiceUnavailable("x"), 7),
        (OperationalError("SELECT 1", {}, Exception("connection refused")), 7),
        (ValueError("a bug"), None),
    ],
)
def test_exit_code_per_kind(error: BaseException, code: int | None) -> None:
    assert terminal.exit_code(error) == code


def test_database_error_reads_as_the_error_shape() -> None:
    body = terminal.error_body(OperationalError("SELECT 1", {}, Exception("no socket\nmore")))
    assert body["error"]["code"] == "service_unavailable"
    assert body["error"]["message"].endswith("no socket")
