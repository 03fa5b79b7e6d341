"""Archiving a closed period (归档): its payout lines and their history leave the live tables.

``archive_period`` writes the period's partitions of ``payout`` and ``payout_event`` to CSV files
(``COPY … TO STDOUT``), records in the append-only ``period_archive`` (itself chained as
evidence, so every later checkpoint commits to it) each file's rows and SHA-256, the batch roots
its lines belong to and its totals by county, fund and state, then detaches the partitions into
the schema ``archive`` (``archive_period_partitions``, migration 0021). Four eyes: one admin
asks (``request_archive``), another admin of the same bureau archives. Only a closed period
whose every line is settled — none draft or sent, none failed or returned and still awaiting a
reissue — is archived; the database refuses anything else as well.

``check_archives`` is what ``ledger verify`` asks of each archived period: the record still
agrees with the journal (each batch root is the one its release entry committed to) and with
the payout registry; given the archive's directory, it re-reads the files, checks their SHA-256
and recomputes every batch root from the archived lines (with the batch's live lines, when a
reissue put lines of several periods in one batch), naming the changed line.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.domain import PERIOD_PATTERN, merkle_root
from ledger.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ledger.payouts import LEAF_COLUMNS, PayoutLine, batch_lines

if TYPE_CHECKING:
    from ledger.access.service import Principal
    from ledger.journal.verify import VerifyReport

TABLES = ("payout", "payout_event")
AWAITING = ("draft", "sent", "failed", "returned")
"""States that leave a period's business open (a failed or returned line awaits its reissue)."""
_LEAF_NAMES = [c.strip() for c in LEAF_COLUMNS.split(",")]
_INTS = {"seq", "amount_fen", "leaf_version"}


@dataclass
class ArchiveFile:
    table: str
    name: str
    rows: int
    sha256: str


@dataclass
class ArchivedPeriod:
    id: int
    period: str
    request_id: int
    archived_by: str
    payout_count: int
    event_count: int
    files: list[ArchiveFile]
    batches: list[dict[str, Any]]
    totals: list[dict[str, Any]]
    kept_as: str
    manifest: str = ""
    out_dir: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def file_name(table: str, period: str) -> str:
    return f"{table}_{period}.csv"


def _check_period(period: str) -> None:
    if not re.match(PERIOD_PATTERN, period):
        raise ValidationFailed("period must be YYYYMM", [{"field": "period", "reason": "invalid"}])


def _refusal(session: Session, period: str) -> None:
    """The clear reason a period cannot be archived, if there is one."""
    if not session.execute(
        text("SELECT 1 FROM fiscal_period_close WHERE period = :p"), {"p": period}
    ).first():
        raise Conflict(
            f"period {period} is open: only a closed period is archived (ledger periods close)",
            [{"field": "period", "reason": "open"}],
        )
    if session.execute(
        text("SELECT 1 FROM period_archive WHERE period = :p"), {"p": period}
    ).first():
        raise Conflict(
            f"period {period} is already archived", [{"field": "period", "reason": "archived"}]
        )
    if not session.execute(
        text("SELECT 1 FROM payout_ref WHERE period = :p LIMIT 1"), {"p": period}
    ).first():
        raise NotFound(
            f"period {period} has no payout lines to archive",
            [{"field": "period", "reason": "no payouts"}],
        )
    open_lines = session.execute(
        text(
            "SELECT state, count(*) AS n, min(batch_id) AS batch FROM payout "
            "WHERE period = :p AND state = ANY(:s) GROUP BY state ORDER BY state"
        ),
        {"p": period, "s": list(AWAITING)},
    ).all()
    if open_lines:
        said = ", ".join(f"{r.n} {r.state} (batch {r.batch}…)" for r in open_lines)
        raise Conflict(
            f"period {period} is not settled: {said}; a period is archived once every line "
            "is paid, reissued or cancelled",
            [
                {"field": "period", "reason": f"{r.n} payouts {r.state}", "batch_id": r.batch}
                for r in open_lines
            ],
        )


def _admin_only(principal: Principal) -> None:
    if principal.role != "admin":
        raise Forbidden(
            "archiving a period removes its lines from the live books: admins do it",
            [{"field": "role", "reason": "admin only"}],
        )


@dataclass
class ArchiveRequest:
    id: int
    period: str
    requested_by: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def request_archive(
    session: Session, *, period: str, reason: str, principal: Principal
) -> ArchiveRequest:
    """The first pair of eyes: an admin asks for PERIOD to be archived (refused at once if it
    could not be); another admin of the same bureau carries it out with ``archive_period``."""
    _admin_only(principal)
    _check_period(period)
    if not reason.strip():
        raise ValidationFailed("say why", [{"field": "reason", "reason": "required"}])
    _refusal(session, period)
    made = session.execute(
        text(
            "INSERT INTO period_archive_request (period, bureau_id, requested_by, reason) "
            "VALUES (:p, :b, :u, :r) RETURNING id"
        ),
        {"p": period, "b": principal.bureau_id, "u": principal.user_id, "r": reason.strip()},
    ).scalar_one()
    return ArchiveRequest(int(made), period, principal.username, reason.strip())


def _request_for(session: Session, period: str, principal: Principal) -> int:
    """The latest request for PERIOD from another admin of the principal's bureau."""
    requests = session.execute(
        text(
            "SELECT id, requested_by, bureau_id FROM period_archive_request "
            "WHERE period = :p ORDER BY id DESC"
        ),
        {"p": period},
    ).all()
    for r in requests:
        if r.requested_by != principal.user_id and r.bureau_id == principal.bureau_id:
            return int(r.id)
    if requests:
        raise Conflict(
            f"period {period}: the admin who asked cannot archive it; a second admin of the "
            "bureau does (four eyes)",
            [{"field": "period", "reason": "requested by the same admin or another bureau"}],
        )
    raise Conflict(
        f"period {period}: nobody asked for it to be archived; an admin asks first "
        f"(ledger periods archive-request {period} --reason …), another archives it",
        [{"field": "period", "reason": "no archive request"}],
    )


def archive_period(
    session: Session, *, period: str, out_dir: Path, principal: Principal
) -> ArchivedPeriod:
    """Write PERIOD's partitions to ``out_dir``, record them, then detach them from the books:
    the second pair of eyes, on another admin's request."""
    _admin_only(principal)
    _check_period(period)
    _refusal(session, period)
    request_id = _request_for(session, period, principal)
    # Under SHARE locks on the period's partitions nothing changes between the files and the
    # detach; the function checks again under them.
    session.execute(text("SELECT lock_period_for_archive(:p)"), {"p": period})
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / file_name(t, period) for t in TABLES]
    manifest = out_dir / f"period_archive_{period}.json"
    for path in (*paths, manifest):
        if path.exists():
            raise Conflict(
                f"{path} already exists: archive into an empty place",
                [{"field": "out", "reason": "file exists"}],
            )
    try:
        files = [_copy_out(session, t, period, p) for t, p in zip(TABLES, paths, strict=True)]
        batches = [
            {
                "batch_id": r.id,
                "batch_period": r.period,
                "status": r.status,
                "lines": r.lines,
                "root": r.merkle_root,
                "release_entry_id": r.release_entry_id,
            }
            for r in session.execute(
                text(
                    "SELECT b.id, b.period, b.status, b.merkle_root, b.release_entry_id, "
                    "count(*) AS lines FROM payout p JOIN payment_batch b ON b.id = p.batch_id "
                    "WHERE p.period = :p GROUP BY b.id ORDER BY b.id"
                ),
                {"p": period},
            )
        ]
        totals = [
            {
                "county": r.county_code,
                "fund": r.fund_code,
                "state": r.state,
                "count": r.n,
                "amount_fen": int(r.total),
            }
            for r in session.execute(
                text(
                    "SELECT county_code, fund_code, state, count(*) AS n, sum(amount_fen) AS total "
                    "FROM payout WHERE period = :p GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"
                ),
                {"p": period},
            )
        ]
        kept_as = ", ".join(f"archive.{t}_p{period}" for t in TABLES)
        row = session.execute(
            text(
                "INSERT INTO period_archive (period, request_id, approved_by, archived_by, "
                "payout_count, event_count, files, batches, totals, kept_as) "
                "VALUES (:p, :req, :uid, :by, :np, :ne, "
                "CAST(:files AS jsonb), CAST(:batches AS jsonb), CAST(:totals AS jsonb), :kept) "
                "RETURNING id"
            ),
            {
                "p": period,
                "req": request_id,
                "uid": principal.user_id,
                "by": principal.username,
                "np": files[0].rows,
                "ne": files[1].rows,
                "files": json.dumps([asdict(f) for f in files]),
                "batches": json.dumps(batches),
                "totals": json.dumps(totals),
                "kept": kept_as,
            },
        ).one()
        session.execute(text("SELECT archive_period_partitions(:p)"), {"p": period})
        archived = ArchivedPeriod(
            id=row.id,
            period=period,
            request_id=request_id,
            archived_by=principal.username,
            payout_count=files[0].rows,
            event_count=files[1].rows,
            files=files,
            batches=batches,
            totals=totals,
            kept_as=kept_as,
            manifest=str(manifest),
            out_dir=str(out_dir),
        )
        manifest.write_text(json.dumps(archived.as_dict(), ensure_ascii=False, indent=2) + "\n")
    except BaseException:
        for path in (*paths, manifest):
            path.unlink(missing_ok=True)
        raise
    return archived


def _copy_out(session: Session, table: str, period: str, path: Path) -> ArchiveFile:
    """The period's rows of ``table`` in id order, CSV with a header, hashed as written."""
    from psycopg import sql

    raw = session.connection().connection.driver_connection
    assert raw is not None
    digest = hashlib.sha256()
    query = sql.SQL(
        "COPY (SELECT * FROM {} WHERE period = {} ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER)"
    ).format(sql.Identifier(table), sql.Literal(period))
    with path.open("wb") as out, raw.cursor() as cur:
        with cur.copy(query) as copy:
            for chunk in copy:
                data = bytes(chunk)
                digest.update(data)
                out.write(data)
        rows = cur.rowcount  # the COPY's own count of the rows it wrote
    path.chmod(0o600)
    return ArchiveFile(table, path.name, rows, digest.hexdigest())


# ---- verification ---------------------------------------------------------------------------


@dataclass
class _ArchivedLines:
    """What the archive files of some periods say, by batch: (seq, payout id, line)."""

    lines: dict[int, list[tuple[int, int, PayoutLine]]] = field(default_factory=dict)
    sent_digest: dict[int, str] = field(default_factory=dict)


def archived_periods(session: Session) -> list[Any]:
    return list(
        session.execute(
            text(
                "SELECT id, period, payout_count, event_count, files, batches, totals "
                "FROM period_archive ORDER BY period"
            )
        ).all()
    )


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        yield from csv.DictReader(f)


def _line(row: dict[str, str]) -> PayoutLine:
    values: list[Any] = []
    for name in _LEAF_NAMES:
        value = row[name]
        values.append(int(value) if name in _INTS else (value if value != "" else None))
    return PayoutLine(*values)


def _read_archive(rec: Any, archive_dir: Path, report: VerifyReport, into: _ArchivedLines) -> None:
    for f in rec.files:
        path = archive_dir / f["name"]
        if not path.exists():
            report.fail(f"archive of {rec.period}: {path} is missing")
            continue
        digest = hashlib.sha256()
        with path.open("rb") as raw:
            for chunk in iter(lambda: raw.read(1 << 20), b""):
                digest.update(chunk)
        if digest.hexdigest() != f["sha256"]:
            report.fail(
                f"archive of {rec.period}: {f['name']} is not the file archived "
                f"(SHA-256 {digest.hexdigest()[:12]}…, recorded {f['sha256'][:12]}…)"
            )
        rows = 0
        for row in _rows(path):
            rows += 1
            if f["table"] == "payout":
                into.lines.setdefault(int(row["batch_id"]), []).append(
                    (int(row["seq"]), int(row["id"]), _line(row))
                )
            elif row["to_state"] == "sent" and row["line_digest"]:
                into.sent_digest[int(row["payout_id"])] = row["line_digest"]
        if rows != f["rows"]:
            report.fail(
                f"archive of {rec.period}: {f['name']} holds {rows} rows, the record {f['rows']}"
            )
        report.archive_files_checked.append(f["name"])


def check_archives(
    session: Session, report: VerifyReport, archive_dir: Path | None = None
) -> set[int]:
    """Check every archived period; return the batches whose lines are (partly) archived, which
    the live digest check leaves to this one."""
    records = archived_periods(session)
    report.periods_archived = [r.period for r in records]
    report.periods_live = list(
        session.execute(
            text(
                "SELECT DISTINCT period FROM payout_ref WHERE period NOT IN "
                "(SELECT period FROM period_archive) ORDER BY period"
            )
        ).scalars()
    )
    if not records:
        return set()
    covered: set[int] = set()
    for rec in records:
        if session.execute(
            text("SELECT to_regclass(:t) IS NOT NULL"), {"t": f"public.payout_p{rec.period}"}
        ).scalar():
            report.fail(f"period {rec.period} is archived but its partition is still live")
        registered = session.execute(
            text("SELECT count(*) FROM payout_ref WHERE period = :p"), {"p": rec.period}
        ).scalar_one()
        if registered != rec.payout_count:
            report.fail(
                f"archive of {rec.period} counts {rec.payout_count} payouts, the payout "
                f"registry {registered}"
            )
        for b in rec.batches:
            covered.add(int(b["batch_id"]))
            if b["status"] != "released":
                continue
            live = session.execute(
                text(
                    "SELECT b.merkle_root, e.payload_digest FROM payment_batch b "
                    "JOIN journal_entry e ON e.id = b.release_entry_id WHERE b.id = :b"
                ),
                {"b": b["batch_id"]},
            ).one()
            if not (b["root"] == live.merkle_root == live.payload_digest):
                report.fail(
                    f"archive of {rec.period}: batch {b['batch_id']}'s recorded root is not the "
                    f"digest its release entry {b['release_entry_id']} committed to",
                    b["release_entry_id"],
                )
    if archive_dir is not None:
        found = _ArchivedLines()
        for rec in records:
            _read_archive(rec, archive_dir, report, found)
        _recompute(session, report, covered, found, records)
    return covered


def _recompute(
    session: Session,
    report: VerifyReport,
    covered: set[int],
    found: _ArchivedLines,
    records: list[Any],
) -> None:
    """Each (partly) archived batch's root from its archived and live lines, in seq order."""
    complete = {b["batch_id"] for rec in records for b in rec.batches}
    for batch_id in sorted(covered & complete):
        batch = session.execute(
            text(
                "SELECT b.status, b.release_entry_id, e.payload_digest FROM payment_batch b "
                "LEFT JOIN journal_entry e ON e.id = b.release_entry_id WHERE b.id = :b"
            ),
            {"b": batch_id},
        ).one()
        if batch.status != "released":
            continue
        archived = found.lines.get(batch_id, [])
        lines = [(seq, line) for seq, _, line in archived]
        lines += [(line.seq, line) for line in batch_lines(session, batch_id)]
        lines.sort(key=lambda t: t[0])
        if merkle_root(line.leaf() for _, line in lines) == batch.payload_digest:
            continue
        report.fail(
            f"batch {batch_id}: its archived and live lines no longer match the digest "
            f"committed by entry {batch.release_entry_id}",
            batch.release_entry_id,
        )
        for seq, payout_id, line in archived:
            if found.sent_digest.get(payout_id) != line.leaf_hash():
                report.fail(
                    f"payout {payout_id} (batch {batch_id}, line {seq}, reference "
                    f"{line.reference}) was changed in the archive of {line.period}"
                )
