"""Payout references: unique per attempt, 10 characters of [0-9A-Z] (fits the narrowest remark).

Nine base-36 digits of a database sequence and a check character. The database computes them
(``payout_reference()``, one SQL expression since migration 0025); this is the same rule for
checking one by hand.
"""

from __future__ import annotations

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Every weight is prime to 36, so a single wrong character always changes the check character.
WEIGHTS = (1, 5, 7, 11, 13, 17, 19, 23, 25)
LIMIT = 36**9


def reference_for(n: int) -> str:
    if not 0 <= n < LIMIT:
        raise ValueError(f"reference number {n} out of range")
    digits = []
    for _ in range(9):
        n, d = divmod(n, 36)
        digits.append(d)
    digits.reverse()
    check = sum(d * w for d, w in zip(digits, WEIGHTS, strict=True)) % 36
    return "".join(ALPHABET[d] for d in digits) + ALPHABET[check]


def reference_is_valid(reference: str) -> bool:
    if len(reference) != 10 or any(c not in ALPHABET for c in reference):
        return False
    return reference_for(int(reference[:9], 36)) == reference
