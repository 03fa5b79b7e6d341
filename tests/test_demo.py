"""The whole month end to end: allocation → transfers → roster → batch → bank files → return
files → reconciliation → PDFs, on the test database, with the books verified at the end."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine, text

from ledger.demo import run_demo
from ledger.main import DEMO_STAGES, create_app


def test_whole_month(engine: Engine, tmp_path: Path) -> None:
    summary = run_demo(
        stages=DEMO_STAGES,
        out=tmp_path,
        size=8,
        counties=2,
        until=None,
        create_app=create_app,
        engine=engine,
    )
    assert summary["verify"]["ok"], summary["verify"]["problems"]
    stages = summary["stages"]
    assert stages["released"]["batches"] > 0 and stages["released"]["payouts"] > 0
    assert stages["reconciled"]["paid"] > 0
    notice = stages["notice"]
    assert notice["found"] == notice["planted"], json.dumps(notice, ensure_ascii=False)
    assert notice["public_complaint_status"] == "open"
    assert notice["person_file"]["matches"] == 1 and notice["person_file"]["complaints"] == 1
    assert (
        stages["books"]["unbalanced_books"] == 0 and stages["books"]["negative_special_cash"] == 0
    )
    assert (
        json.loads((tmp_path / "summary.json").read_text())["chain_head"] == summary["chain_head"]
    )
    assert list((tmp_path / "bank").glob("*.xml")) and list((tmp_path / "returns").iterdir())
    pdfs = list((tmp_path / "reports").glob("*.pdf"))
    assert len(pdfs) == 3 and all(p.read_bytes().startswith(b"%PDF") for p in pdfs)
    with engine.connect() as conn:
        twice = conn.execute(
            text(
                "SELECT count(*) FROM (SELECT 1 FROM payout WHERE state IN ('sent', 'paid') "
                "GROUP BY person_key, fund_code, period HAVING count(*) > 1) t"
            )
        ).scalar()
        in_transit = conn.execute(
            text("SELECT COALESCE(sum(balance_fen), 0) FROM account WHERE kind = 'in_transit'")
        ).scalar()
        sent = conn.execute(
            text("SELECT COALESCE(sum(amount_fen), 0) FROM payout WHERE state = 'sent'")
        ).scalar()
    assert twice == 0
    assert in_transit == sent
