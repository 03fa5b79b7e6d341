"""Settling a released batch: the UPDATE of ``payout`` against appending transition rows.

    python -m bench.settle_rows [--n 100000] [--rounds 2] [--url postgresql+psycopg://...]

One released batch of N payouts is built (the reconciliation tests' fixture), then each variant settles every
line (paid, one in 31 failed) inside a transaction that is rolled back, so both settle the same
batch, alternately, A B A B:

* **update** — ``ledger.batches.settlement.move_payouts``, the move ``settle_payouts`` makes
  for reconciliation: the one set-based UPDATE (the statement guards check each move, refuse
  changes to released lines, check the entries named and write one ``payout_event`` per move).
* **rows** — the same staged moves appended to an append-only transition table made for the
  run (payout, state, entry, reason, time): a statement trigger checks, set-based, that every
  move is allowed from the payout's current state (``ledger.payouts.transition_sql``) and that
  every entry named exists. A payout's state is then its latest transition (or its row's
  state when it has none).

After each move, inside the same transaction, one reader is timed as well: the batch's count
of lines by state (what a batch's page and every report start from), read from the payout
rows after the UPDATE, and through each payout's latest transition after the rows.

Both would then write the same ``payout_settlement`` rows (file line → payout), left out of both.

Prints one JSON line per round: seconds per variant.
"""

from __future__ import annotations

import argparse
import json
import time

from sqlalchemy import text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from ledger import db
from ledger.batches.settlement import move_payouts, settlement_table
from ledger.jurisdictions.service import seed_reference_data
from ledger.payouts import transition_sql
from tests.reconciliation.batches import released_batch

ROWS_SCHEMA = f"""
CREATE TEMP TABLE payout_transition (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    payout_id bigint NOT NULL,
    state text NOT NULL,
    entry_id bigint NOT NULL,
    reason_code text,
    raw_code text,
    raw_text text,
    at timestamptz NOT NULL DEFAULT now()
) ON COMMIT DROP;
CREATE INDEX ON payout_transition (payout_id, id);
CREATE FUNCTION pg_temp.transition_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_move n JOIN payout p ON p.id = n.payout_id
                WHERE NOT ({transition_sql("p", "n")})) THEN
        RAISE EXCEPTION 'a move not allowed from the payout''s state';
    END IF;
    IF EXISTS (SELECT 1 FROM (SELECT DISTINCT entry_id FROM new_move) e
                WHERE NOT EXISTS (SELECT 1 FROM journal_entry j WHERE j.id = e.entry_id)) THEN
        RAISE EXCEPTION 'a move names an entry that does not exist';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER transition_check AFTER INSERT ON payout_transition
    REFERENCING NEW TABLE AS new_move FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.transition_check();
CREATE TRIGGER transition_append_only BEFORE UPDATE OR DELETE ON payout_transition
    FOR EACH ROW EXECUTE FUNCTION refuse_change();
"""


def _stage(session: Session, batch_id: int, entry_id: int) -> None:
    """Every line of the batch staged as settled: paid, one in 31 failed."""
    settlement_table(session)
    session.execute(
        text(
            "INSERT INTO settlement_staging (payout_id, state, entry_id, reason_code, "
            "bank_file_id, line_no) SELECT id, CASE WHEN seq % 31 = 17 THEN 'failed' ELSE 'paid' "
            "END, :e, CASE WHEN seq % 31 = 17 THEN 'account_closed' END, 0, seq "
            "FROM payout WHERE batch_id = :b"
        ),
        {"b": batch_id, "e": entry_id},
    )
    session.execute(text("ANALYZE settlement_staging"))


def _update(session: Session) -> int:
    return move_payouts(session, source="bench")


def _rows(session: Session) -> int:
    session.execute(text(ROWS_SCHEMA))
    moved = session.execute(
        text(
            "INSERT INTO payout_transition (payout_id, state, entry_id, reason_code, raw_code, "
            "raw_text) SELECT payout_id, state, entry_id, reason_code, raw_code, raw_text "
            "FROM settlement_staging"
        )
    ).rowcount  # type: ignore[attr-defined]
    return int(moved or 0)


READ = {
    "update": "SELECT state, count(*) FROM payout WHERE batch_id = :b GROUP BY state",
    "rows": "SELECT COALESCE(t.state, p.state) AS state, count(*) FROM payout p "
    "LEFT JOIN LATERAL (SELECT state FROM payout_transition t WHERE t.payout_id = p.id "
    "ORDER BY t.id DESC LIMIT 1) t ON true WHERE p.batch_id = :b GROUP BY 1",
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.settle_rows")
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--url", default=None, help="default: the configured database")
    args = parser.parse_args()
    url = args.url or db.database_url()
    db.upgrade(url)
    engine = db.make_engine(url, poolclass=NullPool)
    with Session(engine) as session:
        seed_reference_data(session=session)
        session.commit()
        period = f"20{int(time.time()) % 80 + 10:02d}{int(time.time()) % 12 + 1:02d}"
        t0 = time.perf_counter()
        batch = released_batch(session, n=args.n, period=period, bank="BENCH")
        session.commit()
        print(json.dumps({"built": args.n, "seconds": round(time.perf_counter() - t0, 1)}))
        entry_id = int(session.execute(text("SELECT max(id) FROM journal_entry")).scalar_one())
    for _ in range(args.rounds):
        out: dict[str, float] = {}
        for name, settle in (("update", _update), ("rows", _rows)):
            with Session(engine) as session:
                _stage(session, batch.id, entry_id)
                t0 = time.perf_counter()
                moved = settle(session)
                out[name] = round(time.perf_counter() - t0, 3)
                assert moved == args.n, (name, moved)
                t0 = time.perf_counter()
                counts = dict(session.execute(text(READ[name]), {"b": batch.id}).all())
                out[f"{name}_read"] = round(time.perf_counter() - t0, 3)
                assert sum(counts.values()) == args.n and "sent" not in counts, counts
                session.rollback()
        out["ratio"] = round(out["update"] / out["rows"], 1)
        print(json.dumps(out), flush=True)
    engine.dispose()


if __name__ == "__main__":
    main()
