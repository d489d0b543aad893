"""Beijing time (UTC+8), written once: what a person in China calls today, a day, a month.

The log stores UTC milliseconds; every calendar rule (a permit's validity, a reporting period,
a month in a chart, a deadline in working days) is about Beijing days. China has had no daylight
saving time since 1991, so a fixed offset is exact for every date the product records.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Final

BEIJING: Final = dt.timezone(dt.timedelta(hours=8), "CST")
BEIJING_OFFSET_MS: Final = 8 * 3600 * 1000
DAY_MS: Final = 86_400_000


def now_ms() -> int:
    """Milliseconds since the epoch (UTC), as the log counts time."""
    return time.time_ns() // 1_000_000


def beijing_today() -> dt.date:
    """Today's date in Beijing."""
    return dt.datetime.now(BEIJING).date()


def beijing_datetime(t_ms: int) -> dt.datetime:
    """The aware Beijing datetime of a log time."""
    return dt.datetime.fromtimestamp(t_ms / 1000, BEIJING)


def beijing_day(t_ms: int) -> str:
    """The Beijing calendar day (YYYY-MM-DD) of a log time."""
    return beijing_datetime(t_ms).date().isoformat()


def beijing_month(t_ms: int) -> str:
    """The Beijing month (YYYY-MM) of a log time."""
    return beijing_datetime(t_ms).strftime("%Y-%m")


def beijing_day_start_ms(day: dt.date) -> int:
    """Milliseconds since the epoch at 00:00 Beijing time on ``day``."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=BEIJING).timestamp()) * 1000


def beijing_minutes(when: dt.datetime | int) -> str:
    """``YYYY-MM-DD HH:MM`` in Beijing, from an aware datetime or a log time in ms."""
    if isinstance(when, int):
        when = beijing_datetime(when)
    return when.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
