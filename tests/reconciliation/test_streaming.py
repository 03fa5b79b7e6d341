"""Return files read in pieces and stored as AES-GCM chunks: the bytes come back exactly, a
changed, moved, swapped or dropped chunk is refused, files stored whole with Fernet still read,
and decoding in pieces gives the lines decoding whole gives, wherever the pieces are cut."""

from __future__ import annotations

import io
import itertools
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

import ledger.main  # noqa: F401  (mounts the evidence checks)
from ledger import filebytes
from ledger.filebytes import ByteSource, first_bad_byte
from ledger.journal.verify import verify
from ledger.pii import ChunkRefused, encrypt_bytes
from reconciliation import filestore
from reconciliation.filestore import stored_bytes
from reconciliation.parsers import format_fen
from reconciliation.parsers.csv_return import stream_physical_lines, text_pieces
from reconciliation.service import import_bank_file
from reconciliation.simulate import write_csv_return
from tests.factories import make_user
from tests.reconciliation.batches import released_batch


def _owner_sql(db_url: str, sql: str, params: tuple[Any, ...] = ()) -> None:
    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute("SET session_replication_role = replica")  # the append-only triggers off
        conn.execute(sql, params)


def _imported(session: Session, *, period: str = "202601") -> tuple[int, bytes]:
    batch = released_batch(session, n=12, period=period)
    data = write_csv_return(batch.sim({2: "已销户"}))
    done = import_bank_file(session, data=data, uploaded_by="bank", bank_code="ICBCGD")
    session.commit()
    return int(done["file_id"]), data


def _chunks(session: Session, file_id: int) -> int:
    return int(
        session.execute(
            text("SELECT count(*) FROM bank_file_chunk WHERE bank_file_id = :f"), {"f": file_id}
        ).scalar_one()
    )


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(filestore, "CHUNK_BYTES", 97)  # odd: cuts GBK characters in two
    return 97


def test_a_multi_chunk_file_reads_back_byte_for_byte(session: Session, small_chunks: int) -> None:
    file_id, data = _imported(session)
    assert _chunks(session, file_id) == -(-len(data) // small_chunks) > 3
    assert b"".join(stored_bytes(session, file_id=file_id)) == data
    fmt = session.execute(
        text("SELECT content_format, content FROM bank_file WHERE id = :f"), {"f": file_id}
    ).one()
    assert (fmt.content_format, fmt.content) == ("aesgcm_chunks", None)
    assert verify(session).ok


def test_a_file_imported_from_a_stream_is_the_same_file(session: Session) -> None:
    batch = released_batch(session, n=5)
    data = write_csv_return(batch.sim({3: "户名不符"}))
    done = import_bank_file(session, data=io.BytesIO(data), uploaded_by="bank", bank_code="ICBCGD")
    session.commit()
    assert (done["counts"]["paid"], done["counts"]["failed"]) == (4, 1)
    assert b"".join(stored_bytes(session, file_id=done["file_id"])) == data
    again = import_bank_file(session, data=data, uploaded_by="bank", bank_code="ICBCGD")
    assert again["replayed"] and again["file_id"] == done["file_id"]


def test_a_changed_chunk_is_refused(session: Session, db_url: str, small_chunks: int) -> None:
    file_id, _ = _imported(session)
    _owner_sql(
        db_url,
        "UPDATE bank_file_chunk SET ciphertext = overlay(ciphertext placing "
        "decode(lpad(to_hex(get_byte(ciphertext, 5) # 1), 2, '0'), 'hex') from 6 for 1) "
        "WHERE bank_file_id = %s AND idx = 2",
        (file_id,),
    )
    with pytest.raises(ChunkRefused, match=f"chunk 2 of bank_file:{file_id} does not decrypt"):
        b"".join(stored_bytes(session, file_id=file_id))
    session.rollback()
    assert f"bank_file {file_id} was changed since it was written" in verify(session).problems


def test_reordered_chunks_are_refused(session: Session, db_url: str, small_chunks: int) -> None:
    file_id, _ = _imported(session)
    _owner_sql(
        db_url,
        # chunks 1 and 2 trade places
        "UPDATE bank_file_chunk t SET nonce = o.nonce, ciphertext = o.ciphertext "
        "FROM bank_file_chunk o WHERE t.bank_file_id = %s AND o.bank_file_id = t.bank_file_id "
        "AND t.idx IN (1, 2) AND o.idx = 3 - t.idx",
        (file_id,),
    )
    with pytest.raises(ChunkRefused, match="changed, reordered or taken from another file"):
        b"".join(stored_bytes(session, file_id=file_id))


def test_a_chunk_of_another_file_is_refused(
    session: Session, db_url: str, small_chunks: int
) -> None:
    first, _ = _imported(session, period="202601")
    second, _ = _imported(session, period="202602")
    _owner_sql(
        db_url,
        "UPDATE bank_file_chunk t SET nonce = o.nonce, ciphertext = o.ciphertext "
        "FROM bank_file_chunk o WHERE t.bank_file_id = %s AND t.idx = 0 "
        "AND o.bank_file_id = %s AND o.idx = 0",
        (second, first),
    )
    with pytest.raises(ChunkRefused, match=f"chunk 0 of bank_file:{second} does not decrypt"):
        next(stored_bytes(session, file_id=second))
    assert b"".join(stored_bytes(session, file_id=first))  # the original still reads


def test_a_file_cut_short_is_refused(session: Session, db_url: str, small_chunks: int) -> None:
    file_id, _ = _imported(session)
    last = _chunks(session, file_id) - 1
    _owner_sql(
        db_url,
        "DELETE FROM bank_file_chunk WHERE bank_file_id = %s AND idx = %s",
        (file_id, last),
    )
    # The chunk before the dropped one was sealed as "more to come": it cannot pass as the last.
    with pytest.raises(ChunkRefused, match=f"chunk {last - 1} of bank_file:{file_id}"):
        b"".join(stored_bytes(session, file_id=file_id))


def test_a_file_stored_whole_with_fernet_still_reads(session: Session, db_url: str) -> None:
    """A row as the import wrote it before chunking: one Fernet value, no chunks; its evidence
    digest is still the one the chain recorded then."""
    file_id, data = _imported(session)
    _owner_sql(db_url, "DELETE FROM bank_file_chunk WHERE bank_file_id = %s", (file_id,))
    _owner_sql(
        db_url,
        "UPDATE bank_file SET content_format = 'fernet', content = %s WHERE id = %s",
        (encrypt_bytes(data), file_id),
    )
    assert b"".join(stored_bytes(session, file_id=file_id)) == data
    same = session.execute(
        text(
            "SELECT bank_file_evidence_digest(r) = encode(sha256(convert_to(concat_ws(chr(31), "
            "r.id::text, r.sha256, encode(sha256(r.content), 'hex'), r.size_bytes::text, r.kind, "
            "r.bank_code, coalesce(r.batch_id::text, ''), coalesce(r.county_code, ''), "
            "coalesce(r.fund_code, ''), r.filename, r.uploaded_by, to_char(r.uploaded_at AT TIME "
            "ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), r.status, r.line_count::text, "
            "r.total_fen::text, r.counts::text, encode(sha256(convert_to(r.result::text, "
            "'UTF8')), 'hex')), 'UTF8')), 'hex') FROM bank_file r WHERE r.id = :f"
        ),
        {"f": file_id},
    ).scalar_one()
    assert same


def test_a_refused_upload_stores_nothing(client: Any, session: Session) -> None:
    batch = released_batch(session, n=6)
    bank = make_user(session, "bank", "440000", bank="ICBCGD")
    lines = list(batch.sim())
    amount = format_fen(lines[3].amount_fen).encode()
    bad = write_csv_return(lines).replace(amount, amount.replace(b"2", b"x", 1), 1)
    assert bad != write_csv_return(lines)
    reply = client.post("/bank-files", content=bad, headers=bank.write())
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["details"][0]["field"] == "金额"
    counts = session.execute(
        text("SELECT (SELECT count(*) FROM bank_file), (SELECT count(*) FROM bank_file_chunk)")
    ).one()
    assert tuple(counts) == (0, 0)


# ---- decoding in pieces ----------------------------------------------------------------------

_TEXT = st.lists(
    st.sampled_from([*'ab1,."\r\n\v\x85\u2028 张三李銀行失败€', "\r\n"]), max_size=60
).map("".join)


def _cuts(data: bytes, draw: Any) -> list[bytes]:
    points = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=400, deadline=None)
@given(text_=_TEXT, encoding=st.sampled_from(["gbk", "gb18030", "utf-8"]), data=st.data())
def test_any_split_decodes_to_the_lines_of_the_whole(text_: str, encoding: str, data: Any) -> None:
    """Cut the bytes anywhere (inside a two-byte GBK character, between \\r and \\n): the lines
    are those of decoding the whole and reading it as the csv module would."""
    raw = text_.encode("gb18030" if encoding == "gbk" else encoding, errors="ignore")
    whole = raw.decode(encoding, errors="ignore")
    raw = whole.encode(encoding)
    pieces = _cuts(raw, data.draw)
    got = list(stream_physical_lines(text_pieces(pieces, encoding)))
    assert got == list(io.StringIO(whole, newline=""))


@settings(max_examples=300, deadline=None)
@given(
    raw=st.binary(max_size=40).map(lambda b: "张三,1\n".encode("gbk") + b),
    encoding=st.sampled_from(["utf-8", "gb18030"]),
    data=st.data(),
)
def test_the_first_bad_byte_is_where_decoding_whole_fails(
    raw: bytes, encoding: str, data: Any
) -> None:
    try:
        raw.decode(encoding)
        expected = None
    except UnicodeDecodeError as exc:
        expected = exc.start
    nul = raw.index(b"\x00") if b"\x00" in raw else None
    assert first_bad_byte(_cuts(raw, data.draw), encoding, find_nul=True) == (expected, nul)


@given(lines=st.integers(0, 5), long=st.integers(30, 200))
def test_an_endless_line_is_given_early_so_its_limit_refuses_it(lines: int, long: int) -> None:
    text_ = "a\n" * lines + "x" * long
    pieces = [text_[i : i + 7] for i in range(0, len(text_), 7)]
    got = list(stream_physical_lines(pieces, max_chars=20))
    assert got[:lines] == ["a\n"] * lines and len(got[-1]) > 20 and len(got) == lines + 1


def test_a_source_reads_the_same_from_any_file() -> None:
    data = bytes(range(256)) * 9000
    source = ByteSource(io.BytesIO(data))
    assert b"".join(source.pieces(1000)) == data and source.size == len(data)
    assert source.reader().read() == data
    spooled = ByteSource.spooled(source.pieces(4096))
    assert spooled.sha256 == ByteSource(data).sha256 and b"".join(spooled.pieces()) == data


def test_an_upload_spooled_to_disk_is_stored_as_sent(
    client: Any, session: Session, monkeypatch: pytest.MonkeyPatch, small_chunks: int
) -> None:
    rolled: list[bool] = []
    real_write = filebytes.Spool.write

    def write(spool: filebytes.Spool, piece: bytes) -> None:
        real_write(spool, piece)
        rolled.append(bool(getattr(spool.file, "_rolled", False)))

    monkeypatch.setattr(filebytes, "SPOOL_IN_MEMORY", 256)
    monkeypatch.setattr(filebytes.Spool, "write", write)
    batch = released_batch(session, n=8)
    bank = make_user(session, "bank", "440000", bank="ICBCGD")
    data = write_csv_return(batch.sim({5: "冻结"}))
    assert len(data) > 256
    reply = client.post("/bank-files", content=data, headers=bank.write())
    assert reply.status_code == 201, reply.text
    assert rolled and rolled[-1]  # the body went to disk, not into one bytes object
    file_id = reply.json()["file_id"]
    assert reply.json()["sha256"] == ByteSource(data).sha256
    assert b"".join(stored_bytes(session, file_id=file_id)) == data
