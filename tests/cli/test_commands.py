"""The operator commands: version, tables for people, JSON for scripts, amounts and labels."""

from __future__ import annotations

import json
from importlib.metadata import version

from ledger.money import format_yuan
from ledger.terminal import fund_label, jurisdiction_label
from tests.cli.run import CliRunnerOn, ledger


def test_version_comes_from_the_package_metadata() -> None:
    done = ledger("--version", env={})
    assert done.returncode == 0
    assert done.stdout.strip() == f"ledger {version('gd-assistance-ledger')}"


def test_users_tokens_and_verify_for_people_and_for_scripts(cli: CliRunnerOn) -> None:
    added = cli(
        "users", "add", "lw-fin", "--jurisdiction", "440103", "--role", "finance",
        "--bureau", "荔湾区财政局", "--json",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert json.loads(added.stdout)["username"] == "lw-fin"

    issued = cli("tokens", "issue", "lw-fin", "--json")
    assert issued.exit_code == 0, issued.output
    token = json.loads(issued.stdout)["token"]

    rows = json.loads(cli("users", "list", "--jurisdiction", "440100", "--json").stdout)
    assert [(r["username"], r["jurisdiction"], r["live_tokens"]) for r in rows] == [
        ("lw-fin", "440103", 1)
    ]
    table = cli("users", "list")
    assert "lw-fin" in table.stdout and "440103 荔湾区" in table.stdout

    short = cli("users", "passwd", "lw-fin", "--password", "short")
    assert short.exit_code != 0 and "at least" in short.stderr
    assert cli("users", "passwd", "lw-fin", "--password", "a-long-passphrase").exit_code == 0

    assert json.loads(cli("tokens", "revoke", token, "--json").stdout) == {"revoked": 1}
    again = cli("tokens", "revoke", token)
    assert again.exit_code == 3 and "no such active token" in again.stderr

    checked = cli("verify", "--json")
    assert checked.exit_code == 0 and json.loads(checked.stdout)["ok"] is True
    shown = cli("verify")
    assert shown.exit_code == 0 and "journal entries" in shown.stdout


def test_amounts_and_labels() -> None:
    assert format_yuan(123_456_789) == "1,234,567.89"
    assert format_yuan(-5) == "-0.05"
    assert format_yuan(0) == "0.00"
    assert jurisdiction_label("440103") == "440103 荔湾区"
    assert jurisdiction_label("999999") == "999999"
    assert fund_label("urban_minimum_living") == "urban_minimum_living 城市最低生活保障"
