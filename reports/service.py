"""Building report files and recording each one (报表登记) so its origin can be proved.

A report is rendered into a temporary file (a county's disclosure can run to many megabytes),
hashed, recorded with who asked, when, the parameters, its SHA-256, size and the chain head of
the books it was built from, and handed back to be streamed or copied. The same books give the
same bytes: every date printed comes from the books, never from the clock.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.errors import NotFound, ValidationFailed
from ledger.jurisdictions.service import fund_code, get_jurisdiction
from ledger.replica import REPLAY_LSN, read_snapshot
from reports import data, exports, findings, trace
from reports.pdf.audit import render_audit
from reports.pdf.disclosure import render_disclosure
from reports.scope import Scope, check_period, report_scope

SPOOL_BYTES = 8 * 1024 * 1024


def _spool() -> BinaryIO:
    # Handed to the caller, who streams it and closes it: no context manager here.
    return cast(BinaryIO, tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES))


@contextmanager
def snapshot(session: Session) -> Iterator[Session]:
    """A read-only REPEATABLE READ session on its own connection: every read in it sees the
    books as they were at its first statement. With ``LEDGER_READ_DATABASE_URL`` it reads the
    replica, once the replica has replayed the primary's chain head (``ledger.replica``)."""
    with read_snapshot(session) as snap:
        yield snap


def _chain_head(session: Session) -> str:
    return str(session.execute(text("SELECT hash FROM chain_head")).scalar_one())


@dataclass(frozen=True)
class BuiltReport:
    """A rendered report: its bytes in ``file`` (positioned at 0) and its record."""

    file: IO[bytes]
    record_id: int
    kind: str
    sha256: str
    size_bytes: int
    filename: str
    figures: dict[str, Any]

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file.seek(0)
        with path.open("wb") as out:
            shutil.copyfileobj(self.file, out)
        self.file.seek(0)


def _finish(
    session: Session,
    *,
    file: IO[bytes],
    kind: str,
    scope: Scope,
    fund: str | None,
    parameters: dict[str, Any],
    generated_by: str,
    filename: str,
    figures: dict[str, Any],
    head: str,
    replay_lsn: str | None = None,
) -> BuiltReport:
    """Hash the file and record it; a report read from a replica records the replica's WAL
    replay position (``parameters.replica_lsn``) beside the chain head it showed."""
    if replay_lsn is not None:
        parameters = {**parameters, "replica_lsn": replay_lsn}
    file.seek(0)
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: file.read(1 << 20), b""):
        digest.update(chunk)
        size += len(chunk)
    file.seek(0)
    record_id = session.execute(
        text(
            "INSERT INTO report_record (kind, jurisdiction_code, fund_code, period, parameters, "
            "sha256, size_bytes, chain_head, generated_by) VALUES (:k, :j, :f, :p, "
            "CAST(:params AS jsonb), :sha, :size, :head, :by) RETURNING id"
        ),
        {
            "k": kind,
            "j": scope.jurisdiction,
            "f": fund,
            "p": scope.period,
            "params": json.dumps(parameters, ensure_ascii=False, sort_keys=True),
            "sha": digest.hexdigest(),
            "size": size,
            "head": head,
            "by": generated_by,
        },
    ).scalar_one()
    return BuiltReport(file, int(record_id), kind, digest.hexdigest(), size, filename, figures)


def build_disclosure(
    session: Session,
    *,
    jurisdiction: str,
    fund: str,
    period: str,
    generated_by: str,
    notice_from: date | None = None,
    notice_days: int = data.NOTICE_DAYS,
    village: data.Village | None = None,
    large_print: bool = False,
    checkpoint: tuple[int, str] | None = None,
) -> BuiltReport:
    """The public disclosure (公示) PDF of one jurisdiction, fund and period, or of one of its
    villages; 公示期 from ``notice_from`` (default the report's date) for ``notice_days``."""
    check_period(period)
    if not 1 <= notice_days <= 90:
        raise ValidationFailed(
            "the notice period runs 1 to 90 days",
            [{"field": "notice_days", "reason": "out of range"}],
        )
    get_jurisdiction(session, jurisdiction)
    code = fund_code(session, fund)
    file = _spool()
    with snapshot(session) as snap:
        head = _chain_head(snap)
        replay_lsn = snap.info.get(REPLAY_LSN)
        scope = report_scope(snap, jurisdiction, period)
        info = data.disclosure_info(
            snap,
            scope,
            code,
            notice_from=notice_from,
            notice_days=notice_days,
            village=village,
            checkpoint=checkpoint,
        )
        rows = data.disclosure_rows(snap, scope, code, village)
        totals = render_disclosure(info, rows, file, large_print=large_print)
    parameters: dict[str, Any] = {"jurisdiction": jurisdiction, "fund": code, "period": period}
    suffix = ""
    if village is not None:
        parameters["township"], parameters["village"] = village.township, village.village
        suffix = (
            "-" + hashlib.sha256(f"{village.township}/{village.village}".encode()).hexdigest()[:8]
        )
    if large_print:
        parameters["large_print"] = True
    if notice_from is not None or notice_days != data.NOTICE_DAYS:
        parameters["notice"] = [str(info.notice_from), str(info.notice_to)]
    return _finish(
        session,
        file=file,
        kind="disclosure",
        scope=scope,
        fund=code,
        parameters=parameters,
        generated_by=generated_by,
        filename=f"disclosure-{jurisdiction}-{code}-{period}{suffix}.pdf",
        figures={**totals, "generated_on": info.generated_on.isoformat()},
        head=head,
        replay_lsn=replay_lsn,
    )


def disclosure_villages(
    session: Session, *, jurisdiction: str, fund: str, period: str
) -> list[data.Village]:
    """The villages a one-file-per-village disclosure is made of."""
    code = fund_code(session, fund)
    with snapshot(session) as snap:
        return data.villages(snap, report_scope(snap, jurisdiction, period), code)


def find_village(
    session: Session,
    *,
    jurisdiction: str,
    fund: str,
    period: str,
    village: str,
    township: str | None = None,
) -> data.Village:
    """The one village of the disclosure with that name (and township, where two townships
    have a village of the same name)."""
    found = [
        v
        for v in disclosure_villages(session, jurisdiction=jurisdiction, fund=fund, period=period)
        if (v.village or "") == village and (township is None or (v.township or "") == township)
    ]
    if not found:
        raise NotFound(
            f"no village {village!r} with disclosed payouts in {jurisdiction} {period}",
            [{"field": "village", "reason": "no such village in this disclosure"}],
        )
    if len(found) > 1:
        raise ValidationFailed(
            f"{len(found)} townships have a village {village!r}: name the township",
            [{"field": "township", "reason": "; ".join(v.township or "" for v in found)}],
        )
    return found[0]


def build_audit(
    session: Session,
    *,
    jurisdiction: str,
    period: str,
    generated_by: str,
    checkpoint: tuple[int, str] | None = None,
) -> BuiltReport:
    """The audit (审计) PDF of one jurisdiction (with its subtree) and period."""
    check_period(period)
    get_jurisdiction(session, jurisdiction)
    file = _spool()
    with snapshot(session) as snap:
        head = _chain_head(snap)
        replay_lsn = snap.info.get(REPLAY_LSN)
        scope = report_scope(snap, jurisdiction, period)
        report, verified = data.audit_data(snap, scope, checkpoint=checkpoint)
        render_audit(report, file)
    return _finish(
        session,
        file=file,
        kind="audit",
        scope=scope,
        fund=None,
        parameters={"jurisdiction": jurisdiction, "period": period},
        generated_by=generated_by,
        filename=f"audit-{jurisdiction}-{period}.pdf",
        figures={
            "findings": report.finding_count,
            "verify_ok": verified["ok"],
            "entry_count": verified["entry_count"],
            "chain_head": verified["chain_head"],
            "generated_on": report.generated_on.isoformat(),
        },
        head=head,
        replay_lsn=replay_lsn,
    )


EXPORTS = ("findings", "payouts", "trace")


def build_export(
    session: Session,
    *,
    what: str,
    fmt: str,
    jurisdiction: str,
    period: str,
    generated_by: str,
    fund: str | None = None,
) -> BuiltReport:
    """The findings (``what="findings"``), the masked payout lines (``"payouts"``, of one
    fund or all) or the fund trace (``"trace"``, of one fund) of a jurisdiction's subtree and
    period as CSV or XLSX, read in one snapshot and recorded like any report file (kind
    ``findings_csv``, ``payouts_xlsx``, ``trace_csv``...)."""
    check_period(period)
    if what not in EXPORTS or fmt not in exports.FORMATS:
        raise ValidationFailed(
            f"no {what} export as {fmt}",
            [{"field": "format", "reason": f"one of {', '.join(exports.FORMATS)}"}],
        )
    if what == "trace" and fund is None:
        raise ValidationFailed(
            "a fund trace follows one fund", [{"field": "fund", "reason": "required"}]
        )
    get_jurisdiction(session, jurisdiction)
    code = fund_code(session, fund) if fund is not None else None
    file = _spool()
    with snapshot(session) as snap:
        head = _chain_head(snap)
        replay_lsn = snap.info.get(REPLAY_LSN)
        scope = report_scope(snap, jurisdiction, period)
        if what == "findings":
            table = findings.findings_table(findings.all_findings(snap, scope))
        elif what == "trace" and code is not None:
            table = trace.trace_table(snap, scope, code)
        else:
            table = data.payout_table(snap, scope, code)
        exports.write(table, file, fmt, as_of=scope.as_of)
    parameters: dict[str, Any] = {"jurisdiction": jurisdiction, "period": period}
    if code is not None:
        parameters["fund"] = code
    name = "-".join(p for p in (what, jurisdiction, code, period) if p)
    return _finish(
        session,
        file=file,
        kind=f"{what}_{fmt}",
        scope=scope,
        fund=code,
        parameters=parameters,
        generated_by=generated_by,
        filename=f"{name}.{fmt}",
        figures={"generated_on": scope.as_of.isoformat()},
        head=head,
        replay_lsn=replay_lsn,
    )


def record_findings_export(
    session: Session, *, scope: Scope, payload: bytes, generated_by: str
) -> int:
    """Record a findings CSV like any other report file; returns the record id."""
    file = _spool()
    file.write(payload)
    built = _finish(
        session,
        file=file,
        kind="findings_csv",
        scope=scope,
        fund=None,
        parameters={"jurisdiction": scope.jurisdiction, "period": scope.period},
        generated_by=generated_by,
        filename=f"findings-{scope.jurisdiction}-{scope.period}.csv",
        figures={},
        head=_chain_head(session),
    )
    file.close()
    return built.record_id


def list_records(
    session: Session,
    *,
    pattern: str,
    sha256: str | None = None,
    period: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Report records of jurisdictions matching ``pattern`` (a SQL LIKE on codes), newest first."""
    rows = (
        session.execute(
            text(
                "SELECT id, kind, jurisdiction_code AS jurisdiction, fund_code AS fund, period, "
                "parameters, sha256, size_bytes, chain_head, generated_by, generated_at "
                "FROM report_record WHERE jurisdiction_code LIKE :pattern "
                "AND (CAST(:sha AS text) IS NULL OR sha256 = :sha) "
                "AND (CAST(:period AS text) IS NULL OR period = :period) "
                "ORDER BY id DESC LIMIT :lim"
            ),
            {"pattern": pattern, "sha": sha256, "period": period, "lim": limit},
        )
        .mappings()
        .all()
    )
    return [dict(r) for r in rows]
