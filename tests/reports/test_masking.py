from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ledger.pii import mask_account, mask_id_number, mask_name


def test_two_character_name_keeps_the_surname() -> None:
    assert mask_name("张三") == "张*"


def test_three_character_name_keeps_first_and_last() -> None:
    assert mask_name("李小明") == "李*明"


def test_compound_surname_is_kept_and_given_name_hidden() -> None:
    assert mask_name("欧阳小明") == "欧阳**"
    assert mask_name("欧阳明") == "欧阳*"
    assert mask_name("司马相如") == "司马**"


def test_compound_surname_alone_is_treated_as_a_two_character_name() -> None:
    assert mask_name("欧阳") == "欧*"


def test_single_character_is_returned_as_is() -> None:
    assert mask_name("张") == "张"
    assert mask_name("") == ""


def test_long_names_mask_every_middle_character() -> None:
    assert mask_name("王小二明") == "王**明"
    assert mask_name("阿卜杜热合曼") == "阿****曼"


# A name never contains '*'; an already masked string is a fixed point and is excluded.
names = st.text(alphabet=st.characters(blacklist_characters="*"), min_size=2, max_size=12)


@given(names)
def test_mask_changes_the_name_keeps_first_char_and_length(name: str) -> None:
    masked = mask_name(name)
    assert masked != name
    assert masked[0] == name[0]
    assert len(masked) == len(name)


@given(names)
def test_mask_is_idempotent(name: str) -> None:
    assert mask_name(mask_name(name)) == mask_name(name)


def test_account_keeps_last_four() -> None:
    assert mask_account("6222021234567890123") == "*" * 15 + "0123"
    assert mask_account("1234") == "****"


def test_id_number_keeps_first_and_last() -> None:
    assert mask_id_number("44010319800101123X") == "4" + "*" * 16 + "X"
    assert mask_id_number("12") == "**"
