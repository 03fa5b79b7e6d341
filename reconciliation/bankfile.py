"""The bank file being applied: who sent it, what it is, and the transaction it is applied in.

Every step of an import (staging, matching, posting, applying, or reconciling a statement)
takes a ``BankFile``. It is frozen: the one fact a step may learn — which bank sent the file,
when neither the user nor the caller said — comes back as a new ``BankFile``
(``dataclasses.replace``), never as an attribute set from outside.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.access.service import Principal
from ledger.errors import Forbidden, NotFound, ValidationFailed
from ledger.filebytes import ByteSource
from reconciliation.parsers import Kind

CURRENCY = "CNY"
"""The only currency the books are kept in."""


def new_file_id(session: Session) -> int:
    """The id the file's ``bank_file`` row will take, drawn before anything refers to it."""
    return int(session.execute(text("SELECT nextval('bank_file_id_seq')")).scalar_one())


@dataclass(frozen=True)
class BankFile:
    """One bank file being applied inside one transaction (the caller's unit of work)."""

    session: Session
    file_id: int
    sha: str
    kind: Kind
    source: ByteSource
    bank_code: str | None
    """The bank that sent the file: the uploading bank user's, the caller's, or (once the lines
    are matched) the one the lines' references name; None until known."""
    uploaded_by: str
    filename: str
    principal: Principal | None
    value_date: date | None = None
    """The day the file's settlement entries are dated (the day the bank paid or returned the
    lines); None: today."""

    def execute(self, sql: str, **params: Any) -> Any:
        """Run one statement in the file's transaction."""
        return self.session.execute(text(sql), params)

    def batch(self, batch_id: int) -> Any:
        """The released batch ``batch_id``, refused if it was sent to another bank than the
        file's (when the file's bank is known)."""
        batch = self.execute(
            "SELECT id, county_code, fund_code, bank_code, status, line_count, total_fen "
            "FROM payment_batch WHERE id = :b",
            b=batch_id,
        ).first()
        if batch is None:
            raise NotFound(f"batch {batch_id} does not exist")
        if self.bank_code is not None and batch.bank_code != self.bank_code:
            raise Forbidden(
                f"batch {batch_id} was sent to bank {batch.bank_code}, not {self.bank_code}",
                [{"field": "batch_id", "reason": "another bank's batch"}],
            )
        if batch.status != "released":
            raise ValidationFailed(
                f"batch {batch_id} is {batch.status}: only a released batch can be settled",
                [{"field": "batch_id", "reason": "not released"}],
            )
        return batch
