"""Importing the registers the pre-release checks read. Each import is all-or-nothing.

- standards (保障标准): dated monthly standard per jurisdiction and fund, cumulative;
- deaths (死亡登记): cumulative;
- public payroll (财政供养人员) and staff relatives (近亲属备案): snapshots, the newest import
  of a jurisdiction is its current list.
ID numbers are kept only as ``person_key`` and a masked form.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.jurisdictions.catalog import in_subtree, resolve_fund
from ledger.pii import mask_id_number as mask_id
from ledger.pii import person_key
from ledger.registers.files import (
    STANDARD_COLUMNS,
    RegisterParseResult,
    RowIssue,
    parse_death_register,
    parse_payroll,
    parse_staff_relatives,
    parse_standards,
)
from ledger.roster.bulk import copy_rows
from ledger.roster.service import refuse

KINDS = ("standards", "deaths", "public_payroll", "staff_relatives")


@dataclass
class RegisterImport:
    import_id: int
    kind: str
    rows: int
    warnings: list[RowIssue] = field(default_factory=list)


def _store(
    session: Session,
    *,
    kind: str,
    jurisdiction: str,
    data: bytes,
    filename: str,
    imported_by: str,
    parsed: RegisterParseResult[Any],
    extra_issues: Sequence[RowIssue],
    table: str,
    columns: Sequence[str],
    values: Callable[[Any], Sequence[Any]],
) -> RegisterImport:
    issues = [*parsed.issues, *extra_issues]
    errors = [i for i in issues if i.severity == "error"]
    if errors:
        raise refuse(f"the {kind} file", sorted(errors, key=lambda i: i.line))
    import_id = session.execute(
        text(
            "INSERT INTO register_import (kind, jurisdiction_code, filename, sha256, row_count, "
            "imported_by) VALUES (:k, :j, :f, :h, :n, :by) RETURNING id"
        ),
        {
            "k": kind,
            "j": jurisdiction,
            "f": filename,
            "h": hashlib.sha256(data).hexdigest(),
            "n": len(parsed.rows),
            "by": imported_by,
        },
    ).scalar_one()
    copy_rows(
        session, table, ("import_id", *columns), ((import_id, *values(r)) for r in parsed.rows)
    )
    return RegisterImport(
        import_id, kind, len(parsed.rows), [i for i in issues if i.severity == "warning"]
    )


def import_register(
    session: Session,
    *,
    kind: str,
    jurisdiction: str,
    data: bytes,
    filename: str,
    imported_by: str,
) -> dict[str, Any]:
    """Import one register file for ``jurisdiction`` (standards rows must lie in its subtree)."""
    if kind not in KINDS:
        raise ValueError(f"unknown register kind {kind!r}")
    return asdict(
        _import_register(
            session,
            kind=kind,
            jurisdiction=jurisdiction,
            data=data,
            filename=filename,
            imported_by=imported_by,
        )
    )


def _import_register(
    session: Session,
    *,
    kind: str,
    jurisdiction: str,
    data: bytes,
    filename: str,
    imported_by: str,
) -> RegisterImport:
    common: dict[str, Any] = {
        "kind": kind,
        "jurisdiction": jurisdiction,
        "data": data,
        "filename": filename,
        "imported_by": imported_by,
    }
    if kind == "standards":
        standards = parse_standards(data)
        extra: list[RowIssue] = []
        fund_of: dict[str, str] = {}
        jur_header = STANDARD_COLUMNS[0].aliases[0]
        for r in standards.rows:
            spec = resolve_fund(r.fund)
            if spec is None:
                extra.append(RowIssue(r.line_no, "救助类别", f"unknown fund {r.fund!r}", "error"))
            else:
                fund_of[r.fund] = spec.code
            if not in_subtree(jurisdiction, r.jurisdiction_code):
                extra.append(
                    RowIssue(
                        r.line_no,
                        jur_header,
                        f"jurisdiction {r.jurisdiction_code} is outside the uploader's scope",
                        "error",
                    )
                )
        known = set(
            session.execute(
                text("SELECT code FROM jurisdiction WHERE code = ANY(:c)"),
                {"c": sorted({r.jurisdiction_code for r in standards.rows})},
            ).scalars()
        )
        extra += [
            RowIssue(r.line_no, jur_header, f"unknown jurisdiction {r.jurisdiction_code}", "error")
            for r in standards.rows
            if r.jurisdiction_code not in known
        ]
        return _store(
            session,
            **common,
            parsed=standards,
            extra_issues=extra,
            table="benefit_standard",
            columns=("jurisdiction_code", "fund_code", "effective_from", "monthly_fen"),
            values=lambda r: (
                r.jurisdiction_code,
                fund_of[r.fund],
                r.effective_from,
                r.monthly_standard_fen,
            ),
        )
    if kind == "deaths":
        return _store(
            session,
            **common,
            parsed=parse_death_register(data),
            extra_issues=[],
            table="death_record",
            columns=("person_key", "id_masked", "name", "date_of_death"),
            values=lambda r: (
                person_key(r.id_number),
                mask_id(r.id_number),
                r.name,
                r.date_of_death,
            ),
        )
    if kind == "public_payroll":
        return _store(
            session,
            **common,
            parsed=parse_payroll(data),
            extra_issues=[],
            table="public_payroll",
            columns=("person_key", "id_masked", "name", "employer"),
            values=lambda r: (person_key(r.id_number), mask_id(r.id_number), r.name, r.employer),
        )
    if kind == "staff_relatives":
        return _store(
            session,
            **common,
            parsed=parse_staff_relatives(data),
            extra_issues=[],
            table="staff_relative",
            columns=(
                "staff_person_key",
                "staff_name",
                "relative_person_key",
                "relative_id_masked",
                "relative_name",
                "relation",
                "filed",
                "filing_date",
            ),
            values=lambda r: (
                person_key(r.staff_id_number),
                r.staff_name,
                person_key(r.relative_id_number),
                mask_id(r.relative_id_number),
                r.relative_name,
                r.relation,
                r.filed,
                r.filing_date,
            ),
        )
    raise ValueError(f"unknown register kind {kind!r}")


def current_snapshot_sql(kind: str) -> str:
    """Import ids that are current for a snapshot register: the newest per jurisdiction."""
    return (
        "SELECT DISTINCT ON (jurisdiction_code) id FROM register_import "
        f"WHERE kind = '{kind}' ORDER BY jurisdiction_code, id DESC"
    )
