"""Kill -9 the importer halfway through a large file: nothing is applied; a retry applies the
file exactly once; a third run is a replay."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from reconciliation.service import import_bank_file
from reconciliation.simulate import write_csv_return
from tests.reconciliation.batches import released_batch

ROOT = Path(__file__).resolve().parents[2]


def test_kill_during_import_then_retry_applies_once(
    session: Session, db_url: str, tmp_path: Path
) -> None:
    n = int(os.environ.get("KILL_N", "20000"))
    batch = released_batch(session, n=n)
    failed = {seq: "账号不存在" for seq in range(7, n, 97)}
    path = tmp_path / "huipan.csv"
    path.write_bytes(write_csv_return(batch.sim(failed)))
    env = {**os.environ, "LEDGER_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ledger", "bank-files", "import", str(path), "--bank", "ICBCGD"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    dbname = session.execute(text("SELECT current_database()")).scalar_one()
    session.commit()
    # Wait until the importer is inside its transaction, working on the staged lines.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        busy = session.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND pid <> "
                "pg_backend_pid() AND state = 'active' AND query ILIKE '%recon_line%'"
            ),
            {"d": dbname},
        ).scalar_one()
        session.commit()
        if busy:
            break
        time.sleep(0.01)
    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    def applied() -> tuple[int, int, int]:
        session.commit()
        files = session.execute(text("SELECT count(*) FROM bank_file")).scalar_one()
        moved = session.execute(
            text("SELECT count(*) FROM payout WHERE batch_id = :b AND state <> 'sent'"),
            {"b": batch.id},
        ).scalar_one()
        settlements = session.execute(
            text("SELECT count(*) FROM journal_entry WHERE kind = 'settlement'")
        ).scalar_one()
        return files, moved, settlements

    assert applied() == (0, 0, 0)
    result = import_bank_file(session, data=path.read_bytes(), uploaded_by="retry")
    assert result["counts"]["paid"] + result["counts"]["failed"] == n
    assert applied() == (1, n, 1)
    again = import_bank_file(session, data=path.read_bytes(), uploaded_by="retry")
    assert again["replayed"] and applied() == (1, n, 1)
    events = session.execute(
        text(
            "SELECT count(*) FROM payout_event e JOIN payout p ON p.id = e.payout_id "
            "WHERE p.batch_id = :b AND e.from_state = 'sent'"
        ),
        {"b": batch.id},
    ).scalar_one()
    assert events == n
