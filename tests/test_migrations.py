"""Upgrade → downgrade → upgrade runs clean on an empty database."""

from __future__ import annotations

import psycopg
from sqlalchemy import create_engine, inspect

from ledger import db
from tests.conftest import url_for


def test_upgrade_downgrade_upgrade(postgresql: psycopg.Connection) -> None:
    name = postgresql.info.dbname + "_mig"
    postgresql.autocommit = True
    postgresql.execute(f'DROP DATABASE IF EXISTS "{name}"')
    postgresql.execute(f'CREATE DATABASE "{name}"')
    url = url_for(name)
    try:
        db.upgrade(url)
        engine = create_engine(url)
        tables = set(inspect(engine).get_table_names())
        assert {"journal_entry", "posting", "account", "audit_log", "payout"} <= tables
        db.downgrade(url, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        db.upgrade(url)
        assert {"journal_entry", "posting"} <= set(inspect(engine).get_table_names())
        engine.dispose()
    finally:
        postgresql.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
