"""Personal data at rest: a keyed hash to match on, encryption for the few who need it in full,
and masks for everyone else. A database dump alone reveals no ID or account number.

Masks (one masked character per hidden character, so the column width stays honest):

* names: keep the first character; two characters → ``张*``; three or more keep the first and
  the last (``李*明``), except a known compound surname, which is kept whole while the given
  name is hidden entirely (``欧阳**``, ``欧阳*``). A one-character name is returned as is: it
  is no more than a surname. A name already containing ``*`` may come back unchanged. The same
  rule in SQL (``MASK_NAME_SQL``) lets the database commit to a line as it is printed.
* bank accounts: only the last four characters stay (``***************1234``).
* ID numbers (居民身份证号码): the first and the last character stay. The first six digits
  are the issuing county and digits 7–14 the birth date; together with a name and a village
  they identify a person, so neither is shown.
"""

from __future__ import annotations

import base64
import hmac
import os
import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ledger.config import get_settings


def _derive(purpose: bytes) -> bytes:
    secret = get_settings().secret_key.encode()
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"gd-assistance-ledger", info=purpose
    ).derive(secret)


@lru_cache
def _hash_key() -> bytes:
    return _derive(b"person-key")


@lru_cache
def _account_hash_key() -> bytes:
    # Its own purpose: an account key never equals the person key of the same digits.
    return _derive(b"account-key")


@lru_cache
def _fernet() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(_derive(b"field-encryption")))


def person_key(id_number: str) -> str:
    """HMAC-SHA256 of a normalised ID number: equal people match, nobody can reverse it."""
    normalised = id_number.strip().upper()
    return hmac.digest(_hash_key(), normalised.encode(), "sha256").hex()


_ACCOUNT_DROP = re.compile(r"[\s-]")


def normalise_account(account: str) -> str:
    """The account as banks compare it: full-width digits folded, spaces and dashes dropped."""
    if account.isascii():  # ASCII is its own NFKC form; digits alone have nothing to drop
        return account if account.isalnum() else _ACCOUNT_DROP.sub("", account)
    return _ACCOUNT_DROP.sub("", unicodedata.normalize("NFKC", account))


def account_key(account: str) -> str:
    """HMAC-SHA256 of a normalised bank account: matches return lines and shared accounts.
    (``hmac.digest`` is the one-call form of ``hmac.new(...).hexdigest()``: a return file
    hashes one key per line.)"""
    return hmac.digest(_account_hash_key(), normalise_account(account).encode(), "sha256").hex()


class StoredAccount(NamedTuple):
    """A bank account as it is kept: the key to match on, the ciphertext, the mask to show."""

    key: str
    enc: str
    masked: str


def store_account(account: str) -> StoredAccount:
    normalised = normalise_account(account)
    return StoredAccount(account_key(normalised), encrypt(normalised), mask_account(normalised))


def encrypt(value: str) -> str:
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    return _fernet().decrypt(token.encode()).decode()


def encrypt_bytes(value: bytes) -> bytes:
    return _fernet().encrypt(value)


def decrypt_bytes(token: bytes) -> bytes:
    return _fernet().decrypt(token)


class ChunkRefused(ValueError):
    """A stored chunk does not decrypt as the chunk it is read as: changed, moved or swapped."""


@lru_cache
def _chunk_aead() -> AESGCM:
    return AESGCM(_derive(b"file-chunk-encryption"))


def _chunk_context(owner: str, idx: int, last: bool) -> bytes:
    # Bound to the chunk's place: another file's chunk, another index, or a chunk that was the
    # last one standing in for a middle one (a truncated file) fails authentication.
    return f"{owner}\x1f{idx}\x1f{'last' if last else 'more'}".encode()


def encrypt_chunk(plain: bytes, *, owner: str, idx: int, last: bool) -> tuple[bytes, bytes]:
    """(nonce, ciphertext) of one chunk of a stored file: AES-256-GCM under a key of its own
    purpose, a fresh 96-bit nonce, and ``owner`` (e.g. ``bank_file:42``), the index and whether
    it is the last chunk as associated data."""
    nonce = os.urandom(12)
    return nonce, _chunk_aead().encrypt(nonce, plain, _chunk_context(owner, idx, last))


def decrypt_chunk(nonce: bytes, ciphertext: bytes, *, owner: str, idx: int, last: bool) -> bytes:
    """The chunk's bytes, or ChunkRefused when it is not chunk ``idx`` of ``owner``."""
    try:
        return _chunk_aead().decrypt(nonce, ciphertext, _chunk_context(owner, idx, last))
    except InvalidTag:
        raise ChunkRefused(
            f"chunk {idx} of {owner} does not decrypt: it was changed, reordered or taken from "
            "another file"
        ) from None


MASK = "*"


def mask_account(account: str) -> str:
    """Keep the last four characters of a bank account; four or fewer are hidden entirely."""
    if len(account) <= 4:
        return MASK * len(account)
    return MASK * (len(account) - 4) + account[-4:]


def mask_id_number(id_number: str) -> str:
    """Keep the first and last character of an ID number (4****************X)."""
    if len(id_number) <= 2:
        return MASK * len(id_number)
    return id_number[0] + MASK * (len(id_number) - 2) + id_number[-1]


COMPOUND_SURNAMES: frozenset[str] = frozenset(
    {
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙",
        "慕容", "长孙", "宇文", "司徒", "夏侯", "令狐",
    }
)  # fmt: skip


def mask_name(name: str) -> str:
    """Mask a person's name for public disclosure (张三 → 张*, 李小明 → 李*明, 欧阳小明 → 欧阳**)."""
    n = len(name)
    if n <= 1:
        return name
    if n == 2:
        return name[0] + MASK
    if name[:2] in COMPOUND_SURNAMES:
        return name[:2] + MASK * (n - 2)
    return name[0] + MASK * (n - 2) + name[-1]


def _sql_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


MASK_NAME_SQL = (
    "CREATE OR REPLACE FUNCTION mask_name(name text) RETURNS text LANGUAGE sql IMMUTABLE "
    "PARALLEL SAFE AS $$ SELECT CASE WHEN length(name) <= 1 THEN name "
    f"WHEN length(name) = 2 THEN left(name, 1) || '{MASK}' "
    "WHEN left(name, 2) = ANY(ARRAY["
    + ", ".join(_sql_literal(s) for s in sorted(COMPOUND_SURNAMES))
    + f"]) THEN left(name, 2) || repeat('{MASK}', length(name) - 2) "
    f"ELSE left(name, 1) || repeat('{MASK}', length(name) - 2) || right(name, 1) END $$"
)
"""``mask_name`` as a SQL function of the same name, for the payout guard (see ledger.payouts)."""
