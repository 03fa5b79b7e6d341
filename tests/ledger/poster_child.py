"""A process posting through a group poster, printing each write as it is acknowledged.

``python -m tests.ledger.poster_child URL N`` (the kill -9 test runs it and kills it mid-group).
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.orm import Session

from ledger import db
from ledger.domain import allocation_lines
from ledger.journal.service import post_entry
from ledger.uow import AuditTrail, GroupPoster, UnitOfWork

FUND = "urban_minimum_living"


def write(engine: object, poster: GroupPoster | None, key: str) -> None:
    def work(session: Session) -> dict[str, object]:
        if poster is not None:
            time.sleep(0.002)  # a write that takes a moment, so a group is open most of the time
        return post_entry(
            session,
            kind="allocation",
            lines=allocation_lines("440000", FUND, 100),
            created_by="poster",
            memo=key,
        ).as_dict()

    uow = UnitOfWork(engine, trail=AuditTrail(action="allocate"), operator="poster", poster=poster)  # type: ignore[arg-type]
    uow.run(work, operation="allocate", key=key, body={"key": key})


def main() -> None:
    url, n = sys.argv[1], int(sys.argv[2])
    engine = db.make_engine(url)
    poster = GroupPoster(engine)
    lock = threading.Lock()

    def one(i: int) -> None:
        key = f"k{i}"
        write(engine, poster, key)
        with lock:  # acknowledged: its group has committed
            sys.stdout.write(key + "\n")
            sys.stdout.flush()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(n)))


if __name__ == "__main__":
    main()
