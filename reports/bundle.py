"""The offline audit bundle (审计资料包): everything an auditor needs to check a jurisdiction's
period away from the system, in one zip.

* ``audit-J-P.pdf`` and ``disclosure-J-F-P.pdf`` for each fund with payouts, built and recorded
  like any report file (each prints the checkpoint);
* ``trace-J-F-P.csv`` (the fund trace) per fund and ``findings-J-P.csv``;
* ``checkpoint.json``: the latest signed checkpoint, made first if none covers the period;
* ``proofs/REFERENCE.json``: the inclusion proofs of the first payouts of the period;
* ``README.txt``: how to check them; ``MANIFEST.sha256``: the SHA-256 of every other file
  (``sha256sum -c MANIFEST.sha256``).

The zip is written to a temporary name and renamed: it is there whole or not at all.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from ledger.access.service import Principal
from ledger.db import session_scope
from ledger.evidence import checkpoint as cp
from ledger.evidence import payout_proof
from ledger.evidence.cli import checkpoint_covering
from ledger.evidence.service import printed_checkpoint
from ledger.jurisdictions.service import get_jurisdiction
from ledger.uow import operator_write
from reports import service
from reports.scope import Scope, check_period, period_end

PROOFS = 5

README = """Audit bundle of {jurisdiction}, period {period}
{rule}

Files
  {files}

1. Check that nothing was changed in transit:
     sha256sum -c MANIFEST.sha256

2. Check the checkpoint's signer against the bureau's key id, which you hold from a trusted
   channel: checkpoint.json says key_id {key_id}. Every PDF prints the checkpoint it was made
   under (tree size and root, also in its QR code).

3. Check each payout proof against the checkpoint, with no database:
     ledger proof verify proofs/REFERENCE.json --checkpoint checkpoint.json --key-id {key_id}
   Or with plain Python and hashlib only: the functions `included` and `payout_proven` of
   docs/verification.md ("A payout line's proof"):
     import json
     proof = json.load(open("proofs/REFERENCE.json"))
     checkpoint = json.load(open("checkpoint.json"))
     assert payout_proven(proof, checkpoint)
   (checking the checkpoint's Ed25519 signature needs an Ed25519 library; see the same page).

4. Later checkpoints prove the journal only grew since this one:
     ledger verify --checkpoint checkpoint.json      (on the books)
     ledger proof consistency checkpoint.json LATER.json

The trace CSVs list every allocation, transfer, batch and payout of each fund (names masked as
the disclosure prints them; no ID or account numbers). Each report file is recorded in the
report register: look its SHA-256 up with `ledger report records --sha256 …`.
"""


@dataclass(frozen=True)
class Bundle:
    path: Path
    files: dict[str, str]  # name → SHA-256
    checkpoint: cp.Checkpoint
    proofs: list[str]
    record_ids: list[int]


def _funds_with_payouts(session: Session, scope: Scope) -> list[str]:
    return list(
        session.execute(
            text(
                "SELECT DISTINCT fund_code FROM payout WHERE county_code LIKE :pattern "
                "AND period = :period ORDER BY 1"
            ),
            {"pattern": scope.pattern, "period": scope.period},
        ).scalars()
    )


def _last_entry_of(session: Session, period: str) -> int:
    """The last entry dated in or before the period: the checkpoint must cover it."""
    found = session.execute(
        text("SELECT max(id) FROM journal_entry WHERE effective_date <= :end"),
        {"end": period_end(period)},
    ).scalar()
    return int(found or 0)


def proof_references(session: Session, scope: Scope, limit: int = PROOFS) -> list[str]:
    """The first payouts of the subtree and period that have a proof (released, leaf v2)."""
    return list(
        session.execute(
            text(
                "SELECT p.reference FROM payout p JOIN payment_batch b ON b.id = p.batch_id "
                "WHERE p.county_code LIKE :pattern AND p.period = :period "
                "AND b.status = 'released' AND p.leaf_version = 2 ORDER BY p.id LIMIT :n"
            ),
            {"pattern": scope.pattern, "period": scope.period, "n": limit},
        ).scalars()
    )


def _reports(session: Session, scope: Scope, funds: list[str], by: str) -> list[Any]:
    checkpoint = printed_checkpoint(session)
    j, p = scope.jurisdiction, scope.period
    built = [
        service.build_audit(
            session, jurisdiction=j, period=p, generated_by=by, checkpoint=checkpoint
        )
    ]
    for fund in funds:
        built.append(
            service.build_disclosure(
                session, jurisdiction=j, fund=fund, period=p, generated_by=by,
                checkpoint=checkpoint,
            )
        )  # fmt: skip
        built.append(
            service.build_export(
                session, what="trace", fmt="csv", jurisdiction=j, period=p, fund=fund,
                generated_by=by,
            )
        )  # fmt: skip
    built.append(
        service.build_export(
            session, what="findings", fmt="csv", jurisdiction=j, period=p, generated_by=by
        )
    )
    return built


def _dump(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode()


def write_audit_bundle(
    engine: Engine,
    *,
    jurisdiction: str,
    period: str,
    out: Path,
    operator: str,
    principal: Principal | None,
) -> Bundle:
    """Build the bundle of ``jurisdiction`` (with its subtree) and ``period`` into ``out``.

    The reports are built and recorded in one unit of work (as ``principal``, or the operator);
    the checkpoint is the latest, made first (a recorded write) if it does not cover the
    period's entries; every proof is checked against it before it is packed."""
    check_period(period)
    with session_scope(engine) as session:
        get_jurisdiction(session, jurisdiction)
        scope = Scope(jurisdiction, period)
        funds = _funds_with_payouts(session, scope)
        last_entry = _last_entry_of(session, period)
    signed = checkpoint_covering(last_entry, engine, operator)
    by = principal.username if principal is not None else operator
    built: list[Any] = []

    def work(s: Session) -> dict[str, Any]:
        built.extend(_reports(s, scope, funds, by))
        return {"record_ids": [b.record_id for b in built]}

    operator_write(
        engine,
        action="cli:audit-bundle",
        operator=operator,
        principal=principal,
        object_type="report_record",
        work=work,
    )
    files: dict[str, bytes] = {}
    for b in built:
        files[b.filename] = b.file.read()
        b.file.close()
    files["checkpoint.json"] = _dump(signed.as_dict())
    proofs: list[str] = []
    with session_scope(engine) as session:
        for reference in proof_references(session, scope):
            doc = payout_proof.build_payout_proof(session, reference, signed)
            payout_proof.verify_payout_proof(doc, signed)
            files[f"proofs/{reference}.json"] = _dump(doc)
            proofs.append(reference)
    title = f"Audit bundle of {jurisdiction}, period {period}"
    files["README.txt"] = README.format(
        jurisdiction=jurisdiction,
        period=period,
        rule="=" * len(title),
        files="\n  ".join([*files, "README.txt", "MANIFEST.sha256"]),
        key_id=signed.key_id,
    ).encode()
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    files["MANIFEST.sha256"] = "".join(f"{d}  {n}\n" for n, d in digests.items()).encode()
    stamp = period_end(period)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, (stamp.year, stamp.month, stamp.day, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    tmp.replace(out)
    return Bundle(out, digests, signed, proofs, [b.record_id for b in built])
