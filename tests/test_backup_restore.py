"""The pg_dump / pg_restore drill: after a restore verify passes and the chain head is identical."""

from __future__ import annotations

from pathlib import Path

import psycopg
from sqlalchemy.orm import Session

from ledger import db
from ledger.journal.verify import verify
from tests.conftest import url_for
from tests.factories import fund_chain, released_batch


def test_backup_and_restore_keep_the_chain(
    session: Session, postgresql: psycopg.Connection, db_url: str, tmp_path: Path
) -> None:
    fund_chain(
        session, "urban_minimum_living", {"440000": 90_000, "440100": 40_000, "440103": 10_000}
    )
    released_batch(
        session,
        county="440103",
        fund="urban_minimum_living",
        period="202611",
        bank="BKUP",
        amounts=[1200, 800],
    )
    before = verify(session)
    assert before.ok
    dump = tmp_path / "ledger.dump"
    db.backup(db_url, dump)
    name = postgresql.info.dbname + "_restored"
    postgresql.autocommit = True
    postgresql.execute(f'CREATE DATABASE "{name}"')
    try:
        target = url_for(name)
        db.restore(dump, target)
        engine = db.make_engine(target)
        with Session(engine) as restored:
            after = verify(restored)
        engine.dispose()
        assert after.ok, after.problems
        assert after.chain_head == before.chain_head
        assert after.entry_count == before.entry_count
    finally:
        postgresql.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
