"""Pure parsing of bank return files: CSV 回盘, ISO 20022 pain.002, camt.054 and camt.053.

No database here: bytes in, ``ReturnLine``s and a ``FileSummary`` out, or ``FileRejected``
naming the line and field at fault.
"""

from reconciliation.parsers.columns import ColumnMap, default_column_map, load_column_map
from reconciliation.parsers.core import (
    ParsedFile,
    check_totals,
    detect_kind,
    open_return_file,
    parse_return_file,
)
from reconciliation.parsers.model import (
    FileRejected,
    FileSummary,
    Kind,
    Outcome,
    PaymentInfoStatus,
    ReturnLine,
    Statement,
    StatementEntry,
    tx_status_outcome,
    unlisted_outcome,
    unlisted_status,
)
from reconciliation.parsers.normalise import (
    format_fen,
    normalise_account,
    normalise_name,
    parse_amount_fen,
)

__all__ = [
    "ColumnMap",
    "FileRejected",
    "FileSummary",
    "Kind",
    "Outcome",
    "ParsedFile",
    "PaymentInfoStatus",
    "ReturnLine",
    "Statement",
    "StatementEntry",
    "check_totals",
    "default_column_map",
    "detect_kind",
    "format_fen",
    "load_column_map",
    "normalise_account",
    "normalise_name",
    "open_return_file",
    "parse_amount_fen",
    "parse_return_file",
    "tx_status_outcome",
    "unlisted_outcome",
    "unlisted_status",
]
