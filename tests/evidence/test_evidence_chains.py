"""Every kind of evidence is chained: an edit behind the triggers' back is named by ``verify``,
and a chain's removed tail by ``verify`` against a checkpoint."""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session

import ledger.main  # noqa: F401  (mounts the evidence checks)
from ledger.evidence.service import make_checkpoint, verify_against_checkpoint
from ledger.journal.verify import verify
from reconciliation.service import import_bank_file
from reconciliation.simulate import write_csv_return
from reports.findings import run_findings
from reports.scope import Scope
from reports.service import record_findings_export
from tests.documents.test_documents import posted
from tests.factories import make_user
from tests.reconciliation.batches import released_batch


def _tamper(db_url: str, sql: str) -> None:
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("SET session_replication_role = replica")  # disables the triggers
        conn.execute(sql)


def problems(session: Session) -> list[str]:
    session.rollback()
    report = verify(session)
    return report.problems


def _file_id(session: Session, sha: str) -> int:
    return int(
        session.execute(text("SELECT id FROM bank_file WHERE sha256 = :s"), {"s": sha}).scalar_one()
    )


def test_bank_file_content_and_results_are_chained(session: Session, db_url: str) -> None:
    batch = released_batch(session, n=5)
    first = import_bank_file(
        session,
        data=write_csv_return(batch.sim({2: "已销户"})),
        uploaded_by="bank",
        bank_code="ICBCGD",
    )
    session.commit()
    file_id = _file_id(session, first["sha256"])
    assert problems(session) == []
    _tamper(db_url, f"UPDATE bank_file SET result = '{{}}'::jsonb WHERE id = {file_id}")
    assert f"bank_file {file_id} was changed since it was written" in problems(session)


def test_bank_file_stored_bytes_are_chained(session: Session, db_url: str) -> None:
    batch = released_batch(session, n=3)
    done = import_bank_file(
        session, data=write_csv_return(batch.sim({})), uploaded_by="bank", bank_code="ICBCGD"
    )
    session.commit()
    file_id = _file_id(session, done["sha256"])
    _tamper(
        db_url,
        "UPDATE bank_file_chunk SET ciphertext = ciphertext || '\\x00'::bytea "
        f"WHERE bank_file_id = {file_id}",
    )
    assert f"bank_file {file_id} was changed since it was written" in problems(session)


def test_report_record_and_finding_run_are_chained(session: Session, db_url: str) -> None:
    scope = Scope("440000", "202601")
    record = record_findings_export(session, scope=scope, payload=b"rule,n\n", generated_by="aud")
    run = run_findings(session, scope=scope, run_by="aud")["run_id"]
    session.commit()
    assert problems(session) == []
    _tamper(db_url, f"UPDATE report_record SET sha256 = repeat('1', 64) WHERE id = {record}")
    _tamper(db_url, f"UPDATE finding_run SET finding_count = finding_count + 1 WHERE id = '{run}'")
    found = problems(session)
    assert f"report_record {record} was changed since it was written" in found
    assert f"finding_run {run} was changed since it was written" in found


def test_fund_document_amount_is_chained(session: Session, client: Any, db_url: str) -> None:
    maker, checker = (
        make_user(session, "finance", "440000"),
        make_user(session, "finance", "440000"),
    )
    doc = posted(client, maker, checker, "allocations", "5000.00")
    assert problems(session) == []
    _tamper(db_url, f"UPDATE fund_document SET amount_fen = 1 WHERE id = {doc['id']}")
    assert f"fund_document {doc['id']} was changed since it was written" in problems(session)


def test_swapped_payout_account_is_named(session: Session, db_url: str) -> None:
    batch = released_batch(session, n=3)
    assert problems(session) == []
    _tamper(
        db_url,
        "UPDATE payout p SET account_enc = q.account_enc FROM payout q "
        f"WHERE p.batch_id = {batch.id} AND p.seq = 1 AND q.batch_id = {batch.id} AND q.seq = 2",
    )
    assert any(
        f"batch {batch.id}, line 1" in p and "encrypted account" in p for p in problems(session)
    )


def test_removed_chain_tails_fail_against_a_checkpoint(session: Session, db_url: str) -> None:
    for i in range(4):
        session.execute(
            text("INSERT INTO audit_log (action, outcome, username) VALUES (:a, 'accepted', 'u')"),
            {"a": f"act{i}"},
        )
    scope = Scope("440000", "202601")
    for _ in range(3):
        record_findings_export(session, scope=scope, payload=b"x\n", generated_by="aud")
    session.commit()
    signed = make_checkpoint(session)
    session.commit()
    assert verify_against_checkpoint(session, signed).ok
    audit_seq = signed.heads["audit_log"].seq
    _tamper(
        db_url,
        f"DELETE FROM audit_log WHERE seq > {audit_seq - 2};"
        "UPDATE audit_chain_head SET seq = a.seq, hash = a.hash FROM "
        "(SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1) a;"
        "DELETE FROM report_record WHERE id = (SELECT max(id) FROM report_record);"
        "DELETE FROM evidence_link WHERE kind = 'report_record' AND seq = 3;"
        "UPDATE evidence_head SET seq = 2, hash = (SELECT hash FROM evidence_link "
        "WHERE kind = 'report_record' AND seq = 2) WHERE kind = 'report_record'",
    )
    assert problems(session) == []  # each chain is whole by itself
    report = verify_against_checkpoint(session, signed)
    assert not report.ok
    assert any(p.startswith(f"audit_log: link {audit_seq - 1} is missing") for p in report.problems)
    assert any(p.startswith("report_record: link 3 is missing") for p in report.problems)
