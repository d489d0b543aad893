"""Working days on the Chinese statutory calendar (法定工作日), with 调休 make-up days.

The receiver of a transfer manifest confirms it within 5 working days of the waste's arrival
(危险废物转移管理办法 2021). Which days are working days is set each year by the State
Council's holiday notice (国务院办公厅关于…部分节假日安排的通知): holidays are days off even
on a weekday, and 调休 Saturdays or Sundays are working days. The maintained package
``chinese-calendar`` carries those notices; it knows the years it was released for and raises
for any other year. The strict functions raise ``CalendarUnknown`` naming such a year;
``working_days_due`` instead counts Monday-Friday in it and marks the result as estimated
("holiday calendar not known for year Y"), which the gap scan shows on the finding
(docs/gaps.md). The operator is told at ``init``/``serve`` (``calendar_notice``) and updates
the package (docs/compliance.md).

Counting follows 民法典 第二百零一条 and 第二百零三条: the day of arrival is not counted, the
period starts the next day, and ends at 24:00 (Beijing) of its last working day.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from importlib import metadata

import chinese_calendar

from ledger.clock import beijing_datetime, beijing_day_start_ms
from ledger.errors import NotFound


class CalendarUnknown(NotFound):
    """The statutory calendar of a year is not known (the package has no notice for it)."""

    def __init__(self, year: int) -> None:
        super().__init__(f"the statutory holiday calendar of {year} is not known to this "
                         f"system (chinese-calendar knows "
                         f"{min(chinese_calendar.holidays).year}-"
                         f"{max(chinese_calendar.holidays).year}); update the package",
                         code="calendar_unknown")
        self.year = year


def is_working_day(day: dt.date) -> bool:
    """A statutory working day: Monday-Friday unless a holiday, or a 调休 make-up day."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        raise CalendarUnknown(day.year) from None


def working_day_deadline(day: dt.date, days: int) -> dt.date:
    """The last day of a period of ``days`` working days counted from the day after ``day``."""
    current, counted = day, 0
    while counted < days:
        current += dt.timedelta(days=1)
        if is_working_day(current):
            counted += 1
    return current


def working_days_due_ms(start_ms: int, days: int) -> int:
    """The end (24:00 Beijing) of the ``days``-th working day after the day of ``start_ms``.

    Raises ``CalendarUnknown`` when the count reaches a year the calendar does not know."""
    last = working_day_deadline(beijing_datetime(start_ms).date(), days)
    return beijing_day_start_ms(last + dt.timedelta(days=1))


def known_years() -> tuple[int, int]:
    """The first and last year whose statutory calendar the installed package knows."""
    return min(chinese_calendar.holidays).year, max(chinese_calendar.holidays).year


@dataclass(frozen=True)
class Due:
    """A working-day deadline: its last day, its end (24:00 Beijing, epoch ms), and the first
    year counted on weekdays only because its holiday calendar is not known (None when the
    statutory calendar was known for every day counted)."""

    day: dt.date
    due_ms: int
    unknown_year: int | None = None

    @property
    def estimated(self) -> bool:
        return self.unknown_year is not None

    @property
    def note(self) -> str | None:
        if self.unknown_year is None:
            return None
        return (f"holiday calendar not known for year {self.unknown_year}: "
                "deadline estimated on weekdays only")


def working_days_due(start_ms: int, days: int) -> Due:
    """Like ``working_days_due_ms``, but never raises for a year the calendar does not know:
    there Monday-Friday are counted as working days and the result is marked estimated."""
    current, counted, unknown = beijing_datetime(start_ms).date(), 0, None
    while counted < days:
        current += dt.timedelta(days=1)
        try:
            working = is_working_day(current)
        except CalendarUnknown as exc:
            working = current.weekday() < 5
            unknown = exc.year if unknown is None else unknown
        if working:
            counted += 1
    return Due(current, beijing_day_start_ms(current + dt.timedelta(days=1)), unknown)


UPDATE_COMMAND = ".venv/bin/pip install --upgrade chinese-calendar"


def calendar_notice(today: dt.date) -> str:
    """One line for the operator: which years the installed calendar knows, and, when this
    year or the next is beyond them, that deadlines there are estimated and how to update."""
    first, last = known_years()
    try:
        version = metadata.version("chinese-calendar")
    except metadata.PackageNotFoundError:  # pragma: no cover - it is a dependency
        version = "?"
    known = f"holiday calendar (chinese-calendar {version}) knows {first}-{last}"
    if today.year + 1 <= last:
        return f"{known}, loaded"
    return (f"{known}: holiday calendar not known for year {last + 1}; 5-working-day manifest "
            f"deadlines that reach {last + 1} are estimated on weekdays only (flagged "
            f"calendar_unknown). Update the package once the State Council publishes the "
            f"{last + 1} holidays: {UPDATE_COMMAND} (and raise its pin in pyproject.toml)")
