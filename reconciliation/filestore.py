"""A bank file as received: stored encrypted chunk by chunk as it streams, and read back.

Each chunk of ``CHUNK_BYTES`` is sealed with AES-GCM (``ledger.pii.encrypt_chunk``) bound to
the file, its index and whether it is the last, so the file reads back byte for byte or not at
all. Files stored before chunking hold one Fernet value in ``bank_file.content``
(``content_format`` fernet) and read back the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.errors import NotFound
from ledger.filebytes import ByteSource
from ledger.pii import ChunkRefused, decrypt_bytes, decrypt_chunk, encrypt_chunk

CHUNK_BYTES = 1 << 20
FERNET = "fernet"
CHUNKED = "aesgcm_chunks"


def _owner(file_id: int) -> str:
    return f"bank_file:{file_id}"


def store_chunks(session: Session, *, file_id: int, source: ByteSource) -> None:
    """Write the file's chunks, one piece read at a time (the ``bank_file`` row follows in the
    same transaction: the foreign key is checked at commit)."""
    pieces = source.pieces(CHUNK_BYTES)
    current = next(pieces, b"")
    idx = 0
    while True:
        following = next(pieces, None)
        nonce, sealed = encrypt_chunk(
            current, owner=_owner(file_id), idx=idx, last=following is None
        )
        session.execute(
            text(
                "INSERT INTO bank_file_chunk (bank_file_id, idx, nonce, ciphertext) "
                "VALUES (:f, :i, :n, :c)"
            ),
            {"f": file_id, "i": idx, "n": nonce, "c": sealed},
        )
        if following is None:
            return
        current, idx = following, idx + 1


def stored_bytes(session: Session, *, file_id: int) -> Iterator[bytes]:
    """The file as it was received, a chunk at a time; ChunkRefused when a chunk was changed,
    moved, swapped or dropped, or the bytes are not the file whose SHA-256 the row records."""
    row = session.execute(
        text("SELECT content_format, content, sha256, size_bytes FROM bank_file WHERE id = :f"),
        {"f": file_id},
    ).first()
    if row is None:
        raise NotFound(f"bank file {file_id} does not exist")
    digest = hashlib.sha256()
    size = 0
    if row.content_format == FERNET:
        chunks: Iterator[bytes] = iter([decrypt_bytes(bytes(row.content))])
    else:
        chunks = _chunks(session, file_id)
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
        yield chunk
    if size != row.size_bytes or digest.hexdigest() != row.sha256:
        raise ChunkRefused(
            f"bank file {file_id} reads back as {size} bytes that are not the file received "
            f"({row.size_bytes} bytes, SHA-256 {row.sha256})"
        )


def _chunks(session: Session, file_id: int) -> Iterator[bytes]:
    idx = 0
    while True:
        chunk = session.execute(
            text(
                "SELECT nonce, ciphertext, EXISTS (SELECT 1 FROM bank_file_chunk n "
                "WHERE n.bank_file_id = c.bank_file_id AND n.idx = c.idx + 1) AS more "
                "FROM bank_file_chunk c WHERE c.bank_file_id = :f AND c.idx = :i"
            ),
            {"f": file_id, "i": idx},
        ).first()
        if chunk is None:
            raise ChunkRefused(f"chunk {idx} of {_owner(file_id)} is missing")
        yield decrypt_chunk(
            bytes(chunk.nonce),
            bytes(chunk.ciphertext),
            owner=_owner(file_id),
            idx=idx,
            last=not chunk.more,
        )
        if not chunk.more:
            return
        idx += 1
