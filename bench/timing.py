"""Running the same work on W threads and timing it from the first start to the last finish."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def run_threads(writers: int, total: int, work: Callable[[int, int], None]) -> float:
    """Split ``total`` items over ``writers`` threads; ``work(writer, count)``; wall seconds.

    Threads wait on a barrier so setup (connections, sessions) is outside the timed span.
    """
    counts = [total // writers + (1 if i < total % writers else 0) for i in range(writers)]
    barrier = threading.Barrier(writers + 1)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            work(i, counts[i])
        except BaseException as exc:  # reported after the join; a failed case is not a figure
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return elapsed


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[k]
