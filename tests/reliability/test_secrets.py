"""Secrets and personal data at rest: a database dump alone reveals no token and no ID number."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sqlalchemy.orm import Session

from ledger import db
from ledger.pii import person_key
from tests.factories import make_user


def _plain_dump(db_url: str, out: Path) -> str:
    subprocess.run(
        [
            db.pg_tool("pg_dump", db.server_major(db_url)),
            "--format=plain",
            "--data-only",
            f"--file={out}",
            db.libpq_url(db_url),
        ],
        check=True,
    )
    return out.read_text(encoding="utf-8")


def test_a_dump_holds_no_token_and_no_id_number(
    session: Session, db_url: str, tmp_path: Path
) -> None:
    users = [make_user(session, role, "440103") for role in ("finance", "auditor", "civil_affairs")]
    id_number = "44010319800101123X"
    key = person_key(id_number)
    dump = _plain_dump(db_url, tmp_path / "dump.sql")
    for user in users:
        assert user.token not in dump
        assert user.token.removeprefix("lgr_")[:16] not in dump
    assert id_number not in dump
    assert key != id_number and id_number not in key
