"""Errors reach the user as the error shape with an exit code per kind, never a traceback
unless --debug asks for it."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import OperationalError

from ledger import errors, terminal
from tests.cli.run import CliRunnerOn, ledger


def test_unknown_jurisdiction_exits_not_found_without_a_traceback(db_url: str) -> None:
    env = {"LEDGER_DATABASE_URL": db_url}
    done = ledger("users", "list", "--jurisdiction", "449999", env=env)
    assert done.returncode == terminal.EXIT_NOT_FOUND == 3
    assert "jurisdiction 449999 does not exist" in done.stderr
    assert "field jurisdiction: unknown code" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_json_errors_and_debug_tracebacks(cli: CliRunnerOn) -> None:
    as_json = cli("users", "list", "--jurisdiction", "449999", "--json")
    assert as_json.exit_code == 3
    assert json.loads(as_json.stdout)["error"]["code"] == "not_found"

    debug = cli("--debug", "users", "list", "--jurisdiction", "449999")
    assert debug.exit_code != 0 and isinstance(debug.exception, errors.NotFound)


def test_usage_errors_exit_2(cli: CliRunnerOn) -> None:
    done = cli("demo", "--size", "0")
    assert done.exit_code == terminal.EXIT_USAGE == 2
    refused = cli("tokens", "revoke")
    assert refused.exit_code == 2 and "give exactly one of" in refused.stderr


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
