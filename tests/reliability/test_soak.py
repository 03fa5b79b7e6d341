"""The soak's short form: ``ledger serve`` on loopback, concurrent clients, then nothing lost."""

from __future__ import annotations

from bench.soak import run_soak


def test_short_soak_loses_nothing(db_url: str) -> None:
    figures = run_soak(db_url, seconds=6, clients=8)
    print({k: v for k, v in figures.items() if k != "by_operation"}, figures["by_operation"])
    books = figures["books"]
    assert books["problems"] == [], books["problems"]
    assert books["verify_ok"]
    status = figures["status"]
    assert "500" not in status and "0" not in status, status
    assert int(status.get("201", 0)) > 0  # reversals were accepted
    assert int(status.get("409", 0)) > 0  # and contended ones refused, once each
    assert books["reversals_in_books"] > 0
