"""Payouts partitioned by period: a period's partitions come with its first batch, the global
keys hold across partitions, and the application reaches a partition only through its parent."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from ledger import db
from tests.roster.helpers import (
    PERIOD,
    acknowledge_and_release,
    bank_answers,
    build,
    county,
    csv_of,
    rows,
    upload,
)


def _batch(client: Any, session: Session) -> dict[str, Any]:
    c = county(session)
    assert upload(client, c, csv_of(rows(c.code, 4))).status_code == 201
    batch = build(client, c).json()
    acknowledge_and_release(client, c, batch["id"])
    return dict(batch)


def test_the_first_batch_of_a_period_makes_its_partitions(client: Any, session: Session) -> None:
    assert (
        session.execute(text("SELECT to_regclass('payout_p' || :p)"), {"p": PERIOD}).scalar()
        is None
    )
    batch = _batch(client, session)
    homes = session.execute(
        text("SELECT DISTINCT tableoid::regclass::text FROM payout WHERE batch_id = :b"),
        {"b": batch["id"]},
    ).scalars()
    assert list(homes) == [f"payout_p{PERIOD}"]
    events = session.execute(
        text("SELECT DISTINCT tableoid::regclass::text, period FROM payout_event")
    ).all()
    assert [tuple(e) for e in events] == [(f"payout_event_p{PERIOD}", PERIOD)]
    assert session.execute(text("SELECT count(*) FROM payout_ref")).scalar() == 4


def test_a_reference_is_unique_over_every_period(client: Any, session: Session) -> None:
    batch = _batch(client, session)
    other = session.execute(
        text(
            "INSERT INTO payment_batch (county_code, fund_code, period, bank_code, created_by) "
            "SELECT county_code, fund_code, '202404', bank_code, 'x' FROM payment_batch "
            "WHERE id = :b RETURNING id"
        ),
        {"b": batch["id"]},
    ).scalar()
    session.commit()
    assert session.execute(text("SELECT to_regclass('payout_p202404')")).scalar() is not None
    with pytest.raises(IntegrityError, match="payout_ref_reference_key"):
        session.execute(
            text(
                "INSERT INTO payout (batch_id, seq, reference, county_code, fund_code, period, "
                "person_key, household_id, payee_name, account_key, account_enc, account_masked, "
                "account_name, bank_code, amount_fen) SELECT :o, 1, reference, county_code, "
                "fund_code, '202404', person_key, household_id, payee_name, account_key, "
                "account_enc, account_masked, account_name, bank_code, 100 "
                "FROM payout WHERE batch_id = :b AND seq = 1"
            ),
            {"o": other, "b": batch["id"]},
        )
    session.rollback()


def test_the_application_cannot_write_a_partition(
    client: Any, session: Session, owner_url: str
) -> None:
    _batch(client, session)
    db.apply_grants(owner_url)  # as `ledger db upgrade` does, with the partition in place
    with pytest.raises(DBAPIError, match="permission denied"):
        session.execute(text(f"UPDATE payout_p{PERIOD} SET amount_fen = 1"))
    session.rollback()
    with pytest.raises(DBAPIError, match="permission denied"):
        session.execute(text("UPDATE payout_ref SET reference = 'X'"))
    session.rollback()
    # The registry of live payouts and the payouts' history are the database's alone: the
    # service can only read them (an event exists only because its guard saw a payout move).
    for sql in (
        "DELETE FROM payout_live",
        "INSERT INTO payout_live SELECT person_key, fund_code, '209901', id FROM payout",
        "INSERT INTO payout_event (payout_id, period, from_state, to_state, source) "
        "SELECT id, period, 'sent', 'paid', 'forged' FROM payout",
    ):
        with pytest.raises(DBAPIError, match="permission denied"):
            session.execute(text(sql))
        session.rollback()
    # Through the parent the guards stand: a released line cannot change.
    with pytest.raises(DBAPIError, match="was released"):
        session.execute(text("UPDATE payout SET amount_fen = 1"))
    session.rollback()


def test_closing_a_month_makes_the_next_three_months_partitions(session: Session) -> None:
    from ledger.journal.service import close_period

    close_period(session, period="202611", closed_by="test")
    session.commit()
    made = session.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'payout'::regclass ORDER BY 1"
        )
    ).scalars()
    assert list(made) == ["payout_p202612", "payout_p202701", "payout_p202702"]


def test_a_cancelled_reissue_frees_the_failed_payout_in_the_registry(
    client: Any, session: Session
) -> None:
    c = county(session)
    assert upload(client, c, csv_of(rows(c.code, 4))).status_code == 201
    first = build(client, c).json()
    acknowledge_and_release(client, c, first["id"])
    bank_answers(client, session, c, first["id"], fail=1)
    failed = session.execute(
        text("SELECT id FROM payout WHERE batch_id = :b AND state = 'failed'"), {"b": first["id"]}
    ).scalar_one()
    draft = build(client, c, period="202404", reissue=[failed]).json()

    def registered() -> list[int]:
        return list(
            session.execute(
                text("SELECT id FROM payout_ref WHERE reissue_of = :f"), {"f": failed}
            ).scalars()
        )

    assert len(registered()) == 1
    cancelled = client.post(f"/batches/{draft['id']}/cancel", headers=c.maker.write())
    assert cancelled.status_code == 200, cancelled.text
    session.commit()
    assert registered() == []
    again = build(client, c, period="202405", reissue=[failed])
    assert again.status_code == 201, again.text
    assert len(registered()) == 1
