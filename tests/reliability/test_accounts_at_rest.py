"""Bank account numbers at rest: after a roster import, a released batch and a return file, a
plain dump of the database holds no account number and no ID number, while the bank's
instruction files still carry the full numbers and return lines still match by account."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.journal.verify import verify
from ledger.pii import (
    account_key,
    decrypt,
    encrypt,
    mask_account,
    person_key,
    store_account,
)
from reconciliation.filestore import stored_bytes
from reconciliation.simulate import SimLine, write_csv_return
from tests.reliability.test_secrets import _plain_dump
from tests.roster.helpers import County, build, county, csv_of, release, rows, upload


def _released(client: Any, session: Session, n: int) -> tuple[County, list[Any], dict[str, Any]]:
    c = county(session)
    roster = rows(c.code, n)
    assert upload(client, c, csv_of(roster)).status_code == 201
    batch = build(client, c).json()
    findings = client.get(f"/batches/{batch['id']}/findings", headers=c.maker.headers).json()
    for rule in {f["rule"] for f in findings if f["severity"] == "warning"}:
        reply = client.post(
            f"/batches/{batch['id']}/acknowledgements",
            headers=c.maker.write(),
            json={"rule": rule, "reason": "已入户核实"},
        )
        assert reply.status_code == 200, reply.text
    reply = release(client, c, batch["id"])
    assert reply.status_code == 200, reply.text
    return c, roster, batch


def _instruction_rows(client: Any, c: County, batch_id: int) -> list[list[str]]:
    reply = client.get(f"/batches/{batch_id}/instructions.csv", headers=c.bank.headers)
    assert reply.status_code == 200, reply.text
    return list(csv.reader(io.StringIO(reply.content.decode())))[1:-1]


def test_a_dump_after_a_month_holds_no_account_and_no_id_number(
    client: Any, session: Session, db_url: str, tmp_path: Path
) -> None:
    c, roster, batch = _released(client, session, n=8)
    accounts = {r.account_no for r in roster}
    ids = {r.id_number for r in roster}

    # The bank's files carry the full numbers, decrypted for them alone.
    body = _instruction_rows(client, c, batch["id"])
    assert {row[1] for row in body} == accounts
    xml = client.get(f"/batches/{batch['id']}/instructions.xml", headers=c.bank.headers).text
    assert all(a in xml for a in accounts)

    # The bank answers without references or 序号 for three lines: they match by account
    # (written with spaces, as banks do), name and amount. One line names a stranger's account.
    by_account = {3, 5, 7}
    lines = []
    for row in body:
        seq, account, name, amount, ref = int(row[0]), row[1], row[2], row[3], row[4]
        fen = int(Decimal(amount) * 100)
        if seq in by_account:
            spaced = " ".join(account[i : i + 4] for i in range(0, len(account), 4))
            lines.append(SimLine(None, None, spaced, name, fen, "paid"))
        elif seq == 8:
            lines.append(
                SimLine(None, None, "6222000011112222", name + "某", fen, "failed", "户名不符")
            )
        else:
            lines.append(SimLine(seq, ref, account, name, fen, "paid"))
    reply = client.post(
        "/bank-files",
        content=write_csv_return(lines),
        headers=c.bank.write(),
        params={"filename": "hp.csv", "batch_id": batch["id"]},
    )
    assert reply.status_code == 201, reply.text
    assert reply.json()["counts"]["paid"] == 7
    states = dict(
        session.execute(
            text("SELECT seq, state FROM payout WHERE batch_id = :b"), {"b": batch["id"]}
        ).all()
    )
    assert all(states[s] == "paid" for s in by_account)
    shown = session.execute(text("SELECT account FROM recon_exception")).scalars().all()
    assert shown == [mask_account("6222000011112222")]
    file_id = session.execute(text("SELECT id FROM bank_file")).scalar_one()
    stored = b"".join(stored_bytes(session, file_id=file_id))
    assert "户名不符".encode("gbk") in stored
    chunks = session.execute(text("SELECT ciphertext FROM bank_file_chunk")).scalars().all()
    assert chunks and not any("户名不符".encode("gbk") in bytes(c) for c in chunks)

    # The API shows masks; the roster and payouts hold key, ciphertext and mask only.
    listed = client.get(
        f"/counties/{c.code}/roster", headers=c.maker.headers, params={"period": "202403"}
    ).json()
    assert {r["account_masked"] for r in listed} == {mask_account(a) for a in accounts}
    assert verify(session).ok

    dump = _plain_dump(db_url, tmp_path / "dump.sql")
    leaked = [a for a in accounts | {"6222000011112222"} if a in dump]
    leaked += [i for i in ids if i in dump or i.lower() in dump]
    assert not leaked, leaked
    assert all(account_key(a) in dump and mask_account(a) in dump for a in accounts)


def test_a_swapped_ciphertext_is_refused_at_the_instruction_file(
    client: Any, session: Session, db_url: str
) -> None:
    c, _, batch = _released(client, session, n=3)
    # Someone with database access points line 2 at an account of their own, leaving its key.
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("SET session_replication_role = replica")  # disables the triggers
        conn.execute(
            "UPDATE payout SET account_enc = %s WHERE batch_id = %s AND seq = 2",
            (encrypt("6222000099998888"), batch["id"]),
        )
    for kind in ("csv", "xml"):
        reply = client.get(f"/batches/{batch['id']}/instructions.{kind}", headers=c.bank.headers)
        assert reply.status_code == 409, reply.text
        assert f"batch {batch['id']}, line 2" in reply.json()["error"]["message"]
        assert "6222000099998888" not in reply.text


def test_a_changed_account_key_is_named_by_verify(
    client: Any, session: Session, db_url: str
) -> None:
    _, _, batch = _released(client, session, n=3)
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE payout SET account_key = %s WHERE batch_id = %s AND seq = 3",
            (account_key("6222000099998888"), batch["id"]),
        )
    report = verify(session)
    assert any(f"batch {batch['id']}, line 3" in p for p in report.problems), report.problems


digits = st.text(alphabet="0123456789", min_size=12, max_size=19)


@given(account=digits, cut=st.integers(0, 19))
def test_an_account_keys_alike_however_the_bank_writes_it(account: str, cut: int) -> None:
    wide = account.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    spaced = account[:cut] + " " + account[cut:] + "\t"
    assert account_key(wide) == account_key(spaced) == account_key(account)
    stored = store_account(spaced)
    assert stored.key == account_key(account)
    assert decrypt(stored.enc) == account
    assert stored.masked == mask_account(account) and stored.masked.endswith(account[-4:])
    # Its own purpose: the same digits never give the person key, nor appear in the key.
    assert stored.key != person_key(account) and account not in stored.key + stored.enc


@given(a=digits, b=digits)
def test_different_accounts_have_different_keys(a: str, b: str) -> None:
    assert (account_key(a) == account_key(b)) == (a == b)
