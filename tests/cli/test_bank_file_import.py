"""``ledger bank-files import FILE``: the file is read from disk in pieces and stored as it is."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from reconciliation.filestore import stored_bytes
from reconciliation.simulate import write_csv_return
from tests.cli.run import CliRunnerOn
from tests.reconciliation.batches import released_batch


def test_an_operator_imports_a_return_file_from_disk(
    cli: CliRunnerOn, session: Session, tmp_path: Path
) -> None:
    batch = released_batch(session, n=4)
    data = write_csv_return(batch.sim({1: "已销户"}))
    path = tmp_path / "hp.csv"
    path.write_bytes(data)
    done = cli("bank-files", "import", str(path), "--bank", "ICBCGD", "--json")
    assert done.exit_code == 0, done.output
    file_id = session.execute(text("SELECT id FROM bank_file")).scalar_one()
    assert b"".join(stored_bytes(session, file_id=file_id)) == data
    states = session.execute(
        text("SELECT state, count(*) FROM payout WHERE batch_id = :b GROUP BY 1 ORDER BY 1"),
        {"b": batch.id},
    ).all()
    assert [tuple(r) for r in states] == [("failed", 1), ("paid", 3)]
