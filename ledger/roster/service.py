"""The roster (花名册): importing a county's file as new versions, reading who is entitled.

An import is all-or-nothing: a file with any hard error changes nothing and the refusal names
every line, column and reason. An accepted file is compared with the roster in force at its
effective period: joins and changes become new versions from that period; in ``replace`` mode
people of the file's funds who are no longer listed get an exit version (and many exits at once
need an explicit confirmation). A dry run answers the same without writing. Nothing is
overwritten.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.config import get_settings
from ledger.errors import Conflict, ValidationFailed
from ledger.jobs.models import ProgressFn
from ledger.jurisdictions.catalog import resolve_fund
from ledger.pii import StoredAccount, person_key, store_account
from ledger.pii import mask_id_number as mask_id
from ledger.roster.bulk import copy_rows
from ledger.roster.files import ROSTER_HEADERS, RosterRow, RowIssue, parse_roster

MAX_DETAILS = 1000
_VERSION_COLUMNS = (
    "id_masked",
    "household_id",
    "payee_name",
    "township",
    "village",
    "household_size",
    "amount_fen",
    "bank_code",
    "account_key",
    "account_masked",
    "account_name",
    "start_period",
    "end_period",
)
# Ciphertext differs on every encryption, so a change of account is seen through the key; the
# ciphertext is carried along, never compared.
_STORED_COLUMNS = (*_VERSION_COLUMNS, "account_enc")


def current_roster_sql(where: str = "TRUE") -> str:
    """The version of each (county, fund, person) in force at ``:period``, entitled or not."""
    return (
        "SELECT DISTINCT ON (county_code, fund_code, person_key) * FROM roster_version "
        f"WHERE valid_from <= :period AND ({where}) "
        "ORDER BY county_code, fund_code, person_key, valid_from DESC, id DESC"
    )


def entitled_sql(where: str = "TRUE") -> str:
    """Who is paid for ``:period``: the version in force is active and spans the period."""
    return (
        f"SELECT * FROM ({current_roster_sql(where)}) cur WHERE active "
        "AND start_period <= :period AND (end_period IS NULL OR end_period >= :period)"
    )


def issue_details(issues: Iterable[RowIssue]) -> list[dict[str, Any]]:
    return [{"line": i.line, "field": i.column or None, "reason": i.reason} for i in issues][
        :MAX_DETAILS
    ]


def refuse(what: str, errors: list[RowIssue]) -> ValidationFailed:
    return ValidationFailed(
        f"{what} has {len(errors)} error(s); nothing was imported", issue_details(errors)
    )


MODES = ("update", "replace")


@dataclass
class RosterImport:
    """What an import did (or, for a dry run, would do): counts, and the lines behind them."""

    import_id: int | None
    mode: str
    dry_run: bool
    rows: int
    joined: int
    changed: int
    exited: int
    unchanged: int
    exited_households: int
    households_in_force: int
    warnings: list[RowIssue] = field(default_factory=list)
    joined_lines: list[int] = field(default_factory=list)
    changed_lines: list[int] = field(default_factory=list)
    exits: list[dict[str, Any]] = field(default_factory=list)


def _db_issues(
    session: Session, county: str, rows: list[RosterRow]
) -> tuple[list[RowIssue], dict[str, str]]:
    """What needs the database: the fund, the county in scope, the bank."""
    banks = set(session.execute(text("SELECT code FROM bank")).scalars())
    funds: dict[str, str] = {}
    issues = []
    for r in rows:
        spec = resolve_fund(r.fund)
        if spec is None:
            issues.append(
                RowIssue(r.line_no, ROSTER_HEADERS["fund"], f"unknown fund {r.fund!r}", "error")
            )
        else:
            funds[r.fund] = spec.code
        if r.county_code != county:
            issues.append(
                RowIssue(
                    r.line_no,
                    ROSTER_HEADERS["county_code"],
                    f"county {r.county_code} is outside the uploader's scope ({county})",
                    "error",
                )
            )
        if r.bank_code not in banks:
            issues.append(
                RowIssue(
                    r.line_no, ROSTER_HEADERS["bank_code"], f"unknown bank {r.bank_code!r}", "error"
                )
            )
    return issues, funds


def import_roster(
    session: Session,
    *,
    county: str,
    data: bytes,
    filename: str,
    effective_period: str,
    imported_by: str,
    mode: str = "update",
    dry_run: bool = False,
    confirm_exits: int | None = None,
    exit_share: float | None = None,
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Check the whole file, then write its differences as versions from ``effective_period``.

    ``update`` (the default) writes joins and changes; a person leaves only where the file says
    so (an end period before the effective one). ``replace`` also ends everyone of the file's
    funds the file no longer lists; when that would end more than ``exit_share`` of the
    households in force, it needs ``confirm_exits`` equal to the number of households it ends.
    ``dry_run`` answers what would happen, with the lines, and writes nothing (the caller rolls
    the transaction back). ``progress(done, total)`` is told the rows written.
    """
    if mode not in MODES:
        raise ValidationFailed(
            f"mode must be one of {', '.join(MODES)}", [{"field": "mode", "reason": "unknown"}]
        )
    share = get_settings().roster_exit_confirm_share if exit_share is None else exit_share
    result = _import_roster(
        session,
        county=county,
        data=data,
        filename=filename,
        effective_period=effective_period,
        imported_by=imported_by,
        mode=mode,
        dry_run=dry_run,
        confirm_exits=confirm_exits,
        exit_share=share,
        progress=progress,
    )
    return asdict(result)


def _counted(
    rows: list[RosterRow], progress: ProgressFn | None
) -> Iterator[tuple[RosterRow, StoredAccount]]:
    for done, r in enumerate(rows, 1):
        yield r, store_account(r.account_no)
        if progress is not None and (done % 1000 == 0 or done == len(rows)):
            progress(done, len(rows))


def _import_roster(
    session: Session,
    *,
    county: str,
    data: bytes,
    filename: str,
    effective_period: str,
    imported_by: str,
    mode: str,
    dry_run: bool,
    confirm_exits: int | None,
    exit_share: float,
    progress: ProgressFn | None = None,
) -> RosterImport:
    parsed = parse_roster(data, filename=filename)
    db_issues, funds = _db_issues(session, county, parsed.rows)
    issues = parsed.issues + db_issues
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise refuse("the roster file", sorted(errors, key=lambda i: i.line))
    if not parsed.rows:
        raise ValidationFailed(
            "the roster file has no rows", [{"line": 1, "field": None, "reason": "no rows"}]
        )
    import_id = 0
    if not dry_run:
        import_id = session.execute(
            text(
                "INSERT INTO register_import (kind, jurisdiction_code, effective_period, filename, "
                "sha256, row_count, imported_by) VALUES ('roster', :j, :p, :f, :h, :n, :by) "
                "RETURNING id"
            ),
            {
                "j": county,
                "p": effective_period,
                "f": filename,
                "h": hashlib.sha256(data).hexdigest(),
                "n": len(parsed.rows),
                "by": imported_by,
            },
        ).scalar_one()
    session.execute(
        text(
            "CREATE TEMP TABLE roster_upload (LIKE roster_version INCLUDING DEFAULTS) ON COMMIT DROP"
        )
    )
    session.execute(text("ALTER TABLE roster_upload ADD COLUMN line_no integer"))
    copy_rows(
        session,
        "roster_upload",
        (
            "id",
            "import_id",
            "county_code",
            "fund_code",
            "person_key",
            "valid_from",
            "active",
            *_STORED_COLUMNS,
            "line_no",
        ),
        (
            (
                0,
                import_id,
                county,
                funds[r.fund],
                person_key(r.id_number),
                effective_period,
                True,
                mask_id(r.id_number),
                r.household_id,
                r.name,
                r.township,
                r.village,
                r.household_size,
                r.monthly_amount_fen,
                r.bank_code,
                account.key,
                account.masked,
                r.account_name,
                r.start_period,
                r.end_period,
                account.enc,
                r.line_no,
            )
            for r, account in _counted(parsed.rows, progress)
        ),
    )
    params = {
        "period": effective_period,
        "county": county,
        "imp": import_id,
        "funds": sorted(set(funds.values())),
    }
    _refuse_paid_elsewhere(session, params)
    current = current_roster_sql("county_code = :county AND fund_code = ANY(:funds)")
    session.execute(
        text(
            f"CREATE TEMP TABLE roster_compare ON COMMIT DROP AS WITH cur AS ({current}) "
            "SELECT u.*, c.person_key IS NOT NULL AND c.active AS was_active, "
            f"({', '.join('u.' + c for c in _VERSION_COLUMNS)}) IS NOT DISTINCT FROM "
            f"({', '.join('c.' + c for c in _VERSION_COLUMNS)}) AS same, "
            "c.active AND (c.end_period IS NULL OR c.end_period >= :period) AND "
            "u.end_period IS NOT NULL AND u.end_period < :period AS ends "
            "FROM roster_upload u LEFT JOIN cur c USING (county_code, fund_code, person_key)"
        ),
        params,
    )
    # Who a replace ends: everyone of the file's funds in force that the file no longer lists.
    session.execute(
        text(
            f"CREATE TEMP TABLE roster_exit ON COMMIT DROP AS SELECT c.* FROM ({current}) c "
            "WHERE c.active AND :replace AND NOT EXISTS (SELECT 1 FROM roster_upload u "
            "WHERE u.fund_code = c.fund_code AND u.person_key = c.person_key)"
        ),
        {**params, "replace": mode == "replace"},
    )
    figures = session.execute(
        text(
            f"WITH cur AS ({current}) SELECT "
            "(SELECT count(*) FROM roster_compare WHERE NOT was_active) AS joined, "
            "(SELECT count(*) FROM roster_compare WHERE was_active AND NOT same) AS changed, "
            "(SELECT count(*) FROM roster_compare WHERE was_active AND same) AS unchanged, "
            "(SELECT count(*) FROM roster_compare WHERE ends) AS ended, "
            "(SELECT count(*) FROM roster_exit) AS exits, "
            "(SELECT count(DISTINCT household_id) FROM roster_exit) AS exit_households, "
            "(SELECT count(DISTINCT household_id) FROM cur WHERE active) AS households"
        ),
        params,
    ).one()
    exited_households = int(figures.exit_households)
    in_force = int(figures.households)
    if (
        not dry_run
        and exited_households > exit_share * in_force
        and confirm_exits != exited_households
    ):
        raise Conflict(
            f"this replace would end benefits for {exited_households} of {in_force} households "
            f"(more than {exit_share:.0%}); check the dry run and send "
            f"confirm_exits={exited_households} to go ahead",
            [{"field": "confirm_exits", "reason": f"must be {exited_households}"}],
        )
    answer = RosterImport(
        import_id=import_id or None,
        mode=mode,
        dry_run=dry_run,
        rows=len(parsed.rows),
        joined=int(figures.joined),
        changed=int(figures.changed),
        exited=int(figures.exits) + int(figures.ended),
        unchanged=int(figures.unchanged),
        exited_households=exited_households,
        households_in_force=in_force,
        warnings=[i for i in issues if i.severity == "warning"],
        joined_lines=_lines(session, "NOT was_active"),
        changed_lines=_lines(session, "was_active AND NOT same"),
        exits=[
            {**dict(r), "line": None}
            for r in session.execute(
                text(
                    "SELECT fund_code AS fund, household_id, id_masked, payee_name FROM roster_exit "
                    "ORDER BY household_id, person_key LIMIT :n"
                ),
                {"n": MAX_DETAILS},
            ).mappings()
        ]
        + [
            {
                "line": r.line_no,
                "fund": r.fund_code,
                "household_id": r.household_id,
                "id_masked": r.id_masked,
                "payee_name": r.payee_name,
            }
            for r in session.execute(
                text(
                    "SELECT line_no, fund_code, household_id, id_masked, payee_name "
                    "FROM roster_compare WHERE ends ORDER BY line_no LIMIT :n"
                ),
                {"n": MAX_DETAILS},
            )
        ],
    )
    if not dry_run:
        cols = ", ".join(_STORED_COLUMNS)
        session.execute(
            text(
                "INSERT INTO roster_version (import_id, county_code, fund_code, person_key, "
                f"valid_from, active, {cols}) SELECT import_id, county_code, fund_code, person_key, "
                f"valid_from, true, {cols} FROM roster_compare WHERE NOT (was_active AND same) "
                "ORDER BY line_no"
            )
        )
        session.execute(
            text(
                "INSERT INTO roster_version (import_id, county_code, fund_code, person_key, "
                f"valid_from, active, {cols}) SELECT :imp, county_code, fund_code, person_key, "
                f":period, false, {cols} FROM roster_exit"
            ),
            params,
        )
    for table in ("roster_exit", "roster_compare", "roster_upload"):
        session.execute(text(f"DROP TABLE {table}"))
    return answer


def _lines(session: Session, where: str) -> list[int]:
    return list(
        session.execute(
            text(f"SELECT line_no FROM roster_compare WHERE {where} ORDER BY line_no LIMIT :n"),
            {"n": MAX_DETAILS},
        ).scalars()
    )


def _refuse_paid_elsewhere(session: Session, params: dict[str, Any]) -> None:
    """A person in force for a fund in another county's roster cannot join this one as well:
    the conflict names the line and the other county."""
    elsewhere = entitled_sql(
        "county_code <> :county AND fund_code = ANY(:funds) "
        "AND person_key IN (SELECT person_key FROM roster_upload)"
    )
    rows = session.execute(
        text(
            f"SELECT u.line_no, o.county_code, o.fund_code FROM roster_upload u JOIN ({elsewhere}) o "
            "ON o.person_key = u.person_key AND o.fund_code = u.fund_code ORDER BY u.line_no"
        ),
        params,
    ).all()
    if rows:
        raise refuse(
            "the roster file",
            [
                RowIssue(
                    r.line_no,
                    ROSTER_HEADERS["id_number"],
                    f"this person is already in force for {r.fund_code} on the roster of county "
                    f"{r.county_code}: end it there first",
                    "error",
                )
                for r in rows
            ],
        )


def roster_at(
    session: Session,
    *,
    county: str,
    period: str,
    fund: str | None = None,
    limit: int = 1000,
    after_id: int = 0,
) -> list[dict[str, Any]]:
    """The entitled payees of a county for a period (masked ID and account), in pages by id."""
    rows = session.execute(
        text(
            "SELECT id, fund_code, household_id, payee_name, id_masked, township, village, "
            "household_size, amount_fen, bank_code, account_masked, account_name, start_period, "
            f"end_period, valid_from FROM ({entitled_sql('county_code = :county AND (CAST(:fund AS text) IS NULL OR fund_code = :fund)')}) e "
            "WHERE id > :after ORDER BY id LIMIT :lim"
        ),
        {"county": county, "period": period, "fund": fund, "after": after_id, "lim": limit},
    ).mappings()
    return [dict(r) for r in rows]


def roster_history(session: Session, *, county: str, key: str) -> list[dict[str, Any]]:
    """Every version of one person in a county, oldest first."""
    rows = session.execute(
        text(
            "SELECT id, import_id, fund_code, valid_from, active, household_id, amount_fen, "
            "household_size, bank_code, account_masked FROM roster_version "
            "WHERE county_code = :c AND person_key = :k ORDER BY fund_code, valid_from, id"
        ),
        {"c": county, "k": key},
    ).mappings()
    return [dict(r) for r in rows]
