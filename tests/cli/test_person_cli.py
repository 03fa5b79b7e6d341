"""``ledger person show``: the file on the command line, its reading recorded."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.pii import person_key
from tests.cli.run import CliRunnerOn
from tests.people.test_person_file import _setup


def test_person_show_prints_the_file_and_records_the_reading(
    cli: CliRunnerOn, client: Any, session: Session
) -> None:
    _c, person = _setup(client, session)
    done = cli("person", "show", "--id-number", person.id_number, "--json")
    assert done.exit_code == 0, done.output
    f = json.loads(done.stdout)
    assert f["person_key"] == person_key(person.id_number) and len(f["roster"]) == 2
    table = cli("person", "show", "--id-number", person.id_number)
    assert table.exit_code == 0 and "花名册版本" in table.stdout
    rows = session.execute(
        text("SELECT username, object_id FROM audit_log WHERE action = 'person_file_read'")
    ).all()
    assert len(rows) == 2 and all(r.object_id == f["person_key"] for r in rows)
    unknown = cli("person", "show", "--id-number", "440103190001010000")
    assert unknown.exit_code != 0 and "440103190001010000" not in unknown.output
