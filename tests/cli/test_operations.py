"""Every API operation has its ``ledger`` command, and the commands keep the API's rules."""

from __future__ import annotations

import json
from typing import Any

import pytest
import typer

from ledger.main import cli as ledger_cli
from ledger.main import create_app
from tests.cli.run import CliRunnerOn

# Each operation of the API and the command that does the same through the same route.
COMMANDS: dict[str, str] = {
    "GET /jurisdictions/{code}/balances": "books balances",
    "GET /jurisdictions/{code}/trial-balance": "books trial-balance",
    "GET /jurisdictions/{code}/accounts/{fund}/{account}/journal": "books journal",
    "GET /jurisdictions/{code}/fund-flow": "books fund-flow",
    "GET /entries/{entry_id}": "entries show",
    "POST /entries/{entry_id}/reversal": "entries reverse",
    "POST /periods/close": "periods close",
    "GET /verify": "verify",
    "POST /verify/checkpoint": "verify",  # verify --checkpoint FILE
    "GET /me": "me",
    "GET /jurisdictions/{code}/users": "users list",
    "GET /jurisdictions/{code}/audit-log": "audit-log",
    "GET /audit-log": "audit-log",  # filters: --action --user --outcome --from --to
    "POST /documents/allocations": "documents allocate",
    "POST /documents/transfers": "documents transfer",
    "POST /documents/reallocations": "documents reallocate",
    "POST /documents/{document_id}/approval": "documents approve",
    "POST /documents/{document_id}/rejection": "documents reject",
    "POST /documents/{document_id}/withdrawal": "documents withdraw",
    "GET /documents/{document_id}": "documents show",
    "GET /jurisdictions/{code}/documents": "documents list",
    "POST /counties/{county}/roster": "roster import",
    "GET /counties/{county}/roster": "roster show",
    "POST /registers/{kind}": "registers import",
    "POST /batches": "batches build",
    "GET /batches/{batch_id}": "batches show",
    "GET /batches": "batches list",
    "GET /batches/{batch_id}/payouts": "batches payouts",
    "GET /documents": "documents queue",
    "GET /reconciliation/exceptions/queue": "exceptions queue",
    "GET /jurisdictions/{code}/findings.xlsx": "report findings",  # --format xlsx
    "GET /jurisdictions/{code}/payouts.csv": "report payouts",
    "GET /jurisdictions/{code}/payouts.xlsx": "report payouts",  # --format xlsx
    "GET /batches/{batch_id}/findings": "batches findings",
    "POST /batches/{batch_id}/checks": "batches check",
    "POST /batches/{batch_id}/acknowledgements": "batches acknowledge",
    "POST /batches/{batch_id}/release": "batches release",
    "POST /batches/{batch_id}/cancel": "batches cancel",
    "GET /batches/{batch_id}/instructions.csv": "batches instructions",
    "GET /batches/{batch_id}/instructions.xml": "batches instructions",
    "POST /bank-files": "bank-files import",
    "GET /bank-files/{file_id}": "bank-files show",
    "GET /reconciliation/exceptions": "exceptions list",
    "POST /reconciliation/exceptions/{exception_id}/resolution": "exceptions propose",
    "POST /reconciliation/exceptions/{exception_id}/resolution/approval": "exceptions approve",
    "POST /reconciliation/exceptions/{exception_id}/resolution/rejection": "exceptions reject",
    "GET /reports/disclosure": "report disclosure",
    "GET /reports/audit": "report audit",
    "GET /reports/records": "report records",
    "GET /jurisdictions/{code}/findings": "findings list",
    "GET /jurisdictions/{code}/findings.csv": "findings export",
    "POST /jurisdictions/{code}/findings/runs": "findings run",
    "GET /jobs/{job_id}": "jobs show",
    "GET /jurisdictions/{code}/trace": "trace",
    "GET /jurisdictions/{code}/trace/summary": "trace",
    "GET /jurisdictions/{code}/trace.csv": "trace",  # --format csv --out FILE
    "GET /jurisdictions/{code}/trace.xlsx": "trace",  # --format xlsx --out FILE
    "GET /payouts/{reference}/proof": "proof payout",
    "GET /public/payouts/{reference}/proof": "proof payout",  # the same file, for a disclosed line
    "GET /checkpoints/latest": "checkpoints show",
    "GET /checkpoints/{size}": "checkpoints show",
    "POST /banks": "banks add",
    "GET /banks": "banks list",
    "POST /users": "users add",
    "GET /users": "users list",
    "POST /users/{user_id}/tokens": "tokens issue",
    "DELETE /tokens/{token_id}": "tokens revoke",
    "POST /complaints": "complaints add",
    "POST /complaints/{complaint_id}/closure": "complaints close",
    "GET /jurisdictions/{code}/complaints": "complaints list",
    "POST /counties/{county}/reviews": "reviews add",
    "POST /registers/holdings": "registers holdings",
    "POST /people/lookup": "person show",
    "GET /people/{person_key}": "person show",
    "GET /people/{person_key}/file.pdf": "report person",
    "GET /jurisdictions/{code}/performance": "report performance",
}
# Operations that exist for the web only: the public's own complaint submission and its status
# (no account, so no `--as`).
WEB_ONLY: set[str] = {"POST /public/complaints", "GET /public/complaints/{reference}"}

OPERATIONS = sorted(
    f"{method.upper()} {path}"
    for path, ops in create_app().openapi()["paths"].items()
    for method in ops
)


def _command(words: str) -> Any:
    group: Any = typer.main.get_command(ledger_cli)
    for word in words.split():
        if not hasattr(group, "get_command"):
            return None
        found = group.get_command(typer.Context(group), word)
        if found is None:
            return None
        group = found
    return group


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_api_operation_has_a_command(operation: str) -> None:
    if operation in WEB_ONLY:
        return
    assert operation in COMMANDS, f"{operation} has no `ledger` command: add one and list it"
    assert _command(COMMANDS[operation]) is not None, f"`ledger {COMMANDS[operation]}` is missing"


def test_the_table_names_only_operations_that_exist() -> None:
    assert set(COMMANDS) - set(OPERATIONS) == set()


def _ok(result: object) -> dict:  # type: ignore[type-arg]
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    return json.loads(result.stdout)  # type: ignore[attr-defined]


def test_four_eyes_on_the_command_line(cli: CliRunnerOn) -> None:
    for name in ("gd-fin-a", "gd-fin-b"):
        _ok(cli("users", "add", name, "--jurisdiction", "440000", "--role", "finance",
                "--bureau", "广东省财政厅", "--json"))  # fmt: skip
    _ok(cli("users", "add", "gd-aud", "--jurisdiction", "440000", "--role", "auditor",
            "--bureau", "广东省审计厅", "--json"))  # fmt: skip

    draft = _ok(cli("--as", "gd-fin-a", "documents", "allocate", "--number", "粤财社〔2026〕1号",
                    "--year", "2026", "--amount", "1234567.89", "--fund", "urban_minimum_living",
                    "--json"))  # fmt: skip
    assert (draft["status"], draft["created_by"], draft["amount"]) == (
        "draft", "gd-fin-a", "1234567.89"
    )  # fmt: skip

    own = cli("--as", "gd-fin-a", "documents", "approve", str(draft["id"]))
    assert own.exit_code == 4, own.output
    assert "Traceback" not in own.output and "error (forbidden)" in own.stderr

    refused = cli("--as", "gd-aud", "documents", "approve", str(draft["id"]))
    assert refused.exit_code == 4 and "auditor" in refused.stderr

    approved = _ok(cli("--as", "gd-fin-b", "documents", "approve", str(draft["id"]), "--json"))
    assert approved["newly_approved"] is True
    assert approved["document"]["status"] == "posted"
    assert approved["document"]["approved_by"] == "gd-fin-b"

    shown = cli("--as", "gd-fin-b", "documents", "list", "440000")
    assert shown.exit_code == 0 and "1,234,567.89" in shown.stdout
    balances = _ok(cli("--as", "gd-aud", "books", "balances", "440000", "--json"))
    assert {r["fund"] for r in balances} == {"urban_minimum_living"}
    entry = draft["id"] and approved["document"]["entry_ids"][0]
    table = cli("--as", "gd-aud", "entries", "show", str(entry))
    assert table.exit_code == 0 and "440000 广东省" in table.stdout

    log = _ok(cli("--as", "gd-aud", "audit-log", "440000", "--json"))
    actions = [(r["username"], r["action"], r["outcome"]) for r in log]
    assert ("gd-fin-b", "cli:documents approve", "accepted") in actions

    missing = cli("documents", "approve", str(draft["id"]))
    assert missing.exit_code == 2 and "--as" in missing.output
    unknown = cli("--as", "nobody", "me")
    assert unknown.exit_code == 3 and "no user nobody" in unknown.stderr


def test_banks_users_and_tokens_for_a_province_administrator(cli: CliRunnerOn) -> None:
    _ok(cli("users", "add", "gd-admin", "--jurisdiction", "440000", "--role", "admin",
            "--bureau", "广东省民政厅信息中心", "--json"))  # fmt: skip
    _ok(cli("users", "add", "lw-fin", "--jurisdiction", "440103", "--role", "finance",
            "--bureau", "荔湾区财政局", "--json"))  # fmt: skip
    bank = _ok(cli("--as", "gd-admin", "banks", "add", "ICBCGD", "中国工商银行广东省分行",
                   "--county", "440103", "--json"))  # fmt: skip
    assert bank == {"code": "ICBCGD", "name": "中国工商银行广东省分行", "counties": ["440103"]}
    refused = cli("--as", "lw-fin", "banks", "list")
    assert refused.exit_code == 4
    listed = cli("--as", "gd-admin", "banks", "list")
    assert listed.exit_code == 0 and "ICBCGD" in listed.stdout
    teller = _ok(cli("--as", "gd-admin", "users", "add", "icbc-1", "--jurisdiction", "440000",
                     "--role", "bank", "--bureau", "工行广东", "--bank", "ICBCGD", "--json"))  # fmt: skip
    assert teller["bank_code"] == "ICBCGD"
    token = _ok(cli("--as", "gd-admin", "tokens", "issue", "icbc-1", "--json"))
    assert token["token"].startswith("lgr_")


def test_the_approval_queue_and_filtered_audit_log_on_the_command_line(cli: CliRunnerOn) -> None:
    for name in ("q-fin-a", "q-fin-b"):
        _ok(cli("users", "add", name, "--jurisdiction", "440000", "--role", "finance",
                "--bureau", "广东省财政厅", "--json"))  # fmt: skip
    draft = _ok(cli("--as", "q-fin-a", "documents", "allocate", "--number", "Q-1", "--year",
                    "2026", "--amount", "10.00", "--fund", "urban_minimum_living", "--json"))  # fmt: skip
    mine = _ok(cli("--as", "q-fin-a", "documents", "queue", "--json"))
    theirs = _ok(cli("--as", "q-fin-b", "documents", "queue", "--json"))
    assert mine["items"] == []  # a maker's own draft is not theirs to decide
    assert [d["id"] for d in theirs["items"]] == [draft["id"]]
    _ok(cli("--as", "q-fin-b", "documents", "approve", str(draft["id"]), "--json"))
    _ok(cli("users", "add", "q-aud", "--jurisdiction", "440000", "--role", "auditor",
            "--bureau", "广东省审计厅", "--json"))  # fmt: skip
    log = _ok(cli("--as", "q-aud", "audit-log", "440000", "--user", "q-fin-b", "--json"))
    assert {(r["username"], r["action"]) for r in log} == {("q-fin-b", "cli:documents approve")}
    bad = cli("--as", "q-aud", "audit-log", "440000", "--from", "yesterday")
    assert bad.exit_code == 6 and "--from" in bad.stderr


def test_complaints_and_reviews_on_the_command_line(cli: CliRunnerOn) -> None:
    _ok(cli("users", "add", "c-ca-1", "--jurisdiction", "440103", "--role", "civil_affairs",
            "--bureau", "荔湾区民政局", "--json"))  # fmt: skip
    made = _ok(cli("--as", "c-ca-1", "complaints", "add", "--jurisdiction", "440103",
                   "--channel", "hotline", "--received-on", "2026-11-27", "--concerns",
                   "jurisdiction", "--content", "反映某户有车仍领低保", "--json"))  # fmt: skip
    assert made["closed_on"] is None and made["deadline"] > "2026-12-11"  # 15 working days
    listed = _ok(cli("--as", "c-ca-1", "complaints", "list", "440103", "--json"))
    assert [c["id"] for c in listed] == [made["id"]]
    closed = _ok(cli("--as", "c-ca-1", "complaints", "close", str(made["id"]), "--outcome",
                     "经入户核实，反映不实", "--closed-on", "2026-11-30", "--json"))  # fmt: skip
    assert (closed["closed_on"], closed["closed_by"]) == ("2026-11-30", "c-ca-1")
    review = _ok(cli("--as", "c-ca-1", "reviews", "add", "440103", "--household", "H1",
                     "--kind", "home_visit", "--on", "2026-11-02", "--outcome", "无变化",
                     "--reviewer", "王核查", "--json"))  # fmt: skip
    assert review["kind"] == "home_visit"
