"""Seeding the division tree and funds, and charts of accounts on first use."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.domain import AccountKind
from ledger.errors import NotFound
from ledger.jurisdictions.catalog import FUNDS, guangdong_divisions, resolve_fund


def seed_reference_data(*, session: Session) -> dict[str, int]:
    """Insert the divisions and funds that are missing; safe to run again."""
    divisions = guangdong_divisions()
    session.execute(
        text(
            "INSERT INTO jurisdiction (code, name, parent_code, level, pays_directly) "
            "VALUES (:code, :name, :parent, :level, :pays) ON CONFLICT (code) DO NOTHING"
        ),
        [
            {
                "code": d.code,
                "name": d.name,
                "parent": d.parent,
                "level": d.level,
                "pays": d.pays_directly,
            }
            for d in divisions
        ],
    )
    session.execute(
        text(
            "INSERT INTO fund (code, name, budget_function_code) VALUES (:code, :name, :bfc) "
            "ON CONFLICT (code) DO NOTHING"
        ),
        [{"code": f.code, "name": f.name, "bfc": f.budget_function_code} for f in FUNDS],
    )
    return {"jurisdictions": len(divisions), "funds": len(FUNDS)}


def ensure_charts(session: Session, pairs: set[tuple[str, str]]) -> None:
    """Create the chart of accounts of each (jurisdiction, fund) that has none yet."""
    if not pairs:
        return
    session.execute(
        text(
            "INSERT INTO account (jurisdiction_code, fund_code, kind) "
            "SELECT j, f, k FROM unnest(CAST(:js AS text[]), CAST(:fs AS text[])) AS p(j, f) "
            "CROSS JOIN unnest(CAST(:kinds AS text[])) AS k "
            "ON CONFLICT ON CONSTRAINT account_unique DO NOTHING"
        ),
        {
            "js": [p[0] for p in sorted(pairs)],
            "fs": [p[1] for p in sorted(pairs)],
            "kinds": [k.value for k in AccountKind],
        },
    )


def get_jurisdiction(session: Session, code: str) -> dict[str, object]:
    row = (
        session.execute(
            text(
                "SELECT code, name, parent_code, level, pays_directly FROM jurisdiction WHERE code = :c"
            ),
            {"c": code},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(
            f"jurisdiction {code} does not exist",
            [{"field": "jurisdiction", "reason": "unknown code"}],
        )
    return dict(row)


def fund_code(session: Session, value: str) -> str:
    spec = resolve_fund(value)
    if spec is None:
        raise NotFound(
            f"fund {value!r} does not exist", [{"field": "fund", "reason": "unknown fund"}]
        )
    return spec.code


def children(session: Session, code: str) -> list[str]:
    return list(
        session.execute(
            text("SELECT code FROM jurisdiction WHERE parent_code = :c ORDER BY code"), {"c": code}
        ).scalars()
    )
