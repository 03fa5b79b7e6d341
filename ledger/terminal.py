"""What the ``ledger`` command shows people and scripts: errors as the API's error shape with one
exit code per kind, rich tables by default and JSON on request, labels with Chinese names."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from ledger import errors
from ledger.jurisdictions.catalog import guangdong_divisions, resolve_fund

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
