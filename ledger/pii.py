"""Personal data at rest: a keyed hash to match on, encryption for the few who need it in full,
and masks for everyone else. A database dump alone reveals no ID or account number."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from functools import lru_cache
from typing import NamedTuple

from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
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
    return hmac.new(_hash_key(), normalised.encode(), hashlib.sha256).hexdigest()


def normalise_account(account: str) -> str:
    """The account as banks compare it: full-width digits folded, spaces and dashes dropped."""
    return re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", account))


def account_key(account: str) -> str:
    """HMAC-SHA256 of a normalised bank account: matches return lines and shared accounts."""
    normalised = normalise_account(account)
    return hmac.new(_account_hash_key(), normalised.encode(), hashlib.sha256).hexdigest()


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
