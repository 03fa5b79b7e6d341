"""``ledger person show``: the person file on the command line. The ID number is asked for
without echo when not given (so it stays out of the shell history); reading is recorded in the
audit log as the operator's act, in the unit of work that reads."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy.orm import Session

from ledger import terminal
from ledger.access.service import SYSTEM
from ledger.db import get_engine
from ledger.money import fen_to_str
from ledger.people import service
from ledger.uow import operator_name, operator_write

person_app = typer.Typer(help="The person file (一人一档)")


@person_app.command("show")
def show(
    id_number: Annotated[
        str, typer.Option(prompt="ID number", hide_input=True, help="The person's ID number")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print the file as JSON")] = False,
) -> None:
    """Every roster version, payout attempt, finding, register match and review of one person."""
    key = service.key_of(id_number)

    def work(s: Session) -> dict[str, Any]:
        return service.person_file(s, key=key, principal=SYSTEM).model_dump(mode="json")

    f = operator_write(
        get_engine(),
        action="person_file_read",
        operator=operator_name(),
        work=work,
        object_type="person",
        object_id=key,
    )
    if as_json:
        terminal.print_json(f)
        return
    console = terminal.stdout
    console.print(f"{'、'.join(f['names'])} {f['id_masked']}  person_key {key}")
    console.print(
        terminal.table(
            "花名册版本 roster",
            ["valid_from", "county", "fund", "household", "size", "月发放(元)", "active"],
            [
                [
                    v["valid_from"],
                    v["county"],
                    v["fund"],
                    v["household_id"] + (" (changed)" if v["household_changed"] else ""),
                    v["household_size"],
                    fen_to_str(v["amount_fen"]),
                    v["active"],
                ]
                for v in f["roster"]
            ],
        )
    )
    console.print(
        terminal.table(
            "发放 payouts",
            ["period", "reference", "fund", "金额(元)", "state", "reason", "entry"],
            [
                [
                    p["period"],
                    p["reference"],
                    p["fund"],
                    fen_to_str(p["amount_fen"]),
                    p["state"],
                    p["bank_reason"] or p["reason_code"] or "",
                    p["settling_entry_id"] or "",
                ]
                for p in f["payouts"]
            ],
        )
    )
    console.print(
        terminal.table(
            "审计发现 findings",
            ["id", "rule", "message"],
            [[x["id"], x["rule"], x["message"]] for x in f["findings"]],
        )
    )
    console.print(
        terminal.table(
            "比对登记 matches",
            ["register", "detail", "date", "金额(元)"],
            [
                [
                    m["source"],
                    m["detail"],
                    m["on"] or "",
                    "" if m["value_fen"] is None else fen_to_str(m["value_fen"]),
                ]
                for m in f["matches"]
            ],
        )
    )
    console.print(
        terminal.table(
            "复核 reviews",
            ["date", "kind", "household", "outcome", "reviewer"],
            [
                [r["reviewed_on"], r["kind"], r["household_id"], r["outcome"], r["reviewer"]]
                for r in f["reviews"]
            ],
        )
    )
    console.print(
        terminal.table(
            "投诉举报 complaints",
            ["received", "reference", "channel", "deadline", "closed"],
            [
                [
                    x["received_on"],
                    x["reference"],
                    x["channel"],
                    x["deadline"],
                    x["closed_on"] or "",
                ]
                for x in f["complaints"]
            ],
        )
    )
