"""Archiving a closed, settled period: files, a record, detached partitions, and ``verify``
saying which periods it checked live and which by their archive."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.errors import Conflict, Forbidden
from ledger.journal.archive import archive_period, request_archive
from ledger.journal.service import close_period
from ledger.journal.verify import verify
from tests.factories import make_user, principal_of
from tests.roster.helpers import (
    PERIOD,
    acknowledge_and_release,
    bank_answers,
    build,
    county,
    csv_of,
    rows,
    upload,
)


def _released(
    client: Any, session: Session, *, period: str = PERIOD, n: int = 6, c: Any = None, **kw: Any
) -> Any:
    if c is None:
        c = county(session)
        assert upload(client, c, csv_of(rows(c.code, n)), period=period).status_code == 201
    reply = build(client, c, period=period, **kw)
    assert reply.status_code == 201, reply.text
    batch = reply.json()
    acknowledge_and_release(client, c, batch["id"])
    return c, batch


def _close(session: Session, period: str) -> None:
    close_period(session, period=period, closed_by="test")
    session.commit()


def _admin(session: Session) -> Any:
    """The admin who archives, on a request by another admin of the same bureau."""
    asker = principal_of(session, make_user(session, "admin", "440000"))
    request_archive(session, period=PERIOD, reason="十年前的月份", principal=asker)
    return principal_of(session, make_user(session, "admin", "440000"))


@pytest.fixture
def archived(client: Any, session: Session, tmp_path: Path) -> dict[str, Any]:
    c, batch = _released(client, session)
    bank_answers(client, session, c, batch["id"])
    _close(session, PERIOD)
    done = archive_period(session, period=PERIOD, out_dir=tmp_path, principal=_admin(session))
    session.commit()
    return {"batch": batch, "archive": done, "dir": tmp_path, "county": c}


def test_archiving_writes_records_and_detaches(archived: dict[str, Any], session: Session) -> None:
    done, out = archived["archive"], archived["dir"]
    assert done.payout_count == 6 and done.event_count == 6 * 3  # draft, sent, paid
    for f in done.files:
        assert (out / f.name).exists() and len(f.sha256) == 64
    assert [b["batch_id"] for b in done.batches] == [archived["batch"]["id"]]
    # The live table no longer holds the period; the registry and the record do.
    assert (
        session.execute(
            text("SELECT count(*) FROM payout WHERE period = :p"), {"p": PERIOD}
        ).scalar()
        == 0
    )
    assert (
        session.execute(
            text("SELECT count(*) FROM payout_ref WHERE period = :p"), {"p": PERIOD}
        ).scalar()
        == 6
    )
    assert (
        session.execute(text("SELECT to_regclass('public.payout_p' || :p)"), {"p": PERIOD}).scalar()
        is None
    )
    # The record is chained evidence and append-only.
    assert (
        session.execute(
            text("SELECT seq FROM evidence_head WHERE kind = 'period_archive'")
        ).scalar()
        == 1
    )
    manifest = json.loads((out / f"period_archive_{PERIOD}.json").read_text())
    assert manifest["files"][0]["sha256"] == done.files[0].sha256


def test_verify_lists_periods_live_and_archived(
    archived: dict[str, Any], client: Any, session: Session
) -> None:
    by_digest = verify(session)
    assert by_digest.ok, by_digest.problems
    assert by_digest.periods_archived == [PERIOD] and by_digest.archive_files_checked == []
    with_files = verify(session, archive_dir=archived["dir"])
    assert with_files.ok, with_files.problems
    assert with_files.archive_files_checked == [
        f"payout_{PERIOD}.csv",
        f"payout_event_{PERIOD}.csv",
    ]
    # A later period, still live, is checked live.
    _released(client, session, period="202404", c=archived["county"])
    report = verify(session, archive_dir=archived["dir"])
    assert report.ok, report.problems
    assert report.periods_live == ["202404"] and report.periods_archived == [PERIOD]
    assert report.as_dict()["periods"]["archived"] == [PERIOD]


def test_a_tampered_archive_names_the_file_and_the_payout(
    archived: dict[str, Any], session: Session
) -> None:
    path = archived["dir"] / f"payout_{PERIOD}.csv"
    table = list(csv.DictReader(io.StringIO(path.read_text())))
    victim = table[2]
    victim["amount_fen"] = str(int(victim["amount_fen"]) + 100)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(table[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    path.write_text(out.getvalue())
    report = verify(session, archive_dir=archived["dir"])
    assert not report.ok
    assert any(f"payout_{PERIOD}.csv is not the file archived" in p for p in report.problems)
    assert any(
        f"payout {victim['id']} " in p and f"reference {victim['reference']}" in p
        for p in report.problems
    ), report.problems
    # Without the files, verify still passes on the record's digests: the files are the proof.
    assert verify(session).ok


def test_a_changed_record_or_a_reattached_partition_is_found(
    archived: dict[str, Any], session: Session, owner_url: str
) -> None:
    with psycopg.connect(owner_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute("UPDATE period_archive SET totals = jsonb_set(totals, '{0,amount_fen}', '1')")
    report = verify(session)
    assert not report.ok
    assert any("period_archive" in p and "changed" in p for p in report.problems)
    assert any("benefit expense" in p for p in report.problems)


def test_an_open_or_unsettled_period_is_refused(
    client: Any, session: Session, tmp_path: Path
) -> None:
    c, batch = _released(client, session)
    asker = principal_of(session, make_user(session, "admin", "440000"))
    admin = principal_of(session, make_user(session, "admin", "440000"))
    with pytest.raises(Conflict, match=f"period {PERIOD} is open"):
        request_archive(session, period=PERIOD, reason="old", principal=asker)
    session.rollback()
    with pytest.raises(Conflict, match=f"period {PERIOD} is open"):
        archive_period(session, period=PERIOD, out_dir=tmp_path, principal=admin)
    session.rollback()
    _close(session, PERIOD)
    with pytest.raises(Conflict, match="not settled: 6 sent"):
        archive_period(session, period=PERIOD, out_dir=tmp_path, principal=admin)
    session.rollback()
    bank_answers(client, session, c, batch["id"], fail=1)
    with pytest.raises(Conflict, match="1 failed"):
        archive_period(session, period=PERIOD, out_dir=tmp_path, principal=admin)
    session.rollback()
    assert list(tmp_path.iterdir()) == []
    # The database refuses it too, whoever asks.
    with pytest.raises(Exception, match="awaiting reissue"):
        session.execute(text("SELECT lock_period_for_archive(:p)"), {"p": PERIOD})
    session.rollback()
    with pytest.raises(Forbidden):
        request_archive(
            session, period=PERIOD, reason="old", principal=principal_of(session, c.maker)
        )


def test_four_eyes_one_admin_asks_another_archives(
    client: Any, session: Session, tmp_path: Path
) -> None:
    c, batch = _released(client, session)
    bank_answers(client, session, c, batch["id"])
    _close(session, PERIOD)
    asker = principal_of(session, make_user(session, "admin", "440000"))
    with pytest.raises(Conflict, match="nobody asked"):
        archive_period(session, period=PERIOD, out_dir=tmp_path, principal=asker)
    session.rollback()
    request_archive(session, period=PERIOD, reason="归档", principal=asker)
    session.commit()
    with pytest.raises(Conflict, match="the admin who asked cannot archive"):
        archive_period(session, period=PERIOD, out_dir=tmp_path, principal=asker)
    session.rollback()
    elsewhere = principal_of(session, make_user(session, "admin", "440100"))
    with pytest.raises(Conflict, match="four eyes"):
        archive_period(session, period=PERIOD, out_dir=tmp_path, principal=elsewhere)
    session.rollback()
    assert list(tmp_path.iterdir()) == []
    # The database refuses a record whose archiver is the one who asked.
    with pytest.raises(Exception, match="period_archive_maker_checker"):
        session.execute(
            text(
                "INSERT INTO period_archive (period, request_id, approved_by, archived_by, "
                "payout_count, event_count, files, batches, totals, kept_as) SELECT period, id, "
                "requested_by, 'x', 0, 0, '[]', '[]', '[]', 'x' FROM period_archive_request"
            )
        )
    session.rollback()
    second = principal_of(session, make_user(session, "admin", "440000"))
    done = archive_period(session, period=PERIOD, out_dir=tmp_path, principal=second)
    session.commit()
    assert done.archived_by == second.username and done.payout_count == 6


def test_no_batch_is_built_for_an_archived_period(
    archived: dict[str, Any], session: Session
) -> None:
    with pytest.raises(Exception, match=f"period {PERIOD} is archived"):
        session.execute(
            text(
                "INSERT INTO payment_batch (county_code, fund_code, period, bank_code, created_by) "
                "SELECT county_code, fund_code, period, bank_code, 'x' FROM payment_batch LIMIT 1"
            )
        )
    session.rollback()


def _ledger(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"LEDGER_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "ledger", *args], env=env, capture_output=True, text=True
    )


def test_cli_archives_and_verifies(
    client: Any, session: Session, db_url: str, tmp_path: Path
) -> None:
    c, batch = _released(client, session)
    bank_answers(client, session, c, batch["id"])
    _close(session, PERIOD)
    asker = make_user(session, "admin", "440000")
    admin = make_user(session, "admin", "440000")
    asked = _ledger(
        db_url,
        "--as",
        asker.username,
        "periods",
        "archive-request",
        PERIOD,
        "--reason",
        "归档",
        "--json",
    )
    assert asked.returncode == 0, asked.stderr + asked.stdout
    out = tmp_path / "arch"
    done = _ledger(
        db_url, "--as", admin.username, "periods", "archive", PERIOD, "--out", str(out), "--json"
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert json.loads(done.stdout)["payout_count"] == 6
    checked = _ledger(db_url, "verify", "--archive", str(out), "--json")
    assert checked.returncode == 0, checked.stdout
    assert json.loads(checked.stdout)["periods"]["archived"] == [PERIOD]
    shown = _ledger(db_url, "verify")
    assert f"{PERIOD} (by digests)" in shown.stdout, shown.stdout
    again = _ledger(
        db_url,
        "--as",
        admin.username,
        "periods",
        "archive",
        PERIOD,
        "--out",
        str(tmp_path / "again"),
    )
    assert again.returncode != 0 and "already archived" in again.stdout + again.stderr


def test_a_batch_across_periods_is_recomputed_from_archived_and_live_lines(
    client: Any, session: Session, tmp_path: Path, owner_url: str
) -> None:
    c, first = _released(client, session)
    bank_answers(client, session, c, first["id"], fail=1)
    failed = session.execute(
        text("SELECT id FROM payout WHERE batch_id = :b AND state = 'failed'"), {"b": first["id"]}
    ).scalar_one()
    # The reissue keeps its period (202403) in April's batch.
    _, april = _released(client, session, period="202404", c=c, reissue=[failed])
    bank_answers(client, session, c, april["id"])
    _close(session, PERIOD)
    done = archive_period(session, period=PERIOD, out_dir=tmp_path, principal=_admin(session))
    session.commit()
    assert {b["batch_id"]: b["lines"] for b in done.batches} == {first["id"]: 6, april["id"]: 1}
    for archive_dir in (None, tmp_path):
        report = verify(session, archive_dir=archive_dir)
        assert report.ok, report.problems
        assert report.periods_live == ["202404"] and report.periods_archived == [PERIOD]
    # A live line of the batch is still checked line by line, with or without the files.
    with psycopg.connect(owner_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE payout SET amount_fen = amount_fen + 1 WHERE batch_id = %s AND seq = 2",
            (april["id"],),
        )
    assert any(f"batch {april['id']}, line 2" in p for p in verify(session).problems)
    with_files = verify(session, archive_dir=tmp_path)
    assert any(
        f"batch {april['id']}: its archived and live lines" in p for p in with_files.problems
    )
