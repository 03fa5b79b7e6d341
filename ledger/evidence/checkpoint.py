"""Signed checkpoints: what the journal and every evidence chain looked like, signed with Ed25519.

Pure: no database, so a checkpoint file can be read and checked anywhere. A checkpoint file is
the JSON of ``Checkpoint.as_dict()``; the signature covers the canonical JSON of every other
field (sorted keys, no spaces, UTF-8) prefixed by ``FORMAT`` and a newline.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

FORMAT = "ledger-checkpoint/1"
MAX_FILE_BYTES = 64 * 1024
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_KIND = re.compile(r"^[a-z_]{1,40}$")


class CheckpointError(ValueError):
    """A checkpoint (or its key) that cannot be read or whose signature does not verify."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ChainHead:
    """The last link of a chain when the checkpoint was made: its sequence number and hash."""

    seq: int
    hash: str


@dataclass(frozen=True)
class Checkpoint:
    tree_size: int
    root: str
    chain_head: str
    signed_at: str
    key_id: str
    public_key: str
    heads: dict[str, ChainHead] = field(default_factory=dict)
    signature: str = ""

    def body(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "tree_size": self.tree_size,
            "root": self.root,
            "chain_head": self.chain_head,
            "signed_at": self.signed_at,
            "key_id": self.key_id,
            "public_key": self.public_key,
            "heads": {k: {"seq": h.seq, "hash": h.hash} for k, h in sorted(self.heads.items())},
        }

    def message(self) -> bytes:
        return signed_message(self.body())

    def as_dict(self) -> dict[str, Any]:
        return {**self.body(), "signature": self.signature}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, indent=2) + "\n"

    def verify_signature(self, trusted_key_id: str | None = None) -> None:
        """The signature is the embedded key's over the body; with ``trusted_key_id``, that key
        must also be the one the reader trusts (an attacker can sign with a key of their own)."""
        raw = _b64(self.public_key, "public_key")
        if len(raw) != 32:
            raise CheckpointError("public_key is not an Ed25519 public key", "public_key")
        if key_id_of(raw) != self.key_id:
            raise CheckpointError("key_id is not the fingerprint of public_key", "key_id")
        if trusted_key_id is not None and self.key_id != trusted_key_id:
            raise CheckpointError(
                f"signed by key {self.key_id}, not by the trusted key {trusted_key_id}", "key_id"
            )
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(
                _b64(self.signature, "signature"), self.message()
            )
        except InvalidSignature:
            raise CheckpointError(
                "the signature does not verify: the checkpoint was changed or signed by another key",
                "signature",
            ) from None


def signed_message(body: dict[str, Any]) -> bytes:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return (FORMAT + "\n" + canonical).encode()


def key_id_of(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def public_raw(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def sign(key: Ed25519PrivateKey, unsigned: Checkpoint) -> Checkpoint:
    signature = base64.b64encode(key.sign(unsigned.message())).decode()
    return Checkpoint(**{**unsigned.__dict__, "signature": signature})


def load_private_key(value: str) -> Ed25519PrivateKey:
    """A 32-byte seed in hex or base64, or the path of a PEM (PKCS#8) or raw 32-byte key file."""
    text = value.strip()
    raw: bytes | None = None
    if re.fullmatch(r"[0-9a-fA-F]{64}", text):
        raw = bytes.fromhex(text)
    elif re.fullmatch(r"[A-Za-z0-9+/]{43}=", text):
        raw = base64.b64decode(text)
    else:
        path = Path(text)
        if not path.is_file():
            raise CheckpointError(
                "the checkpoint key is neither a 32-byte hex or base64 seed nor a key file",
                "LEDGER_CHECKPOINT_KEY",
            )
        data = path.read_bytes()[:MAX_FILE_BYTES]
        if data.lstrip().startswith(b"-----BEGIN"):
            key = serialization.load_pem_private_key(data, password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise CheckpointError("the key file is not an Ed25519 key", "LEDGER_CHECKPOINT_KEY")
            return key
        if len(data) != 32:
            return load_private_key(data.decode("ascii", "replace"))
        raw = data
    return Ed25519PrivateKey.from_private_bytes(raw)


def _b64(value: str, name: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise CheckpointError(f"{name} is not base64", name) from None


def _int(doc: dict[str, Any], name: str) -> int:
    value = doc.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**62:
        raise CheckpointError(f"{name} must be a non-negative integer", name)
    return value


def _hex64(doc: dict[str, Any], name: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not _HEX64.match(value):
        raise CheckpointError(f"{name} must be 64 lowercase hex digits", name)
    return value


def _str(doc: dict[str, Any], name: str) -> str:
    value = doc.get(name)
    if not isinstance(value, str) or not 0 < len(value) <= 200:
        raise CheckpointError(f"{name} must be a non-empty string", name)
    return value


def parse(doc: Any) -> Checkpoint:
    """A checkpoint from its JSON object; every field is checked, the signature is not."""
    if not isinstance(doc, dict):
        raise CheckpointError("a checkpoint is a JSON object")
    if doc.get("format") != FORMAT:
        raise CheckpointError(f"format must be {FORMAT!r}", "format")
    unknown = set(doc) - {*Checkpoint(0, "", "", "", "", "").body(), "signature"}
    if unknown:
        raise CheckpointError(f"unknown field {sorted(unknown)[0]}", sorted(unknown)[0])
    signed_at = _str(doc, "signed_at")
    try:
        datetime.fromisoformat(signed_at)
    except ValueError:
        raise CheckpointError("signed_at is not an ISO 8601 time", "signed_at") from None
    heads_doc = doc.get("heads")
    if not isinstance(heads_doc, dict) or len(heads_doc) > 20:
        raise CheckpointError("heads must be an object of chain heads", "heads")
    heads: dict[str, ChainHead] = {}
    for kind, head in heads_doc.items():
        if not _KIND.match(kind) or not isinstance(head, dict) or set(head) != {"seq", "hash"}:
            raise CheckpointError(f"head {kind!r} must be {{seq, hash}}", f"heads.{kind}")
        heads[kind] = ChainHead(_int(head, "seq"), _hex64(head, "hash"))
    return Checkpoint(
        tree_size=_int(doc, "tree_size"),
        root=_hex64(doc, "root"),
        chain_head=_hex64(doc, "chain_head"),
        signed_at=signed_at,
        key_id=_str(doc, "key_id"),
        public_key=_str(doc, "public_key"),
        heads=heads,
        signature=_str(doc, "signature"),
    )


def loads(text: str | bytes) -> Checkpoint:
    if len(text) > MAX_FILE_BYTES:
        raise CheckpointError(f"a checkpoint file is at most {MAX_FILE_BYTES} bytes")
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"not JSON (truncated?): {exc}") from None
    return parse(doc)


def read_file(path: Path) -> Checkpoint:
    """A checkpoint file read, parsed and its signature checked against its own key."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror}") from None
    checkpoint = loads(data)
    checkpoint.verify_signature()
    return checkpoint
