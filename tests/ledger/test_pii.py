from hypothesis import given
from hypothesis import strategies as st

from ledger.pii import decrypt, encrypt, mask_account, mask_id_number, person_key


def test_person_key_is_keyed_normalised_and_not_the_number() -> None:
    k = person_key("44010319800101001x")
    assert k == person_key(" 44010319800101001X ")
    assert len(k) == 64 and "440103" not in k
    assert k != person_key("440103198001010028")


@given(st.text(min_size=1, max_size=40))
def test_encryption_round_trips_and_hides_the_value(value: str) -> None:
    token = encrypt(value)
    assert decrypt(token) == value
    if len(value) >= 4:
        assert value not in token


def test_masks() -> None:
    assert mask_account("6222021234567890123") == "*" * 15 + "0123"
    assert mask_id_number("44010319800101001X") == "4" + "*" * 16 + "X"


@given(st.text(max_size=40) | st.from_regex(r"[0-9０-９ \-　]{0,30}", fullmatch=True))
def test_keys_are_the_hmac_of_the_normalised_text(value: str) -> None:
    """The keys are HMAC-SHA256 of the normalised text (NFKC, spaces and dashes dropped for an
    account; stripped and upper-cased for an ID number), whatever the fast path takes."""
    import hashlib
    import hmac
    import re
    import unicodedata

    from ledger import pii

    account = re.sub(r"[\s-]", "", unicodedata.normalize("NFKC", value))
    assert pii.normalise_account(value) == account
    expected = hmac.new(pii._account_hash_key(), account.encode(), hashlib.sha256).hexdigest()
    assert pii.account_key(value) == expected
    id_number = value.strip().upper().encode()
    assert person_key(value) == hmac.new(pii._hash_key(), id_number, hashlib.sha256).hexdigest()
