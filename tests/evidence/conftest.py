"""Fixtures of the evidence tests: the in-process ``ledger`` command of the CLI tests."""

from tests.cli.conftest import cli

__all__ = ["cli"]
