"""Working days on the statutory calendar (chinese-calendar), across the 2025 and 2026 holidays
with their 调休 make-up Saturdays and Sundays; no database."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest

from ledger.clock import beijing_day_start_ms
from ledger.custody.workdays import (
    CalendarUnknown,
    calendar_notice,
    is_working_day,
    known_years,
    working_day_deadline,
    working_days_due,
    working_days_due_ms,
)

D = dt.date


@pytest.mark.parametrize(("day", "working"), [
    (D(2025, 1, 26), True),   # Sunday, 调休 before 春节 2025
    (D(2025, 1, 28), False),  # 除夕 2025, a Tuesday
    (D(2025, 2, 8), True),    # Saturday, 调休 after 春节 2025
    (D(2025, 9, 28), True),   # Sunday, 调休 before 国庆 2025
    (D(2025, 10, 8), False),  # a Wednesday inside 国庆/中秋 2025
    (D(2025, 10, 11), True),  # Saturday, 调休
    (D(2026, 2, 14), True),   # Saturday, 调休 before 春节 2026
    (D(2026, 2, 23), False),  # a Monday inside 春节 2026
    (D(2026, 2, 28), True),   # Saturday, 调休 after 春节 2026
    (D(2026, 9, 20), True),   # Sunday, 调休 before 国庆 2026
    (D(2026, 10, 7), False),  # a Wednesday inside 国庆 2026
    (D(2026, 10, 10), True),  # Saturday, 调休
    (D(2026, 10, 17), False),  # an ordinary Saturday
])
def test_statutory_working_days(day, working):
    assert is_working_day(day) is working


@pytest.mark.parametrize(("arrival", "deadline"), [
    # 国庆 2025 (Oct 1-8 off): Oct 9, 10, the 调休 Saturday Oct 11, Oct 13, 14
    (D(2025, 9, 30), D(2025, 10, 14)),
    # the 调休 Sunday Sep 28 counts: Sep 28, 29, 30, Oct 9, 10
    (D(2025, 9, 26), D(2025, 10, 10)),
    # 春节 2025 (Jan 28 - Feb 4 off): Feb 5, 6, 7, the 调休 Saturday Feb 8, Feb 10
    (D(2025, 1, 27), D(2025, 2, 10)),
    # 春节 2026 (Feb 15-23 off): Feb 13, the 调休 Saturday Feb 14, Feb 24, 25, 26
    (D(2026, 2, 12), D(2026, 2, 26)),
    # after 春节 2026: Feb 26, 27, the 调休 Saturday Feb 28, Mar 2, 3
    (D(2026, 2, 25), D(2026, 3, 3)),
    # 国庆 2026 (Oct 1-7 off): Oct 8, 9, the 调休 Saturday Oct 10, Oct 12, 13
    (D(2026, 9, 30), D(2026, 10, 13)),
    # an ordinary week: the arrival day does not count (民法典 第二百零一条)
    (D(2026, 11, 2), D(2026, 11, 9)),
])
def test_five_working_days_from_arrival(arrival, deadline):
    assert working_day_deadline(arrival, 5) == deadline
    noon = beijing_day_start_ms(arrival) + 12 * 3600 * 1000
    # the period ends at 24:00 Beijing of its last day (民法典 第二百零三条)
    assert working_days_due_ms(noon, 5) == beijing_day_start_ms(deadline + dt.timedelta(days=1))


def test_a_year_the_calendar_does_not_know_is_not_guessed():
    last = max(chinese_calendar.holidays).year  # 2026 for chinese-calendar 1.11
    with pytest.raises(CalendarUnknown) as err:
        working_day_deadline(D(last, 12, 28), 5)  # runs into the next year
    assert err.value.year == last + 1 and err.value.code == "calendar_unknown"
    with pytest.raises(CalendarUnknown):
        is_working_day(D(2003, 6, 2))


def test_a_year_the_calendar_does_not_know_is_counted_on_weekdays_and_marked_estimated():
    last = known_years()[1]
    # within the known years: the statutory count, not estimated
    known = working_days_due(beijing_day_start_ms(D(2026, 9, 30)) + 12 * 3_600_000, 5)
    assert (known.day, known.estimated, known.note) == (D(2026, 10, 13), False, None)
    # the last week of the last known year runs into the next: Monday-Friday counted there
    start = D(last, 12, 28)
    due = working_days_due(beijing_day_start_ms(start) + 12 * 3_600_000, 5)
    expected, counted, day = None, 0, start
    while counted < 5:
        day += dt.timedelta(days=1)
        if (is_working_day(day) if day.year <= last else day.weekday() < 5):
            counted += 1
    expected = day
    assert due.day == expected and due.unknown_year == last + 1
    assert due.due_ms == beijing_day_start_ms(expected + dt.timedelta(days=1))
    assert due.note == (f"holiday calendar not known for year {last + 1}: deadline "
                        "estimated on weekdays only")
    # wholly in an unknown year (2030 is far beyond any release): plain weekdays
    far = working_days_due(beijing_day_start_ms(D(2030, 3, 1)), 5)  # a Friday
    assert (far.day, far.unknown_year) == (D(2030, 3, 8), 2030)


def test_the_operator_is_told_which_years_the_calendar_knows_and_how_to_update():
    last = known_years()[1]
    assert calendar_notice(D(last - 1, 6, 1)).endswith(", loaded")
    notice = calendar_notice(D(last, 6, 1))
    assert f"holiday calendar not known for year {last + 1}" in notice
    assert "pip install --upgrade chinese-calendar" in notice
