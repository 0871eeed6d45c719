"""Business dates (业务日期): the insurance's days are Beijing's, whatever zone a server runs in.

Instants are stored and sent in UTC; a date a person or an institution means (a death, a payment, an
enrollment's start, a settlement's day, a month to clear) is the Asia/Shanghai date. A container's
clock is UTC, where the date lags Beijing's for eight hours a day: `date.today()` would register a
death at 07:00 as tomorrow's, and refuse it as in the future.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

BUSINESS_ZONE = ZoneInfo("Asia/Shanghai")


def business_date(instant: datetime) -> date:
    """The Asia/Shanghai date of an instant (an aware datetime)."""
    return instant.astimezone(BUSINESS_ZONE).date()


def business_today() -> date:
    """Today's date in Asia/Shanghai."""
    return datetime.now(BUSINESS_ZONE).date()
