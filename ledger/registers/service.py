"""Importing the registers the pre-release checks read. Each import is all-or-nothing.

- standards (保障标准): dated monthly standard per jurisdiction and fund, cumulative;
- deaths (死亡登记): cumulative;
- public payroll (财政供养人员) and staff relatives (近亲属备案): snapshots, the newest import
  of a jurisdiction is its current list;
- reviews (动态复核): information checks and home visits of households, cumulative; a review can
  also be written one by one (``record_review``);
- holdings (家庭经济状况核对): what banks, securities firms and insurers report, cumulative; a
  bank user may report only for its own bank;
- asset limits (资产限额): dated like the standards.
ID numbers and accounts are kept only as keyed hashes and a masked form.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.errors import ValidationFailed
from ledger.jurisdictions.catalog import in_subtree, resolve_fund
from ledger.pii import account_key, mask_account, person_key
from ledger.pii import mask_id_number as mask_id
from ledger.registers.files import (
    REVIEW_COLUMNS,
    STANDARD_COLUMNS,
    RegisterParseResult,
    ReviewRow,
    RowIssue,
    parse_asset_limits,
    parse_death_register,
    parse_holdings,
    parse_payroll,
    parse_reviews,
    parse_staff_relatives,
    parse_standards,
)
from ledger.roster.bulk import copy_rows
from ledger.roster.service import refuse

KINDS = ("standards", "deaths", "public_payroll", "staff_relatives", "reviews", "asset_limits")
"""The kinds of the generic register upload; holdings have their own (``import_holdings``)."""


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


def _dated_table_issues(
    session: Session, jurisdiction: str, rows: Sequence[Any]
) -> tuple[list[RowIssue], dict[str, str]]:
    """A dated table's rows (standards, asset limits): a known fund, a known jurisdiction in the
    uploader's subtree. Returns the issues and each fund as written → its code."""
    extra: list[RowIssue] = []
    fund_of: dict[str, str] = {}
    jur_header = STANDARD_COLUMNS[0].aliases[0]
    for r in rows:
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
            {"c": sorted({r.jurisdiction_code for r in rows})},
        ).scalars()
    )
    extra += [
        RowIssue(r.line_no, jur_header, f"unknown jurisdiction {r.jurisdiction_code}", "error")
        for r in rows
        if r.jurisdiction_code not in known
    ]
    return extra, fund_of


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
        extra, fund_of = _dated_table_issues(session, jurisdiction, standards.rows)
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
    if kind == "asset_limits":
        limits = parse_asset_limits(data)
        extra, fund_of = _dated_table_issues(session, jurisdiction, limits.rows)
        return _store(
            session,
            **common,
            parsed=limits,
            extra_issues=extra,
            table="asset_limit",
            columns=("jurisdiction_code", "fund_code", "effective_from", "per_person_fen"),
            values=lambda r: (
                r.jurisdiction_code,
                fund_of[r.fund],
                r.effective_from,
                r.per_person_fen,
            ),
        )
    if kind == "reviews":
        reviews = parse_reviews(data)
        county_header = REVIEW_COLUMNS[0].aliases[0]
        outside = [
            RowIssue(
                r.line_no,
                county_header,
                f"county {r.county_code} is outside the uploader's scope",
                "error",
            )
            for r in reviews.rows
            if not in_subtree(jurisdiction, r.county_code)
        ]
        return _store(
            session,
            **common,
            parsed=reviews,
            extra_issues=outside,
            table="household_review",
            columns=REVIEW_TABLE_COLUMNS,
            values=lambda r: (*_review_values(r), imported_by),
        )
    raise ValueError(f"unknown register kind {kind!r}")


REVIEW_TABLE_COLUMNS = (
    "county_code",
    "household_id",
    "kind",
    "reviewed_on",
    "outcome",
    "reviewer",
    "assets_fen",
    "recorded_by",
)


def _review_values(r: ReviewRow) -> tuple[Any, ...]:
    return (r.county_code, r.household_id, r.kind, r.reviewed_on, r.outcome, r.reviewer,
            r.assets_fen)  # fmt: skip


def record_review(
    session: Session,
    *,
    county: str,
    household_id: str,
    kind: str,
    reviewed_on: dt.date,
    outcome: str,
    reviewer: str,
    assets_fen: int | None,
    recorded_by: str,
) -> dict[str, Any]:
    """One review of a household, written on its own (an import writes many at once)."""
    if kind not in REVIEW_KIND_NAMES:
        raise ValidationFailed(
            "unknown review kind", [{"field": "kind", "reason": f"one of {REVIEW_KIND_NAMES}"}]
        )
    if kind == "home_visit" and assets_fen is not None:
        raise ValidationFailed(
            "a home visit records no assets",
            [{"field": "assets", "reason": "only an information check finds assets"}],
        )
    if reviewed_on > dt.date.today():
        raise ValidationFailed(
            "a review cannot be dated in the future",
            [{"field": "reviewed_on", "reason": "in the future"}],
        )
    review_id = session.execute(
        text(
            f"INSERT INTO household_review ({', '.join(REVIEW_TABLE_COLUMNS)}) VALUES "
            "(:c, :h, :k, :d, :o, :r, :a, :by) RETURNING id"
        ),
        {
            "c": county,
            "h": household_id,
            "k": kind,
            "d": reviewed_on,
            "o": outcome,
            "r": reviewer,
            "a": assets_fen,
            "by": recorded_by,
        },
    ).scalar_one()
    return {
        "id": review_id,
        "county": county,
        "household_id": household_id,
        "kind": kind,
        "reviewed_on": reviewed_on.isoformat(),
        "outcome": outcome,
        "reviewer": reviewer,
        "assets_fen": assets_fen,
    }


REVIEW_KIND_NAMES = ("information_check", "home_visit")


def import_holdings(
    session: Session,
    *,
    jurisdiction: str,
    data: bytes,
    filename: str,
    imported_by: str,
    bank_code: str | None,
) -> dict[str, Any]:
    """A holdings file (存款、有价证券、商业保险). ``bank_code`` is the uploading bank user's own
    bank: every line must then be a bank holding at that bank. All-or-nothing like every
    register: one bad line and nothing is written, the refusal names it."""
    parsed = parse_holdings(data)
    extra: list[RowIssue] = []
    if bank_code is not None:
        for r in parsed.rows:
            if r.institution_kind != "bank" or r.institution != bank_code:
                extra.append(
                    RowIssue(
                        r.line_no,
                        "机构代码",
                        f"a bank user reports only holdings at its own bank {bank_code}",
                        "error",
                    )
                )
    result = _store(
        session,
        kind="holdings",
        jurisdiction=jurisdiction,
        data=data,
        filename=filename,
        imported_by=imported_by,
        parsed=parsed,
        extra_issues=extra,
        table="holding",
        columns=(
            "person_key",
            "id_masked",
            "name",
            "institution_kind",
            "institution",
            "account_key",
            "account_masked",
            "value_fen",
            "as_of",
        ),
        values=lambda r: (
            person_key(r.id_number),
            mask_id(r.id_number),
            r.name,
            r.institution_kind,
            r.institution,
            account_key(r.account),
            mask_account(r.account),
            r.value_fen,
            r.as_of,
        ),
    )
    return asdict(result)


def current_snapshot_sql(kind: str) -> str:
    """Import ids that are current for a snapshot register: the newest per jurisdiction."""
    return (
        "SELECT DISTINCT ON (jurisdiction_code) id FROM register_import "
        f"WHERE kind = '{kind}' ORDER BY jurisdiction_code, id DESC"
    )
