"""Time is injected: the server uses SystemClock, tests use a clock they can move."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    tz: ZoneInfo

    def now(self) -> datetime:
        """An aware datetime in UTC."""
        ...


class SystemClock:
    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz

    def now(self) -> datetime:
        return datetime.now(UTC)


class ShiftedClock:
    """The system clock moved forward by `offset`: the demo's `/day +1` lets someone try
    tomorrow (a new daily report, 与昨日相同) without waiting for it."""

    def __init__(self, tz: ZoneInfo, offset: timedelta = timedelta(0)) -> None:
        self.tz = tz
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


class FixedClock:
    """A clock that only moves when told to."""

    def __init__(self, at: datetime, tz: ZoneInfo) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(UTC)
        self.tz = tz

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = at.astimezone(UTC)

    def advance(self, **delta: float) -> None:
        self._at += timedelta(**delta)


def local_date(clock: Clock, at: datetime | None = None) -> date:
    """The reporting day: the calendar date in the configured zone, not the server's."""
    return (at or clock.now()).astimezone(clock.tz).date()


def local_time_text(clock: Clock, at: datetime) -> str:
    return at.astimezone(clock.tz).strftime("%H:%M")
