"""Building, releasing and handing a batch to the bank, through the HTTP API."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError

from ledger.access import service as access
from ledger.batches.instruction_files import validate_pain001
from ledger.batches.references import reference_is_valid
from ledger.domain import AccountKind, pair
from ledger.journal.service import close_period, get_entry, post_entry
from ledger.journal.verify import verify
from tests.roster.helpers import (
    PERIOD,
    RURAL,
    URBAN,
    build,
    county,
    csv_of,
    release,
    return_file,
    rows,
    upload,
)


def _ack_all(client, c, batch_id):
    findings = client.get(f"/batches/{batch_id}/findings", headers=c.maker.headers).json()
    for rule in {f["rule"] for f in findings if f["severity"] == "warning"}:
        reply = client.post(
            f"/batches/{batch_id}/acknowledgements",
            headers=c.maker.write(),
            json={"rule": rule, "reason": "已入户核实"},
        )
        assert reply.status_code == 200, reply.text


def _released_batch(client, session, n=8, code="440103"):
    c = county(session, code)
    assert upload(client, c, csv_of(rows(c.code, n))).status_code == 201
    batch = build(client, c).json()
    _ack_all(client, c, batch["id"])
    reply = release(client, c, batch["id"])
    assert reply.status_code == 200, reply.text
    return c, batch, reply.json()


def test_build_then_release_by_a_second_person(client, session):
    c = county(session)
    roster = rows(c.code, 8)
    assert upload(client, c, csv_of(roster)).status_code == 201
    reply = build(client, c)
    assert reply.status_code == 201, reply.text
    batch = reply.json()
    assert batch["line_count"] == 8 and batch["status"] == "draft"
    assert batch["total"] == f"{sum(r.monthly_amount_fen for r in roster) / 100:.2f}"
    # The maker cannot release their own batch.
    same = client.post(f"/batches/{batch['id']}/release", headers=c.maker.write())
    assert same.status_code == 409
    _ack_all(client, c, batch["id"])
    key = "release-once"
    first = release(client, c, batch["id"], key)
    assert first.status_code == 200, first.text
    again = release(client, c, batch["id"], key)
    assert again.json() == first.json()  # a replay returns the first result, posts nothing
    entry = get_entry(session, first.json()["entry_id"])
    assert entry["kind"] == "batch_release"
    assert {(p["account"], p["side"], p["amount_fen"]) for p in entry["postings"]} == {
        ("in_transit", "D", sum(r.monthly_amount_fen for r in roster)),
        ("special_cash", "C", sum(r.monthly_amount_fen for r in roster)),
    }
    assert entry["payload_digest"] == first.json()["merkle_root"]
    refs = session.execute(
        text("SELECT reference, state, last_entry_id FROM payout WHERE batch_id = :b"),
        {"b": batch["id"]},
    ).all()
    assert all(reference_is_valid(r.reference) and len(r.reference) <= 12 for r in refs)
    assert {(r.state, r.last_entry_id) for r in refs} == {("sent", entry["id"])}
    report = verify(session)
    assert report.ok, report.problems


def test_a_release_and_its_bank_answer_are_booked_on_the_days_given(client, session):
    """A release recorded on a given day, and the bank's answer on its value date, are booked on
    those days; a day of a closed period is refused, and nothing moves."""
    c = county(session)
    assert upload(client, c, csv_of(rows(c.code, 3))).status_code == 201
    batch = build(client, c).json()
    _ack_all(client, c, batch["id"])
    close_period(session, period="202402", closed_by="test")
    session.commit()
    path = f"/batches/{batch['id']}/release"
    late = client.post(path, headers=c.checker.write(), json={"effective_date": "2024-02-29"})
    assert late.status_code == 409 and late.json()["error"]["code"] == "period_closed"
    reply = client.post(path, headers=c.checker.write(), json={"effective_date": "2024-03-20"})
    assert reply.status_code == 200, reply.text
    assert get_entry(session, reply.json()["entry_id"])["effective_date"] == date(2024, 3, 20)

    def answer(day: str):
        return client.post(
            "/bank-files",
            content=return_file(session, batch["id"], fail=1),
            headers=c.bank.write(),
            params={"batch_id": batch["id"], "value_date": day},
        )

    assert answer("2024-02-28").json()["error"]["code"] == "period_closed"
    answered = answer("2024-03-21")
    assert answered.status_code == 201, answered.text
    (entry_id,) = answered.json()["entries"]
    assert get_entry(session, entry_id)["effective_date"] == date(2024, 3, 21)
    assert verify(session).ok


def test_in_transit_equals_sent_payouts_for_every_county_and_fund(client, session):
    counties = [county(session, code) for code in ("440103", "440104")]
    for i, c in enumerate(counties):
        roster = rows(c.code, 5, seed=i) + rows(c.code, 4, fund=RURAL, seed=i + 10)
        assert upload(client, c, csv_of(roster)).status_code == 201
        for fund in (URBAN, RURAL):
            batch = build(client, c, fund=fund).json()
            _ack_all(client, c, batch["id"])
            assert release(client, c, batch["id"]).status_code == 200
    pairs = session.execute(
        text(
            "SELECT a.jurisdiction_code, a.fund_code, a.balance_fen, "
            "(SELECT COALESCE(sum(amount_fen), 0) FROM payout p WHERE p.state = 'sent' "
            " AND p.county_code = a.jurisdiction_code AND p.fund_code = a.fund_code) AS sent "
            "FROM account a WHERE a.kind = 'in_transit' AND a.jurisdiction_code IN "
            "('440103','440104')"
        )
    ).all()
    assert len(pairs) == 4
    assert all(p.balance_fen == p.sent > 0 for p in pairs)
    assert verify(session).ok


def test_csv_totals_equal_the_entry_and_gbk_on_request(client, session):
    c, batch, released = _released_batch(client, session)
    for encoding in ("utf-8", "gbk"):
        reply = client.get(
            f"/batches/{batch['id']}/instructions.csv",
            headers=c.bank.headers,
            params={"encoding": encoding},
        )
        assert reply.status_code == 200
        lines = list(csv.reader(io.StringIO(reply.content.decode(encoding))))
        body, trailer = lines[1:-1], lines[-1]
        assert trailer[0] == "合计" and int(trailer[1]) == len(body) == released["line_count"]
        assert trailer[3] == released["total"]
        assert sum(Decimal(row[3]) for row in body) == Decimal(released["total"])
    entry = get_entry(session, released["entry_id"])
    assert Decimal(released["total"]) * 100 == entry["postings"][0]["amount_fen"]


def test_pain001_validates_against_the_xsd(client, session):
    c, batch, released = _released_batch(client, session)
    reply = client.get(f"/batches/{batch['id']}/instructions.xml", headers=c.bank.headers)
    assert reply.status_code == 200
    validate_pain001(reply.content)
    assert f"<NbOfTxs>{released['line_count']}</NbOfTxs>" in reply.text
    assert f"<CtrlSum>{released['total']}</CtrlSum>" in reply.text


def test_only_the_addressed_bank_downloads(client, session):
    c, batch, _ = _released_batch(client, session)
    access.create_bank(session, code="OTHERBK", name="另一家银行")
    bureau = access.create_bureau(
        session, jurisdiction="440000", kind="bank", name="另一家银行", bank_code="OTHERBK"
    )
    uid = access.create_user(
        session, username="other-bank", display_name="o", bureau_id=bureau, role="bank"
    )
    other = {"Authorization": f"Bearer {access.issue_token(session, user_id=uid)}"}
    session.commit()
    assert client.get(f"/batches/{batch['id']}/instructions.csv", headers=other).status_code == 403
    assert (
        client.get(f"/batches/{batch['id']}/instructions.csv", headers=c.maker.headers).status_code
        == 200
    )


def test_a_draft_has_no_instruction_file(client, session):
    c = county(session)
    upload(client, c, csv_of(rows(c.code, 3)))
    batch = build(client, c).json()
    reply = client.get(f"/batches/{batch['id']}/instructions.csv", headers=c.bank.headers)
    assert reply.status_code == 409


def test_one_live_batch_per_county_fund_period_and_bank(client, session):
    c = county(session)
    upload(client, c, csv_of(rows(c.code, 3)))
    first = build(client, c).json()
    assert build(client, c).status_code == 409
    cancelled = client.post(f"/batches/{first['id']}/cancel", headers=c.maker.write())
    assert cancelled.json()["cancelled_lines"] == 3
    # The cancelled lines left the live set: the same people are paid by the new batch.
    again = build(client, c)
    assert again.status_code == 201
    assert again.json()["line_count"] == 3
    session.commit()
    assert verify(session).ok


def _fail(session, batch_id, n=1):
    """The bank's failure as reconciliation settles it: Dr special cash / Cr in transit."""
    lines = session.execute(
        text(
            "SELECT id, county_code, fund_code, amount_fen FROM payout WHERE batch_id = :b "
            "ORDER BY seq LIMIT :n"
        ),
        {"b": batch_id, "n": n},
    ).all()
    for line in lines:
        entry = post_entry(
            session,
            kind="settlement",
            lines=pair(
                line.county_code,
                line.fund_code,
                AccountKind.special_cash,
                AccountKind.in_transit,
                line.amount_fen,
            ),
            created_by="bank-file",
        )
        session.execute(text("SET LOCAL ledger.source = 'test'"))
        session.execute(
            text("UPDATE payout SET state = 'failed', last_entry_id = :e WHERE id = :p"),
            {"e": entry.id, "p": line.id},
        )
    session.commit()
    return [line.id for line in lines]


def test_reissue_pays_once_under_a_new_reference(client, session):
    c, batch, _ = _released_batch(client, session, n=4)
    (failed,) = _fail(session, batch["id"])
    next_batch = build(client, c, period="202404", reissue=[failed])
    assert next_batch.status_code == 201, next_batch.text
    nb = next_batch.json()
    assert nb["line_count"] == 5  # four entitled for 202404 and the reissue of 202403
    new = session.execute(
        text("SELECT id, reference, period, state FROM payout WHERE reissue_of = :o"),
        {"o": failed},
    ).one()
    old = session.execute(
        text("SELECT reference, state FROM payout WHERE id = :o"), {"o": failed}
    ).one()
    assert new.period == PERIOD and new.reference != old.reference
    # The same failed payout cannot be chosen twice.
    again = build(client, c, period="202405", reissue=[failed])
    assert again.status_code == 422
    _ack_all(client, c, nb["id"])
    assert release(client, c, nb["id"]).status_code == 200
    states = (
        session.execute(
            text("SELECT state FROM payout WHERE id IN (:a, :b) ORDER BY id"),
            {"a": failed, "b": new.id},
        )
        .scalars()
        .all()
    )
    assert states == ["reissued", "sent"]
    reissue_again = build(client, c, period="202406", reissue=[failed])
    assert reissue_again.status_code == 422
    assert verify(session).ok


def test_the_database_refuses_a_second_live_payout(client, session):
    _, batch, _ = _released_batch(client, session, n=2)
    with pytest.raises(IntegrityError, match="payout_one_live_attempt"):
        _insert_a_copy_of_line_1(
            session, batch["id"], seq="99", reference="'ZZZZZZZZZZ'", amount_fen="100"
        )
    session.rollback()


_LINE_COLUMNS = (
    "batch_id",
    "seq",
    "reference",
    "county_code",
    "fund_code",
    "period",
    "person_key",
    "household_id",
    "payee_name",
    "account_key",
    "account_enc",
    "account_masked",
    "account_name",
    "bank_code",
    "amount_fen",
)


def _insert_a_copy_of_line_1(session, batch_id: int, **values: str) -> None:
    """INSERT, as the service's role, a copy of the batch's line 1 with ``values`` (column →
    SQL expression) in place of its own."""
    columns = [*_LINE_COLUMNS, *(c for c in values if c not in _LINE_COLUMNS)]
    chosen = ", ".join(values.get(c, c) for c in columns)
    session.execute(
        text(
            f"INSERT INTO payout ({', '.join(columns)}) SELECT {chosen} FROM payout "
            "WHERE batch_id = :b AND seq = 1"
        ),
        {"b": batch_id},
    )


@pytest.mark.parametrize(
    ("column", "value"),
    [("bank_code", "'NOSUCHBK'"), ("fund_code", "'no_such_fund'"), ("county_code", "'449999'")],
)
def test_the_database_refuses_a_payout_naming_what_does_not_exist(client, session, column, value):
    """The payout's references are checked once per statement (the distinct values written),
    and refused under the foreign key's name."""
    _, batch, _ = _released_batch(client, session, n=2)
    with pytest.raises(IntegrityError, match=f"payout_{column}_fkey"):
        _insert_a_copy_of_line_1(
            session,
            batch["id"],
            seq="99",
            reference="'ZZZZZZZZZZ'",
            person_key="'another-person'",
            amount_fen="100",
            **{column: value},
        )
    session.rollback()


def test_the_database_refuses_a_reissue_of_no_payout_and_a_second_reissue(client, session):
    """What a reissue names is checked once per statement under the foreign key's name, and
    one original has one reissue."""
    _, batch, _ = _released_batch(client, session, n=2)

    def reissue(seq: int, person: str, original: int) -> None:
        _insert_a_copy_of_line_1(
            session,
            batch["id"],
            seq=str(seq),
            reference="payout_reference(nextval('payout_reference_seq'))",
            person_key=f"'{person}'",
            reissue_of=str(original),
        )

    with pytest.raises(IntegrityError, match="payout_reissue_of_fkey"):
        reissue(100, "p-none", 987654321)
    session.rollback()
    original = session.execute(
        text("SELECT id FROM payout WHERE batch_id = :b AND seq = 2"), {"b": batch["id"]}
    ).scalar_one()
    reissue(101, "p-first", original)
    with pytest.raises(IntegrityError, match="payout_ref_reissue_of_key"):
        reissue(102, "p-second", original)
    session.rollback()


@pytest.mark.parametrize(
    ("table", "key", "named_by"),
    [
        ("payment_batch", "id", "id"),
        ("bank", "code", "bank_code"),
        ("fund", "code", "fund_code"),
        ("jurisdiction", "code", "county_code"),
    ],
)
def test_what_a_payout_names_keeps_its_key(client, session, table, key, named_by):
    """No foreign key guards these rows any more (the payout's are statement checks), so their
    keys are refused a change: a payout can never be left naming a row that is gone."""
    _, batch, _ = _released_batch(client, session, n=1)
    new_key = "id + 100000" if key == "id" else "reverse(code)"
    with pytest.raises(DBAPIError, match=f"{table}.{key} never changes"):
        session.execute(
            text(
                f"UPDATE {table} SET {key} = {new_key} WHERE {key} = "
                f"(SELECT {named_by} FROM payment_batch WHERE id = :b)"
            ),
            {"b": batch["id"]},
        )
    session.rollback()


def test_a_person_listed_by_two_counties_is_paid_once(client, session):
    a = county(session, "440103")
    b = county(session, "440104")
    person = rows(a.code, 1, seed=5)
    upload(client, a, csv_of(person))
    twin = [dataclasses.replace(person[0], county_code=b.code, household_id="X1")]
    refused = upload(client, b, csv_of(twin + rows(b.code, 2, seed=6)))
    assert refused.status_code == 422 and a.code in refused.text  # in force in A already
    # Listed by A only from next month on, the clash shows in next month's batches instead.
    ended = [dataclasses.replace(person[0], start_period="202404")]
    assert upload(client, a, csv_of(ended), period="202403").status_code == 201
    assert upload(client, b, csv_of(twin + rows(b.code, 2, seed=6))).status_code == 201
    first = build(client, a, period="202404").json()
    second = build(client, b, period="202404").json()
    assert first["line_count"] == 1 and second["line_count"] == 2
    assert second["findings"].get("same_person_twice") == 1
    assert release(client, b, second["id"]).status_code == 409
