"""``cli``: the ``ledger`` command in this process, on the test's database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ledger import db
from ledger.config import get_settings
from tests.cli.run import CliRunnerOn


@pytest.fixture
def cli(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunnerOn]:
    """``ledger`` in this process, on the test's database."""
    monkeypatch.setenv("LEDGER_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "200")
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    yield CliRunnerOn()
    if db.get_engine.cache_info().currsize:
        db.get_engine().dispose()
    db.get_engine.cache_clear()
    get_settings.cache_clear()
