"""python-accounting 2.x, run inside bench/.peers-venv: prints one JSON line of figures.

Usage: python peer_accounting.py N   (connection from BENCH_PG_* variables, a fresh database)
One JournalEntry with one line item, posted and committed, per entry.
"""

import json
import os
import resource
import sys
import time
from datetime import datetime

from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL


def main(n: int) -> None:
    url = URL.create(
        "postgresql+psycopg2",
        username=os.environ["BENCH_PG_USER"],
        password=os.environ.get("BENCH_PG_PASSWORD") or None,
        database=os.environ["BENCH_PG_DBNAME"],
        query={"host": os.environ["BENCH_PG_HOST"], "port": os.environ["BENCH_PG_PORT"]},
    )
    engine = create_engine(url)
    # its drop_all fails on PostgreSQL: start from an empty schema instead
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))

    from python_accounting.config import config

    config.configure_database(url=url.render_as_string(hide_password=False))
    from python_accounting.database.session import get_session
    from python_accounting.models import Account, Base, Currency, Entity, LineItem
    from python_accounting.transactions import JournalEntry

    Base.metadata.create_all(engine)
    with get_session(engine) as session:
        entity = Entity(name="Bench bureau")
        session.add(entity)
        session.commit()
        currency = Currency(name="Renminbi", code="CNY", entity_id=entity.id)
        session.add(currency)
        session.commit()
        cash = Account(
            name="Special cash",
            account_type=Account.AccountType.BANK,
            currency_id=currency.id,
            entity_id=entity.id,
        )
        revenue = Account(
            name="Appropriation",
            account_type=Account.AccountType.OPERATING_REVENUE,
            currency_id=currency.id,
            entity_id=entity.id,
        )
        session.add_all([cash, revenue])
        session.commit()

        start = time.perf_counter()
        for i in range(n):
            entry = JournalEntry(
                narration=f"allocation {i}",
                transaction_date=datetime.now(),
                account_id=cash.id,
                entity_id=entity.id,
            )
            session.add(entry)
            session.flush()
            item = LineItem(
                narration="appropriation", account_id=revenue.id, amount=1, entity_id=entity.id
            )
            session.add(item)
            session.flush()
            entry.line_items.add(item)
            session.add(entry)
            session.flush()
            entry.post(session)
            session.commit()
        rate = n / (time.perf_counter() - start)
    print(
        json.dumps(
            {
                "journal_entry": rate,
                "n": n,
                "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


if __name__ == "__main__":
    main(int(sys.argv[1]))
