"""Holdings, asset limits and reviews go in through the import rules: one bad line and nothing
is written; a bank reports only for itself; reviews one by one through the write path."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.factories import make_user
from tests.registers.notice import HOLDING_HEADER, REVIEW_HEADER, csv, id_numbers

PEOPLE = id_numbers(3)


def _count(session: Session, table: str) -> int:
    return int(session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def _holdings(client: Any, user: Any, lines: list[str], **params: str) -> Any:
    return client.post(
        "/registers/holdings",
        headers=user.write(),
        params=params,
        files={"file": ("holdings.csv", csv(HOLDING_HEADER, lines))},
    )


def test_a_holdings_file_with_one_bad_line_changes_nothing_and_names_it(
    client: Any, session: Session
) -> None:
    civil = make_user(session, "civil_affairs", "440103")
    good = f"{PEOPLE[0]},张三,银行,ICBCGD,6222000011112222,1234.50,2024-06-01"
    bad = f"{PEOPLE[1]},李四,证券,GFSEC,A123456,12x.00,2024-06-01"
    r = _holdings(client, civil, [good, bad, f"{PEOPLE[2]},王五,保险,PICC,P99,0,2024-06-01"])
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    assert [(d["line"], d["field"]) for d in details] == [(3, "余额或价值")]
    assert _count(session, "holding") == 0 and _count(session, "register_import") == 0

    ok = _holdings(client, civil, [good])
    assert ok.status_code == 201 and ok.json()["rows"] == 1
    stored = session.execute(text("SELECT * FROM holding")).one()
    assert stored.value_fen == 1234_50 and stored.institution_kind == "bank"
    # only keyed hashes and masks: neither the ID number nor the account is in the row
    assert PEOPLE[0] not in str(tuple(stored)) and "6222000011112222" not in str(tuple(stored))
    assert stored.account_masked.endswith("2222")


def test_a_bank_reports_holdings_only_at_its_own_bank(client: Any, session: Session) -> None:
    bank = make_user(session, "bank", "440000", bank="ICBCGD")
    other = f"{PEOPLE[1]},李四,银行,CCBGD,6217000011112222,10.00,2024-06-01"
    insurer = f"{PEOPLE[2]},王五,保险,ICBCGD,P1,10.00,2024-06-01"
    own = f"{PEOPLE[0]},张三,银行,ICBCGD,6222000011112222,10.00,2024-06-01"
    r = _holdings(client, bank, [own, other, insurer])
    assert r.status_code == 422
    assert [d["line"] for d in r.json()["error"]["details"]] == [3, 4]
    assert _count(session, "holding") == 0
    assert _holdings(client, bank, [own]).status_code == 201
    # a bank uploads no other register, and an auditor no holdings
    review = csv(REVIEW_HEADER, ["440103,H1,入户调查,2024-06-01,无变化,王核查,"])
    r = client.post("/registers/reviews", headers=bank.write(), files={"file": ("r.csv", review)})
    assert r.status_code == 403
    auditor = make_user(session, "auditor", "440000")
    assert _holdings(client, auditor, [own]).status_code == 403


def test_reviews_import_all_or_nothing_and_one_by_one(client: Any, session: Session) -> None:
    civil = make_user(session, "civil_affairs", "440103")
    lines = [
        "440103,H1,信息化核对,2024-05-01,符合条件,王核查,0",
        "440103,H2,入户调查,2024-05-02,无变化,王核查,100.00",  # a visit finds no assets
        "440104,H3,入户调查,2024-05-02,无变化,王核查,",  # another county
    ]
    r = client.post(
        "/registers/reviews",
        headers=civil.write(),
        files={"file": ("r.csv", csv(REVIEW_HEADER, lines))},
    )
    assert r.status_code == 422
    assert [d["line"] for d in r.json()["error"]["details"]] == [3, 4]
    assert _count(session, "household_review") == 0
    r = client.post(
        "/registers/reviews",
        headers=civil.write(),
        files={"file": ("r.csv", csv(REVIEW_HEADER, lines[:1]))},
    )
    assert r.status_code == 201
    body = {"household_id": "H2", "kind": "home_visit", "reviewed_on": "2024-05-02",
            "outcome": "无变化", "reviewer": "王核查"}  # fmt: skip
    headers = civil.write("review-1")
    one = client.post("/counties/440103/reviews", headers=headers, json=body)
    assert one.status_code == 201 and one.json()["kind"] == "home_visit"
    again = client.post("/counties/440103/reviews", headers=headers, json=body)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert (
        client.post("/counties/440104/reviews", headers=civil.write(), json=body).status_code == 403
    )
    rows = session.execute(
        text("SELECT kind, assets_fen, import_id FROM household_review ORDER BY id")
    ).all()
    assert [(r.kind, r.assets_fen, r.import_id is None) for r in rows] == [
        ("information_check", 0, False),
        ("home_visit", None, True),
    ]
    actions = (
        session.execute(
            text("SELECT object_type FROM audit_log WHERE object_type = 'household_review'")
        )
        .scalars()
        .all()
    )
    assert actions == ["household_review"]  # the write, recorded with what it made
