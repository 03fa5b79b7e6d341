"""``ledger report disclosure|audit`` on the database LEDGER_DATABASE_URL names."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from ledger import db
from ledger.config import get_settings
from ledger.main import cli
from reports import service
from tests.conftest import ROOT
from tests.reports.worked_month import URBAN, worked_month


def ledger(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEDGER_DATABASE_URL": db_url, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "ledger", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_cli_writes_the_same_files_the_service_builds(
    session: Session, db_url: str, tmp_path: Path
) -> None:
    worked_month(session)
    disclosure, audit = tmp_path / "d.pdf", tmp_path / "a.pdf"
    done = ledger(
        db_url, "report", "disclosure", "--jurisdiction", "440103", "--fund", URBAN,
        "--period", "202406", "--out", str(disclosure),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    done = ledger(
        db_url, "report", "audit", "--jurisdiction", "440000", "--period", "202406",
        "--out", str(audit),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert hashlib.sha256(audit.read_bytes()).hexdigest() in done.stderr.replace("\n", "")

    again = service.build_disclosure(
        session, jurisdiction="440103", fund=URBAN, period="202406", generated_by="t"
    )
    assert again.file.read() == disclosure.read_bytes()
    records = service.list_records(session, pattern="44%")
    assert [(r["kind"], r["generated_by"]) for r in records] == [
        ("disclosure", "t"),
        ("audit", "cli"),
        ("disclosure", "cli"),
    ]
    bad = ledger(
        db_url, "report", "audit", "--jurisdiction", "449999", "--period", "202406",
        "--out", str(tmp_path / "x.pdf"),
    )  # fmt: skip
    assert bad.returncode != 0 and not (tmp_path / "x.pdf").exists()


def test_cli_exports_findings_and_payouts(
    session: Session, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    worked_month(session)
    monkeypatch.setenv("LEDGER_DATABASE_URL", db_url)
    get_settings.cache_clear()
    db.get_engine.cache_clear()
    try:
        for what, fmt in (("findings", "csv"), ("payouts", "xlsx")):
            out = tmp_path / f"{what}.{fmt}"
            done = CliRunner().invoke(
                cli, ["report", what, "--jurisdiction", "440103", "--period", "202406",
                      "--format", fmt, "--out", str(out), "--by", "auditor1"],
            )  # fmt: skip
            assert done.exit_code == 0, done.output
            assert hashlib.sha256(out.read_bytes()).hexdigest() in done.output.replace("\n", "")
        rows = list(load_workbook(tmp_path / "payouts.xlsx").active.iter_rows(values_only=True))
        assert len(rows) == 151 and rows[1][0].startswith("T")
        assert (tmp_path / "findings.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    finally:
        db.get_engine().dispose()
        db.get_engine.cache_clear()
        get_settings.cache_clear()
    records = service.list_records(session, pattern="44%")
    assert [(r["kind"], r["generated_by"]) for r in records] == [
        ("payouts_xlsx", "auditor1"),
        ("findings_csv", "auditor1"),
    ]
