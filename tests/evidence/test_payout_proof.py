"""Payout proofs: the printed leaf, the proof files and who may fetch them, checked offline."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.domain import leaf_digest
from ledger.evidence import checkpoint as cp
from ledger.evidence import payout_proof
from ledger.evidence.merkle import LeafTree, inclusion_path
from ledger.evidence.service import make_checkpoint
from ledger.journal.verify import verify
from ledger.payouts import PrintedLine, batch_lines, batch_root, printed_leaf
from ledger.pii import mask_name
from tests.cli.run import CliRunnerOn
from tests.conftest import ROOT
from tests.evidence.test_docs_snippet import snippet
from tests.factories import make_user
from tests.roster.helpers import acknowledge_and_release, build, county, csv_of, rows, upload

HEX = st.text("0123456789abcdef", min_size=64, max_size=64)
LINES = st.builds(
    PrintedLine,
    st.from_regex(r"[A-Z0-9]{1,12}", fullmatch=True),
    st.text(min_size=1, max_size=6),
    st.integers(1, 10**12),
    st.from_regex(r"20[0-9]{2}(0[1-9]|1[0-2])", fullmatch=True),
    st.sampled_from(["urban_minimum_living", "rural_minimum_living"]),
    st.from_regex(r"44[0-9]{4}", fullmatch=True),
)


@given(
    line=LINES,
    salt=st.text("0123456789abcdef", min_size=32, max_size=32),
    commitment=HEX,
    data=st.data(),
)
def test_every_printed_field_salt_and_commitment_change_the_leaf(
    line: PrintedLine, salt: str, commitment: str, data: st.DataObject
) -> None:
    leaf = printed_leaf(line, salt, commitment)
    name = data.draw(st.sampled_from([f.name for f in dataclasses.fields(line)]))
    value = getattr(line, name)
    other = data.draw(
        st.integers(1, 10**12) if isinstance(value, int) else st.text(min_size=1, max_size=12)
    )
    if other != value:
        assert printed_leaf(dataclasses.replace(line, **{name: other}), salt, commitment) != leaf
    flipped = salt[:-1] + ("0" if salt[-1] != "0" else "1")
    assert printed_leaf(line, flipped, commitment) != leaf
    assert printed_leaf(line, salt, commitment[::-1]) != leaf or commitment == commitment[::-1]


@given(n=st.integers(1, 40), data=st.data())
def test_batch_paths_verify_and_a_changed_sibling_fails(n: int, data: st.DataObject) -> None:
    leaves = [
        leaf_digest(
            printed_leaf(
                PrintedLine(f"R{i}", "张*", 100 + i, "202403", "f", "440103"), "0" * 32, "1" * 64
            )
        )
        for i in range(n)
    ]
    tree = LeafTree(leaves)
    index = data.draw(st.integers(0, n - 1))
    path = inclusion_path(index, n, tree.subtree)
    from ledger.evidence.merkle import ProofError, verify_inclusion

    verify_inclusion(index, n, leaves[index], path, tree.root())
    if path:
        k = data.draw(st.integers(0, len(path) - 1))
        bad = [*path[:k], bytes(32), *path[k + 1 :]]
        with pytest.raises(ProofError):
            verify_inclusion(index, n, leaves[index], bad, tree.root())


# ---- against the books ---------------------------------------------------------------------


def _released(client: Any, session: Session, n: int = 6) -> tuple[Any, dict[str, Any], list[Any]]:
    c = county(session)
    assert upload(client, c, csv_of(rows(c.code, n))).status_code == 201
    batch = build(client, c).json()
    reply = acknowledge_and_release(client, c, batch["id"])
    lines = session.execute(
        text(
            "SELECT reference, payee_name, amount_fen, salt FROM payout WHERE batch_id = :b ORDER BY seq"
        ),
        {"b": batch["id"]},
    ).all()
    return c, reply.json(), lines


def test_new_lines_get_a_salt_and_the_release_commits_to_the_printed_leaves(
    client: Any, session: Session
) -> None:
    _, released, lines = _released(client, session)
    assert all(len(ln.salt) == 32 for ln in lines) and len({ln.salt for ln in lines}) == len(lines)
    assert released["merkle_root"] == batch_root(session, released["batch_id"])
    assert verify(session).ok


def test_proof_by_role_and_scope_and_the_public_one(client: Any, session: Session) -> None:
    c, released, lines = _released(client, session)
    ref = lines[2].reference
    assert client.get(f"/payouts/{ref}/proof", headers=c.maker.headers).status_code == 409
    make_checkpoint(session)
    session.commit()
    auditor_in = make_user(session, "auditor", "440100")
    auditor_out = make_user(session, "auditor", "440104")
    other_bank = make_user(session, "bank", "440100", bank="RCCGD")
    for user, status in (
        (c.maker, 200),
        (auditor_in, 200),
        (c.bank, 200),
        (auditor_out, 403),
        (other_bank, 403),
    ):
        got = client.get(f"/payouts/{ref}/proof", headers=user.headers)
        assert got.status_code == status, (user, got.text[:100])
    assert client.get(f"/payouts/{ref}/proof").status_code == 401

    public = client.get(f"/public/payouts/{ref}/proof")
    assert public.status_code == 200
    doc = public.json()
    assert doc["line"]["reference"] == ref and doc["line"]["masked_name"] != lines[2].payee_name
    assert doc["line"]["amount_fen"] == lines[2].amount_fen
    text_of = json.dumps(doc, ensure_ascii=False)
    assert lines[2].payee_name not in text_of
    assert doc["batch"]["root"] == released["merkle_root"]
    assert client.get("/public/payouts/NOSUCHREF/proof").status_code == 404
    assert client.get("/public/payouts/bad-ref!/proof").status_code == 422
    assert client.get("/public/payouts/" + "A" * 13 + "/proof").status_code == 422


def _offline(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update({"LEDGER_DATA_DIR": str(data_dir), "PYTHONPATH": str(ROOT), "COLUMNS": "200"})
    return subprocess.run(
        [sys.executable, "-m", "ledger", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_proof_file_verifies_offline_and_forgeries_are_named(
    client: Any,
    session: Session,
    cli: CliRunnerOn,
    tmp_path: Path,
) -> None:
    _, released, lines = _released(client, session)
    ref = lines[0].reference
    proof, checkpoint = tmp_path / "proof.json", tmp_path / "checkpoint.json"
    made = cli("proof", "payout", ref, "--out", str(proof), "--checkpoint-out", str(checkpoint))
    assert made.exit_code == 0, made.output
    doc = json.loads(proof.read_text())
    assert doc["release_entry"]["id"] == released["entry_id"]

    empty = tmp_path / "no-database"
    empty.mkdir()
    ok = _offline("proof", "verify", str(proof), "--checkpoint", str(checkpoint), data_dir=empty)
    assert ok.returncode == 0, ok.stderr
    assert "verified" in ok.stderr and ref in ok.stderr
    assert not any(empty.iterdir()), "no embedded server may be started"

    signed = cp.read_file(checkpoint)
    proven = snippet(1)["payout_proven"]  # docs/verification.md, hashlib only
    assert proven(doc, signed.as_dict())
    cases = {
        "amount": (lambda d: d["line"].update(amount_fen=d["line"]["amount_fen"] + 1), "leaf"),
        "name": (lambda d: d["line"].update(masked_name="王*"), "leaf"),
        "salt": (lambda d: d.update(salt="0" * 32), "leaf"),
        "commitment": (lambda d: d.update(commitment="0" * 64), "leaf"),
        "path": (lambda d: d["batch"]["path"].__setitem__(0, "0" * 64), "batch.path"),
        "index": (lambda d: d["batch"].update(index=d["batch"]["index"] + 1), "batch.path"),
        "entry": (
            lambda d: d["release_entry"].update(canonical=d["release_entry"]["canonical"] + " "),
            "release_entry.canonical",
        ),
        "journal": (lambda d: d["journal"]["path"].append("0" * 64), "journal.path"),
        "missing": (lambda d: d.pop("commitment"), "commitment"),
    }
    for name, (change, field) in cases.items():
        bad = json.loads(proof.read_text())
        change(bad)
        with pytest.raises(payout_proof.ProofFileError) as refused:
            payout_proof.verify_payout_proof(bad, signed)
        assert refused.value.field == field, name
        if name != "missing":
            assert not proven(bad, signed.as_dict()), name
    forged = tmp_path / "forged.json"
    forged.write_text(proof.read_text().replace(doc["salt"], "0" * 32))
    bad_run = _offline(
        "proof", "verify", str(forged), "--checkpoint", str(checkpoint), data_dir=empty
    )
    assert bad_run.returncode == 1 and "(leaf)" in bad_run.stderr
    truncated = tmp_path / "truncated.json"
    truncated.write_text(proof.read_text()[:200])
    cut = _offline(
        "proof", "verify", str(truncated), "--checkpoint", str(checkpoint), data_dir=empty
    )
    assert cut.returncode == 1 and "truncated" in cut.stderr
    assert not any(empty.iterdir())


def test_a_payout_of_an_unreleased_or_old_batch_has_no_proof(session: Session) -> None:
    with pytest.raises(Exception, match="no payout"):
        payout_proof.payout_scope(session, "NOSUCH")


def test_the_databases_mask_and_recorded_leaves_are_the_python_ones(
    client: Any, session: Session
) -> None:
    names = ["张", "张三", "李小明", "欧阳小明", "欧阳", "司马相如", "阿卜杜热合曼", "O'Neil", ""]
    for name in names:
        assert session.execute(text("SELECT mask_name(:n)"), {"n": name}).scalar() == mask_name(
            name
        )
    _, released, _ = _released(client, session)
    recorded = dict(
        session.execute(
            text(
                "SELECT p.seq, ev.line_digest FROM payout p JOIN payout_event ev ON "
                "ev.payout_id = p.id AND ev.to_state = 'sent' WHERE p.batch_id = :b"
            ),
            {"b": released["batch_id"]},
        ).all()
    )
    lines = list(batch_lines(session, released["batch_id"]))
    assert lines and all(recorded[ln.seq] == ln.leaf_hash() for ln in lines)
