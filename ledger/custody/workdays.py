"""Working days on the Chinese statutory calendar (法定工作日), with 调休 make-up days.

The receiver of a transfer manifest confirms it within 5 working days of the waste's arrival
(危险废物转移管理办法 2021). Which days are working days is set each year by the State
Council's holiday notice (国务院办公厅关于…部分节假日安排的通知): holidays are days off even
on a weekday, and 调休 Saturdays or Sundays are working days. The maintained package
``chinese-calendar`` carries those notices; it knows the years it was released for and raises
for any other year. We never guess a year it does not know: ``CalendarUnknown`` names the year,
and the gap scan flags such a deadline as unknown instead of computing one (docs/gaps.md).

Counting follows 民法典 第二百零一条 and 第二百零三条: the day of arrival is not counted, the
period starts the next day, and ends at 24:00 (Beijing) of its last working day.
"""

from __future__ import annotations

import datetime as dt

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
