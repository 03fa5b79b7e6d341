"""The demo run again on the same books continues into the next month; every size from 1 works;
``fresh`` starts again on an empty schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ledger.demo import run_demo, shift_period
from ledger.main import DEMO_STAGES, create_app


def _demo(
    engine: Engine, out: Path, size: int, *, fresh: bool = False, owner_url: str | None = None
) -> dict:
    return run_demo(
        stages=DEMO_STAGES,
        out=out,
        size=size,
        counties=2,
        until=None,
        create_app=create_app,
        engine=engine,
        fresh=fresh,
        owner_url=owner_url,
    )


def test_second_run_continues_into_the_next_month(engine: Engine, tmp_path: Path) -> None:
    first = _demo(engine, tmp_path / "one", 1)
    assert first["verify"]["ok"], first["verify"]["problems"]
    assert first["continued_from"] is None
    second = _demo(engine, tmp_path / "two", 2)
    assert second["verify"]["ok"], second["verify"]["problems"]
    assert second["continued_from"] == first["period"]
    assert second["period"] == shift_period(first["period"], 1)
    assert second["stages"]["released"]["payouts"] > 0
    with engine.connect() as conn:
        periods = conn.execute(
            text("SELECT DISTINCT period FROM payment_batch WHERE status = 'released' ORDER BY 1")
        ).scalars()
        assert [p.strip() for p in periods] == [first["period"], second["period"]]


@pytest.mark.parametrize("size", [3, 5])
def test_small_sizes_and_fresh(engine: Engine, owner_url: str, tmp_path: Path, size: int) -> None:
    summary = _demo(engine, tmp_path, size, fresh=True, owner_url=owner_url)
    assert summary["verify"]["ok"], summary["verify"]["problems"]
    assert summary["continued_from"] is None and summary["fresh"]
    assert summary["stages"]["released"]["payouts"] > 0


def test_shift_period_crosses_years() -> None:
    assert shift_period("202612", 1) == "202701"
    assert shift_period("202701", -1) == "202612"
    assert shift_period("202611", 14) == "202801"
