"""What a report covers: a jurisdiction's subtree and a period (YYYYMM), as SQL can use them."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from sqlalchemy import text
from sqlalchemy.orm import Session

from ledger.domain import PERIOD_PATTERN
from ledger.errors import ValidationFailed
from ledger.jurisdictions.catalog import level_of

_PERIOD_RE = re.compile(PERIOD_PATTERN)


def check_period(period: str) -> str:
    if not _PERIOD_RE.match(period):
        raise ValidationFailed(
            f"period {period!r} is not YYYYMM", [{"field": "period", "reason": "not YYYYMM"}]
        )
    return period


def period_end(period: str) -> date:
    """The last day of ``period``: the date a report of that period is as of."""
    year, month = int(check_period(period)[:4]), int(period[4:])
    return date(year, month, calendar.monthrange(year, month)[1])


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, the day clamped to the target month's length."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class Scope:
    """A jurisdiction and everything below it. ``pattern`` is a SQL LIKE pattern on codes."""

    jurisdiction: str
    period: str
    books_day: date | None = None  # the books' latest date, when known (see ``report_scope``)

    @property
    def pattern(self) -> str:
        level = level_of(self.jurisdiction)
        return {0: "%", 1: self.jurisdiction[:2] + "%", 2: self.jurisdiction[:4] + "%"}.get(
            level, self.jurisdiction
        )

    @property
    def as_of(self) -> date:
        """The report's date: the period's end, or the books' latest date if that is earlier.

        Every rule is judged as of this day, never the wall clock and never a future day."""
        end = period_end(self.period)
        return end if self.books_day is None else min(end, self.books_day)

    @property
    def year_start(self) -> date:
        return date(int(self.period[:4]), 1, 1)

    @property
    def label(self) -> str:
        """The period as printed: 2024年6月."""
        return f"{self.period[:4]}年{int(self.period[4:])}月"

    @property
    def rolls_up(self) -> bool:
        """A city or the province: its own books and its subtree's are different views."""
        return level_of(self.jurisdiction) < 3


def books_date(session: Session) -> date | None:
    """The latest effective date in the journal: the day the books have reached."""
    day = session.execute(text("SELECT max(effective_date) FROM journal_entry")).scalar()
    return day if isinstance(day, date) else None


def report_scope(session: Session, jurisdiction: str, period: str) -> Scope:
    """The scope of a report of ``period``: as of min(period end, the books' latest date)."""
    return Scope(jurisdiction, check_period(period), books_date(session))
