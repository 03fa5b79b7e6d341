"""Staging a return file: its lines COPYed into the temporary table ``recon_line`` as parsed.

One pass, one round trip: the file is read once, each line written as it comes, account numbers
masked to show and keyed to match (they stay out of the database), progress told every thousand
lines. Then the file's own totals are checked. The later steps read and update ``recon_line``
and take the ``StagedFile`` this step returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from ledger.jobs.models import ProgressFn
from ledger.pii import account_key, mask_account
from reconciliation.bankfile import CURRENCY, BankFile
from reconciliation.parsers import FileRejected, FileSummary, ParsedFile, ReturnLine, check_totals

_STAGE_COLUMNS = (
    "line_no",
    "seq",
    "reference",
    "account",
    "name",
    "amount_fen",
    "outcome",
    "reason",
    "raw_code",
    "raw_text",
    "account_key",
)


@dataclass(frozen=True)
class StagedFile:
    """A return file whose lines are in ``recon_line`` and whose totals agree."""

    summary: FileSummary
    """What the file says about itself, complete: every line has been read."""
    foreign_currency: FileRejected | None
    """The first line in another currency than ``CURRENCY`` (not staged), if any. It is raised
    by the match step once the batch the caller names is checked: the file's own errors, its
    totals and that batch's are reported first, as when the file was read through before
    staging."""


def stage(file: BankFile, parsed: ParsedFile, *, progress: ProgressFn | None) -> StagedFile:
    """Stage the file's lines, then check its totals and its currency."""
    foreign_currency = _copy_lines(file, _reported(file, parsed.lines(), progress))
    check_totals(parsed)
    s = parsed.summary
    if s.currency and s.currency.upper() != CURRENCY:
        raise FileRejected(
            f"the file is in {s.currency}: only CNY files can be applied", field="Ccy"
        )
    return StagedFile(summary=s, foreign_currency=foreign_currency)


def _copy_lines(file: BankFile, lines: Iterable[ReturnLine]) -> FileRejected | None:
    """COPY the lines into a temporary table as they are parsed. A line in another currency is
    remembered (the first one) and returned, not raised."""
    file.execute(
        "CREATE TEMP TABLE recon_line (k bigint GENERATED ALWAYS AS IDENTITY, "
        "line_no integer, seq integer, reference text, account text, name text, "
        "amount_fen bigint, outcome text NOT NULL, reason text, raw_code text, raw_text text, "
        "account_key text, payout_id bigint, matched_by text, suggested bigint, rn integer, action text) "
        "ON COMMIT DROP"
    )
    foreign_currency: FileRejected | None = None
    raw = file.session.connection().connection.driver_connection
    assert raw is not None
    with (
        raw.cursor() as cur,
        cur.copy(f"COPY recon_line ({', '.join(_STAGE_COLUMNS)}) FROM STDIN") as copy,
    ):
        write_row = copy.write_row
        for ln in lines:
            if ln.currency != CURRENCY and ln.currency.upper() != CURRENCY:
                if foreign_currency is None:
                    foreign_currency = FileRejected(
                        f"amount in {ln.currency}: only CNY files can be applied to the books",
                        line=ln.line_no,
                        field="Ccy",
                    )
                continue
            write_row(
                (
                    ln.line_no,
                    ln.seq,
                    ln.reference.strip().upper() if ln.reference else None,
                    # Account numbers stay out of the database: masked to show, keyed to match.
                    mask_account(ln.account) if ln.account else ln.account,
                    ln.name,
                    ln.amount_fen,
                    ln.outcome,
                    ln.reason,
                    ln.raw_code,
                    ln.raw_text,
                    account_key(ln.account) if ln.account else None,
                )
            )
    file.execute("ANALYZE recon_line")
    return foreign_currency


def _reported(
    file: BankFile, lines: Iterable[ReturnLine], progress: ProgressFn | None
) -> Iterator[ReturnLine]:
    """The lines, telling ``progress(done, total)`` every thousand lines and at the end (the
    total of a CSV file is its line count; of XML, unknown)."""
    if progress is None:
        yield from lines
        return
    total = file.source.newlines + 1 if file.kind == "csv_return" else None
    done = 0
    for done, ln in enumerate(lines, 1):
        yield ln
        if done % 1000 == 0:
            progress(ln.line_no, total)
    if done:
        progress(total or done, total)
