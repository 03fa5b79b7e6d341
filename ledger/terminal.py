"""What the ``ledger`` command shows people and scripts: errors as the API's error shape with one
exit code per kind, rich tables by default and JSON on request, labels with Chinese names."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table

from ledger import errors
from ledger.checks.labels import rule_label
from ledger.jurisdictions.catalog import guangdong_divisions, resolve_fund
from ledger.money import format_yuan

console = Console(stderr=True)  # messages and progress; stdout carries the answer
stdout = Console()

# Exit codes by kind of failure (documented in the README). 1 is `verify` finding broken books.
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3
EXIT_REFUSED = 4
EXIT_CONFLICT = 5
EXIT_INVALID = 6
EXIT_SERVER = 7


def exit_code(exc: BaseException) -> int | None:
    """The exit code of an error the command line explains itself; None: a bug (traceback)."""
    from sqlalchemy.exc import DBAPIError

    kinds: list[tuple[type[BaseException], int]] = [
        (errors.NotFound, EXIT_NOT_FOUND),
        (errors.Forbidden, EXIT_REFUSED),
        (errors.Unauthenticated, EXIT_REFUSED),
        (errors.Conflict, EXIT_CONFLICT),
        (errors.ServiceUnavailable, EXIT_SERVER),
        (errors.DomainError, EXIT_INVALID),
        (DBAPIError, EXIT_SERVER),
    ]
    for kind, code in kinds:
        if isinstance(exc, kind):
            return code
    return None


def error_body(exc: BaseException) -> dict[str, Any]:
    """The API's error shape for ``exc``."""
    if isinstance(exc, errors.DomainError):
        return exc.body()
    first_line = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or [""])[0]
    return {
        "error": {
            "code": "service_unavailable",
            "message": f"the database refused or could not be reached: {first_line}",
            "details": [],
        }
    }


def show_error(exc: BaseException, *, as_json: bool = False) -> None:
    body = error_body(exc)["error"]
    if as_json:
        print(json.dumps({"error": body}, ensure_ascii=False, indent=2))
        return
    console.print(f"[bold red]error[/bold red] ({body['code']}): {body['message']}")
    for d in body["details"]:
        where = ", ".join(f"{k} {d[k]}" for k in ("line", "field") if d.get(k) is not None)
        console.print(f"  • {where + ': ' if where else ''}{d['reason']}")


def print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, default=str))


def jurisdiction_label(code: str) -> str:
    """``440103 荔湾区``: a division code with its Chinese name (the code alone if unknown)."""
    code = code.strip()
    names = {d.code: d.name for d in guangdong_divisions()}
    return f"{code} {names[code]}" if code in names else code


def fund_label(code: str) -> str:
    """``urban_minimum_living 城市最低生活保障``."""
    spec = resolve_fund(code)
    return f"{spec.code} {spec.name}" if spec else code


AMOUNT_FIELDS = frozenset(
    {"amount", "total", "balance", "debit", "credit", "received_from_above", "own_appropriation"}
    | {"reallocated_in", "reallocated_out", "available", "sent_below", "paid_to_people"}
)
JURISDICTION_FIELDS = frozenset({"jurisdiction", "to_jurisdiction", "county", "county_code"})
FUND_FIELDS = frozenset({"fund", "from_fund", "to_fund", "fund_code"})
_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]{1,2})?$")


def yuan(amount: str) -> str:
    """An API amount (a decimal string in yuan) for people: ``1,234,567.89``."""
    if not _DECIMAL.match(amount):
        return amount
    return format_yuan(int(Decimal(amount) * 100))


def rule_text(rule: str) -> str:
    """``paid_after_death 死亡后仍发放``."""
    label = rule_label(rule)
    return f"{rule} {label}" if label != rule else rule


def header(key: str) -> str:
    return f"{key} (元)" if key in AMOUNT_FIELDS else key


def cell(key: str, value: Any) -> str:
    """One value of an API answer as people read it: yuan, Chinese names, dashes for nothing."""
    if value is None or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        if key in AMOUNT_FIELDS:
            return yuan(value)
        if key in JURISDICTION_FIELDS:
            return jurisdiction_label(value)
        if key in FUND_FIELDS:
            return fund_label(value)
        if key == "rule":
            return rule_text(value)
        return value
    if isinstance(value, int) and key.endswith(("count", "lines", "size")):
        return f"{value:,}"
    if isinstance(value, list) and all(not isinstance(v, dict | list) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def plain(answer: Any) -> Any:
    """An answer as its JSON (a model, a list of models or plain values)."""
    if isinstance(answer, BaseModel):
        return answer.model_dump(mode="json")
    if isinstance(answer, list):
        return [plain(a) for a in answer]
    return answer


def rows_table(title: str, rows: list[dict[str, Any]], columns: list[str] | None = None) -> Table:
    """Records as a table: one column per scalar field (or those named)."""
    if columns is None:
        columns = [k for k, v in (rows[0] if rows else {}).items() if not isinstance(v, dict)]
    return table(
        title, [header(c) for c in columns], [[cell(c, r.get(c)) for c in columns] for r in rows]
    )


def record_tables(title: str, record: dict[str, Any]) -> list[Table]:
    """A record as a table of its fields, then one table per list of records it holds."""
    scalars = [
        [k, cell(k, v)] for k, v in record.items() if not _records(v) and not isinstance(v, dict)
    ]
    out = [key_values(title, scalars)]
    for k, v in record.items():
        if isinstance(v, dict) and v:
            out.extend(record_tables(f"{title} · {k}", v))
        elif _records(v):
            out.append(rows_table(f"{title} · {k}", v))
    return out


def _records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def show(
    answer: Any,
    *,
    as_json: bool,
    title: str,
    render: Callable[[Any], list[Table]] | None = None,
) -> None:
    """The answer: its JSON with --json (exactly the API's), else tables for people."""
    doc = plain(answer)
    if as_json:
        print_json(doc)
        return
    tables = (
        render(doc)
        if render
        else [rows_table(title, doc)]
        if isinstance(doc, list)
        else record_tables(title, doc)
    )
    for t in tables:
        stdout.print(t)
    if isinstance(doc, list):
        console.print(f"{len(doc)} row(s)")


def table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    out = Table(title=title, title_justify="left")
    for c in columns:
        out.add_column(c, justify="right" if c.endswith(("(元)", "count", "tokens")) else "left")
    for r in rows:
        out.add_row(*[str(v) for v in r])
    return out


def key_values(title: str, rows: list[list[Any]]) -> Table:
    """A two-column table of names and values, without a header."""
    out = Table(title=title, title_justify="left", show_header=False)
    out.add_column(style="bold")
    out.add_column()
    for name, value in rows:
        out.add_row(str(name), str(value))
    return out
