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
