"""Checkpoints: signed, stored, served; a journal cut or rewritten behind the triggers' back fails
``verify --checkpoint`` naming the first entry missing or changed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.orm import Session

import ledger.main  # noqa: F401  (mounts the evidence checks)
from ledger.domain import allocation_lines
from ledger.evidence import checkpoint as cp
from ledger.evidence.merkle import LeafTree, leaf_hash
from ledger.evidence.service import (
    StoredTree,
    latest_checkpoint,
    make_checkpoint,
    verify_against_checkpoint,
)
from ledger.journal.service import post_entry
from tests.factories import make_user

FUND = "urban_minimum_living"


def _tamper(db_url: str, sql: str) -> None:
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("SET session_replication_role = replica")  # disables the triggers
        conn.execute(sql)


def _entries(session: Session, count: int) -> None:
    for i in range(count):
        post_entry(
            session,
            kind="allocation",
            lines=allocation_lines("440000", FUND, 1000 + i),
            created_by="finance",
        )
    session.commit()


def cut_tail(db_url: str, keep: int) -> None:
    """Delete every entry after ``keep`` with its postings; rewind the head and the balances."""
    _tamper(
        db_url,
        f"DELETE FROM posting WHERE entry_id > {keep}; DELETE FROM journal_entry WHERE id > {keep};"
        f"UPDATE chain_head SET seq = {keep}, hash = (SELECT hash FROM journal_entry WHERE id = {keep});"
        "UPDATE account a SET balance_fen = COALESCE((SELECT sum(CASE p.side WHEN 'D' THEN "
        "p.amount_fen ELSE -p.amount_fen END) FROM posting p WHERE p.account_id = a.id), 0)",
    )


def test_checkpoint_is_signed_stored_and_its_root_is_the_journals(session: Session) -> None:
    _entries(session, 7)
    signed = make_checkpoint(session)
    session.commit()
    signed.verify_signature()
    hashes = [bytes.fromhex(h) for (h,) in session.execute(ledger_hashes())]
    assert signed.tree_size == 7
    assert signed.root == LeafTree(leaf_hash(h) for h in hashes).root().hex()
    assert signed.chain_head == hashes[-1].hex()
    assert set(signed.heads) == {
        "audit_log",
        "bank_file",
        "report_record",
        "finding_run",
        "fund_document",
        "period_archive",
    }
    assert latest_checkpoint(session) == signed
    assert StoredTree(session).root(5) == LeafTree(leaf_hash(h) for h in hashes[:5]).root()
    report = verify_against_checkpoint(session, signed, trusted_key_id=signed.key_id)
    assert report.ok and report.journal_size == 7


def ledger_hashes() -> Any:
    from sqlalchemy import text

    return text("SELECT hash FROM journal_entry ORDER BY id")


@pytest.mark.parametrize("removed", [1, 5])
def test_cut_tail_is_found_and_the_first_missing_entry_named(
    session: Session, db_url: str, removed: int
) -> None:
    _entries(session, 9)
    signed = make_checkpoint(session)
    session.commit()
    _entries(session, 2)  # the journal grew after the checkpoint: still consistent
    report = verify_against_checkpoint(session, signed)
    assert report.ok and report.journal_size == 11 and report.consistency_proof

    keep = 9 - removed
    cut_tail(db_url, keep)
    from ledger.journal.verify import verify

    assert verify(session).ok  # the books alone cannot tell
    report = verify_against_checkpoint(session, signed)
    assert not report.ok
    assert report.first_bad_entry == keep + 1
    assert f"entry {keep + 1} is missing" in report.problems[0]


def test_rewritten_entry_is_named(session: Session, db_url: str) -> None:
    _entries(session, 6)
    signed = make_checkpoint(session)
    session.commit()
    # Rewrite entry 4's stored hash (as a forger re-hashing the tail would).
    _tamper(db_url, "UPDATE journal_entry SET hash = repeat('a', 64) WHERE id = 4")
    report = verify_against_checkpoint(session, signed)
    assert report.first_bad_entry == 4
    assert "entry 4 was changed" in report.problems[0]


def test_forged_or_broken_checkpoints_are_refused(session: Session) -> None:
    _entries(session, 3)
    signed = make_checkpoint(session)
    session.commit()
    doc = signed.as_dict()
    forged = cp.parse({**doc, "tree_size": 2})
    with pytest.raises(cp.CheckpointError, match="signature"):
        verify_against_checkpoint(session, forged)
    resigned = cp.sign(cp.load_private_key("11" * 32), cp.parse(doc))
    with pytest.raises(cp.CheckpointError, match="signature"):
        resigned.verify_signature()
    import base64

    other_key = cp.load_private_key("11" * 32)
    raw = cp.public_raw(other_key)
    own = cp.sign(
        other_key,
        cp.parse(
            {**doc, "public_key": base64.b64encode(raw).decode(), "key_id": cp.key_id_of(raw)}
        ),
    )
    own.verify_signature()  # a valid signature, but of a key nobody trusts
    with pytest.raises(cp.CheckpointError, match="trusted key"):
        verify_against_checkpoint(session, own, trusted_key_id=signed.key_id)
    for bad, name in [
        ({**doc, "root": "xyz"}, "root"),
        ({k: v for k, v in doc.items() if k != "signature"}, "signature"),
        ({**doc, "tree_size": -1}, "tree_size"),
        ({**doc, "format": "x"}, "format"),
        ({**doc, "extra": 1}, "extra"),
    ]:
        with pytest.raises(cp.CheckpointError) as err:
            cp.parse(bad)
        assert err.value.field == name
    with pytest.raises(cp.CheckpointError, match="JSON"):
        cp.loads(signed.to_json()[:-40])


def _ledger(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"LEDGER_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "ledger", *args], env=env, capture_output=True, text=True
    )


def test_cli_checkpoint_then_cut_tail_fails_verify(
    session: Session, db_url: str, tmp_path: Path
) -> None:
    _entries(session, 8)
    old = tmp_path / "old.json"
    made = _ledger(db_url, "checkpoint", "--out", str(old))
    assert made.returncode == 0, made.stderr
    assert json.loads(old.read_text())["tree_size"] == 8
    _entries(session, 3)
    new = tmp_path / "new.json"
    assert _ledger(db_url, "checkpoint", "--out", str(new)).returncode == 0

    proof = _ledger(db_url, "proof", "consistency", str(old), str(new))
    assert proof.returncode == 0, proof.stderr
    assert json.loads(proof.stdout)["new_size"] == 11

    ok = _ledger(db_url, "verify", "--json", "--checkpoint", str(old))
    assert ok.returncode == 0, ok.stdout + ok.stderr

    cut_tail(db_url, 6)
    bad = _ledger(db_url, "verify", "--json", "--checkpoint", str(old))
    assert bad.returncode == 1
    out = json.loads(bad.stdout)
    assert out["first_broken_entry"] == 7
    assert "entry 7 is missing" in out["checkpoint"]["problems"][0]

    truncated = tmp_path / "truncated.json"
    truncated.write_text(old.read_text()[:100])
    refused = _ledger(db_url, "verify", "--checkpoint", str(truncated))
    assert refused.returncode == 2 and "not JSON" in refused.stderr
    tampered = tmp_path / "tampered.json"
    tampered.write_text(old.read_text().replace('"tree_size": 8', '"tree_size": 6'))
    refused = _ledger(db_url, "verify", "--checkpoint", str(tampered))
    assert refused.returncode == 2 and "signature" in refused.stderr
    assert not list(tmp_path.glob("*.part"))


def test_checkpoint_api(session: Session, client: Any) -> None:
    auditor = make_user(session, "auditor", "440000")
    assert client.get("/checkpoints/latest", headers=auditor.headers).status_code == 404
    _entries(session, 4)
    signed = make_checkpoint(session)
    session.commit()
    latest = client.get("/checkpoints/latest", headers=auditor.headers)
    assert latest.status_code == 200 and latest.json() == signed.as_dict()
    assert client.get("/checkpoints/4", headers=auditor.headers).json()["root"] == signed.root
    assert client.get("/checkpoints/3", headers=auditor.headers).status_code == 404
    checked = client.post("/verify/checkpoint", headers=auditor.headers, json=signed.as_dict())
    assert checked.status_code == 200 and checked.json()["ok"], checked.json()
    bad = client.post(
        "/verify/checkpoint", headers=auditor.headers, json={**signed.as_dict(), "root": "0" * 64}
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "signature"
