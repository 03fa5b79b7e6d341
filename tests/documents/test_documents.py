"""Allocation, transfer and reallocation documents through the HTTP API: maker-checker, scope,
the sender's cash, and what reaches the books."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.access import service as access
from ledger.journal.service import get_entry, special_cash
from ledger.journal.verify import verify
from tests.factories import TestUser, make_user

FUND = "urban_minimum_living"
YEAR = date.today().year


def _entries(session: Session) -> int:
    return int(session.execute(text("SELECT count(*) FROM journal_entry")).scalar_one())


def draft(client: Any, user: TestUser, kind: str, amount: str, **extra: Any) -> Any:
    body = {"number": f"粤财社〔{YEAR}〕{amount}-{kind}号", "fiscal_year": YEAR, "amount": amount}
    body.update(extra)
    if kind != "reallocations":
        body.setdefault("fund", FUND)
    return client.post(f"/documents/{kind}", json=body, headers=user.write())


def approve(client: Any, user: TestUser, doc_id: int) -> Any:
    return client.post(f"/documents/{doc_id}/approval", headers=user.write())


def posted(
    client: Any, maker: TestUser, checker: TestUser, kind: str, amount: str, **kw: Any
) -> Any:
    r = draft(client, maker, kind, amount, **kw)
    assert r.status_code == 201, r.text
    a = approve(client, checker, r.json()["id"])
    assert a.status_code == 200, a.text
    return a.json()["document"]


def test_maker_cannot_approve_and_nothing_posts_before_approval(
    client: Any, session: Session
) -> None:
    maker, checker = (
        make_user(session, "finance", "440000"),
        make_user(session, "finance", "440000"),
    )
    r = draft(client, maker, "allocations", "1000000.00")
    assert r.status_code == 201, r.text
    doc = r.json()
    assert (
        doc["status"] == "draft" and doc["entry_ids"] == [] and doc["created_by"] == maker.username
    )
    assert _entries(session) == 0 and special_cash(session, "440000", FUND) == 0

    refused = approve(client, maker, doc["id"])
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert _entries(session) == 0
    assert client.get(f"/documents/{doc['id']}", headers=maker.headers).json()["status"] == "draft"

    first = approve(client, checker, doc["id"])
    assert first.status_code == 200 and first.json()["newly_approved"] is True
    approved = first.json()["document"]
    assert approved["status"] == "posted" and approved["approved_by"] == checker.username
    assert special_cash(session, "440000", FUND) == 1_000_000_00
    entry = get_entry(session, approved["entry_ids"][0])
    assert (entry["document_type"], entry["document_id"]) == ("allocation", str(doc["id"]))
    assert entry["created_by"] == checker.username and doc["number"] in entry["memo"]

    second = approve(client, checker, doc["id"])  # a new key: a real second approval
    assert second.status_code == 200 and second.json()["newly_approved"] is False
    assert second.json()["document"] == approved
    assert _entries(session) == 1
    assert approve(client, maker, doc["id"]).status_code == 403  # still the maker
    assert verify(session).ok


def test_checker_must_be_a_finance_user_of_the_issuing_bureau(
    client: Any, session: Session
) -> None:
    maker = make_user(session, "finance", "440000")
    bid = access.create_bureau(session, jurisdiction="440000", kind="finance", name="另一个财政局")
    uid = access.create_user(
        session, username="other-fin", display_name="x", bureau_id=bid, role="finance"
    )
    other = TestUser("other-fin", access.issue_token(session, user_id=uid), "finance", "440000")
    session.commit()
    civil = make_user(session, "civil_affairs", "440000")
    admin = make_user(session, "admin", "440000")
    doc = draft(client, maker, "allocations", "10.00").json()
    for user in (other, civil, admin):
        r = approve(client, user, doc["id"])
        assert r.status_code == 403, (user.role, r.text)
        assert set(r.json()["error"]) == {"code", "message", "details"}
    assert _entries(session) == 0


def test_transfer_beyond_the_senders_cash_is_refused_and_changes_nothing(
    client: Any, session: Session
) -> None:
    p1, p2 = make_user(session, "finance", "440000"), make_user(session, "finance", "440000")
    posted(client, p1, p2, "allocations", "500.00")
    doc = draft(client, p1, "transfers", "500.01", to_jurisdiction="440100").json()
    before = _entries(session), special_cash(session, "440000", FUND)
    r = approve(client, p2, doc["id"])
    assert r.status_code == 409 and r.json()["error"]["code"] == "insufficient_funds"
    assert r.json()["error"]["details"][0]["field"] == "amount"
    assert (_entries(session), special_cash(session, "440000", FUND)) == before
    assert special_cash(session, "440100", FUND) == 0
    assert client.get(f"/documents/{doc['id']}", headers=p1.headers).json()["status"] == "draft"
    # The exact balance goes through.
    posted(client, p1, p2, "transfers", "500.00", to_jurisdiction="440100")
    assert special_cash(session, "440000", FUND) == 0
    assert special_cash(session, "440100", FUND) == 500_00


def test_transfers_go_only_to_a_direct_child(client: Any, session: Session) -> None:
    p1, p2 = make_user(session, "finance", "440000"), make_user(session, "finance", "440000")
    c1 = make_user(session, "finance", "440100")
    posted(client, p1, p2, "allocations", "900.00")
    for child in ("441900", "442000", "440100"):  # Dongguan and Zhongshan have no counties
        posted(client, p1, p2, "transfers", "100.00", to_jurisdiction=child, number=f"T{child}")
    not_child = draft(client, p1, "transfers", "1.00", to_jurisdiction="440103")
    assert not_child.status_code == 422
    assert not_child.json()["error"]["details"][0]["field"] == "to_jurisdiction"
    upward = draft(client, c1, "transfers", "1.00", to_jurisdiction="440000")
    sideways = draft(client, c1, "transfers", "1.00", to_jurisdiction="440303")
    assert upward.status_code == sideways.status_code == 403
    unknown = draft(client, p1, "transfers", "1.00", to_jurisdiction="449999")
    assert unknown.status_code == 422


def test_document_numbers_are_unique_per_issuing_bureau(client: Any, session: Session) -> None:
    p, c = make_user(session, "finance", "440000"), make_user(session, "finance", "440100")
    first = draft(client, p, "allocations", "1.00", number="粤财社〔2026〕12号")
    again = draft(client, p, "allocations", "2.00", number="粤财社〔2026〕12号")
    elsewhere = draft(client, c, "allocations", "2.00", number="粤财社〔2026〕12号")
    assert first.status_code == 201 and elsewhere.status_code == 201
    assert again.status_code == 409 and again.json()["error"]["details"][0]["field"] == "number"


def test_replayed_key_returns_the_first_document(client: Any, session: Session) -> None:
    p = make_user(session, "finance", "440000")
    body = {"number": "N1", "fiscal_year": YEAR, "amount": "5.00", "fund": FUND}
    headers = p.write("same-key")
    a = client.post("/documents/allocations", json=body, headers=headers)
    b = client.post("/documents/allocations", json=body, headers=headers)
    assert a.status_code == 201 and b.status_code == 201 and a.json() == b.json()
    c = client.post("/documents/allocations", json={**body, "amount": "6.00"}, headers=headers)
    assert c.status_code == 409


def test_amounts_are_decimal_strings_and_dates_fall_in_the_fiscal_year(
    client: Any, session: Session
) -> None:
    p = make_user(session, "finance", "440000")
    as_number = draft(client, p, "allocations", "1.00")
    assert as_number.status_code == 201
    r = client.post(
        "/documents/allocations",
        json={"number": "X", "fiscal_year": YEAR, "amount": 1.5, "fund": FUND},
        headers=p.write(),
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "amount"
    r = draft(client, p, "allocations", "1.00", number="Y", effective_date=f"{YEAR - 1}-12-31")
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "effective_date"


def test_reallocation_posts_two_entries_each_balanced_in_its_fund(
    client: Any, session: Session
) -> None:
    p1, p2 = make_user(session, "finance", "440100"), make_user(session, "finance", "440100")
    posted(client, p1, p2, "allocations", "300.00")
    doc = posted(
        client,
        p1,
        p2,
        "reallocations",
        "120.00",
        from_fund=FUND,
        to_fund="rural_minimum_living",
    )
    assert len(doc["entry_ids"]) == 2
    for entry_id in doc["entry_ids"]:
        entry = get_entry(session, entry_id)
        assert entry["kind"] == "reallocation" and entry["document_id"] == str(doc["id"])
        assert len({p["fund"] for p in entry["postings"]}) == 1
    assert special_cash(session, "440100", FUND) == 180_00
    assert special_cash(session, "440100", "rural_minimum_living") == 120_00
    flow = client.get(
        "/jurisdictions/440100/fund-flow",
        params={"fund": "rural_minimum_living"},
        headers=p1.headers,
    ).json()["root"]["own"]
    assert flow["reallocated_in"] == "120.00" and flow["received_from_above"] == "0.00"
    too_much = draft(
        client, p1, "reallocations", "180.01", from_fund=FUND, to_fund="rural_minimum_living"
    ).json()
    assert approve(client, p2, too_much["id"]).status_code == 409
    same = draft(client, p1, "reallocations", "1.00", from_fund=FUND, to_fund=FUND)
    assert same.status_code == 422
    assert verify(session).ok


def test_auditor_and_other_roles_cannot_issue_documents(client: Any, session: Session) -> None:
    for role in ("auditor", "civil_affairs", "admin"):
        user = make_user(session, role, "440000")
        r = draft(client, user, "allocations", "1.00")
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    bank = make_user(session, "bank", "440000", bank="ICBCGD")
    assert draft(client, bank, "allocations", "1.00").status_code == 403
    assert _entries(session) == 0
