"""A process posting through a group poster, printing each write as it is acknowledged.

``python -m tests.ledger.poster_child URL N [entries]`` (the kill -9 test runs it and kills it
mid-group). With ``entries`` the writes are ``PostingWork``s, which the poster hands to the
server's ``journal_post_group`` many at a time.
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.orm import Session

from ledger import db
from ledger.domain import allocation_lines
from ledger.journal.service import PostingWork, post_entry
from ledger.uow import AuditTrail, GroupPoster, UnitOfWork

FUND = "urban_minimum_living"


def write(engine: object, poster: GroupPoster | None, key: str, entries: bool = False) -> None:
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
    if entries:  # the same write, as data
        entry = PostingWork(
            kind="allocation",
            lines=tuple(allocation_lines("440000", FUND, 100)),
            created_by="poster",
            memo=key,
        )
        uow.run(entry, operation="allocate", key=key, body={"key": key})
    else:
        uow.run(work, operation="allocate", key=key, body={"key": key})


def main() -> None:
    url, n = sys.argv[1], int(sys.argv[2])
    entries = sys.argv[3:] == ["entries"]
    engine = db.make_engine(url)
    poster = GroupPoster(engine)
    lock = threading.Lock()

    def one(i: int) -> None:
        key = f"k{i}"
        write(engine, poster, key, entries)
        with lock:  # acknowledged: its group has committed
            sys.stdout.write(key + "\n")
            sys.stdout.flush()

    with ThreadPoolExecutor(32 if entries else 8) as pool:
        list(pool.map(one, range(n)))


if __name__ == "__main__":
    main()
