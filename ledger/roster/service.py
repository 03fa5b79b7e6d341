"""The roster (花名册): importing a county's file as new versions, reading who is entitled.

An import is all-or-nothing: a file with any hard error changes nothing and the refusal names
every line, column and reason. An accepted file is compared with the roster in force at its
effective period: joins and changes become new versions from that period, people of the file's
funds who are no longer listed get an exit version. Nothing is overwritten.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.errors import ValidationFailed
from ledger.jurisdictions.catalog import resolve_fund
from ledger.pii import mask_id_number as mask_id
from ledger.pii import person_key
from ledger.roster.bulk import copy_rows, run_once
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
    "account_no",
    "account_name",
    "start_period",
    "end_period",
)


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


@dataclass
class RosterImport:
    import_id: int
    rows: int
    joined: int
    changed: int
    exited: int
    unchanged: int
    warnings: list[RowIssue] = field(default_factory=list)


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
    key: str | None = None,
) -> dict[str, Any]:
    """Check the whole file, then write its differences as versions from ``effective_period``."""
    body = {
        "county": county,
        "period": effective_period,
        "sha256": hashlib.sha256(data).hexdigest(),
        "filename": filename,
    }

    def work() -> dict[str, Any]:
        return asdict(
            _import_roster(
                session,
                county=county,
                data=data,
                filename=filename,
                effective_period=effective_period,
                imported_by=imported_by,
            )
        )

    return run_once(session, key=key, operation="roster_import", body=body, work=work)


def _import_roster(
    session: Session,
    *,
    county: str,
    data: bytes,
    filename: str,
    effective_period: str,
    imported_by: str,
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
    import_id = session.execute(
        text(
            "INSERT INTO register_import (kind, jurisdiction_code, effective_period, filename, "
            "sha256, row_count, imported_by) VALUES ('roster', :j, :p, :f, :h, :n, :by) RETURNING id"
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
            *_VERSION_COLUMNS,
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
                r.account_no,
                r.account_name,
                r.start_period,
                r.end_period,
            )
            for r in parsed.rows
        ),
    )
    cols = ", ".join(_VERSION_COLUMNS)
    params = {
        "period": effective_period,
        "county": county,
        "imp": import_id,
        "funds": sorted(set(funds.values())),
    }
    current = current_roster_sql("county_code = :county AND fund_code = ANY(:funds)")
    counts = session.execute(
        text(
            f"WITH cur AS ({current}), "
            "cmp AS (SELECT u.*, c.person_key IS NOT NULL AND c.active AS was_active, "
            f"  ({', '.join('u.' + c for c in _VERSION_COLUMNS)}) IS NOT DISTINCT FROM "
            f"  ({', '.join('c.' + c for c in _VERSION_COLUMNS)}) AS same "
            "  FROM roster_upload u LEFT JOIN cur c USING (county_code, fund_code, person_key)), "
            "joins AS (INSERT INTO roster_version (import_id, county_code, fund_code, person_key, "
            f"  valid_from, active, {cols}) SELECT import_id, county_code, fund_code, person_key, "
            f"  valid_from, true, {cols} FROM cmp WHERE NOT (was_active AND same) "
            "  RETURNING 1), "
            "exits AS (INSERT INTO roster_version (import_id, county_code, fund_code, person_key, "
            f"  valid_from, active, {cols}) SELECT :imp, county_code, fund_code, person_key, "
            f"  :period, false, {cols} FROM cur c WHERE c.active AND NOT EXISTS (SELECT 1 FROM "
            "  roster_upload u WHERE u.fund_code = c.fund_code AND u.person_key = c.person_key) "
            "  RETURNING 1) "
            "SELECT (SELECT count(*) FROM cmp WHERE NOT was_active) AS joined, "
            "  (SELECT count(*) FROM cmp WHERE was_active AND NOT same) AS changed, "
            "  (SELECT count(*) FROM cmp WHERE was_active AND same) AS unchanged, "
            "  (SELECT count(*) FROM joins) AS written, (SELECT count(*) FROM exits) AS exited"
        ),
        params,
    ).one()
    session.execute(text("DROP TABLE roster_upload"))
    return RosterImport(
        import_id=import_id,
        rows=len(parsed.rows),
        joined=counts.joined,
        changed=counts.changed,
        exited=counts.exited,
        unchanged=counts.unchanged,
        warnings=[i for i in issues if i.severity == "warning"],
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
    """The entitled payees of a county for a period (masked ID only), in pages by version id."""
    rows = session.execute(
        text(
            "SELECT id, fund_code, household_id, payee_name, id_masked, township, village, "
            "household_size, amount_fen, bank_code, account_no, account_name, start_period, "
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
            "household_size, bank_code, account_no FROM roster_version "
            "WHERE county_code = :c AND person_key = :k ORDER BY fund_code, valid_from, id"
        ),
        {"c": county, "k": key},
    ).mappings()
    return [dict(r) for r in rows]
