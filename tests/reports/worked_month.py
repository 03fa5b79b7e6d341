"""DESIGN.md's worked month for 城市低保, on crafted books (amounts in yuan there, fen here)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from tests.reports.books import Line, allocate, release, return_paid, settle, transfer

URBAN = "urban_minimum_living"
SURNAMES = "张王李赵陈刘杨黄周吴"
GIVEN = "伟芳娜敏静秀英华明强"


def people(n: int) -> list[Line]:
    lines = []
    for i in range(n):
        name = SURNAMES[i % 10] + GIVEN[i // 10 % 10] + ("" if i % 3 == 0 else GIVEN[i % 7])
        if i % 25 == 0:
            name = "欧阳" + GIVEN[i % 10] + GIVEN[(i + 3) % 10]
        lines.append(
            Line(
                name=name,
                amount_fen=1_200_00,
                township=("多宝街道", "逢源街道")[i % 2],
                village=f"第{i % 3 + 1}社区",
                household_size=1 + i % 4,
                id_number=f"44010319800101{i:04d}",
                account_no=f"62220202{i:011d}",
            )
        )
    return lines


def worked_month(session: Session) -> dict[str, list[int]]:
    allocate(session, "440000", URBAN, 1_000_000_00, date(2024, 6, 3))
    transfer(session, "440000", "440100", URBAN, 600_000_00, date(2024, 6, 4))
    transfer(session, "440100", "440103", URBAN, 200_000_00, date(2024, 6, 5))
    ids = release(session, "440103", URBAN, "202406", people(150), date(2024, 6, 10))
    settle(session, paid=ids[3:], failed=ids[:3], on=date(2024, 6, 12), reason="account_closed")
    return_paid(session, [ids[10]], date(2024, 6, 19))
    return {"payouts": ids, "failed": ids[:3], "returned": [ids[10]]}
