"""Masked views of personal data for documents the public or a wider audience reads.

Rules (one masked character per hidden character, so the column width stays honest):

* names: keep the first character; two characters → ``张*``; three or more keep the first and
  the last (``李*明``), except a known compound surname, which is kept whole while the given
  name is hidden entirely (``欧阳**``, ``欧阳*``). A one-character name is returned as is: it
  is no more than a surname. A name already containing ``*`` may come back unchanged.
* bank accounts: only the last four characters stay (``***************1234``).
* ID numbers (居民身份证号码): the first and the last character stay. The first six digits
  are the issuing county and digits 7–14 the birth date; together with a name and a village
  they identify a person, so neither is shown.
"""

from __future__ import annotations

from ledger.pii import MASK, mask_account, mask_id_number

__all__ = ["COMPOUND_SURNAMES", "mask_account", "mask_id_number", "mask_name"]

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
