"""Personal identifiers as the database may hold them: a keyed hash and a masked form.

The ID number (公民身份号码) itself never reaches the database: ``person_key`` lets rosters,
registers and payouts match a person without revealing them.
"""

from __future__ import annotations

import hashlib
import hmac

from ledger.config import get_settings


def person_key(id_number: str) -> str:
    """HMAC-SHA256 of the normalised ID number under the deployment's secret key."""
    key = get_settings().secret_key.encode()
    return hmac.new(key, id_number.strip().upper().encode(), hashlib.sha256).hexdigest()


def mask_id(id_number: str) -> str:
    """``440103********123X``: the area code and the last four characters only."""
    return id_number[:6] + "*" * max(0, len(id_number) - 10) + id_number[-4:]
