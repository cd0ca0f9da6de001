"""Trends: per day and unit, how many reported, were missing, exempt or abnormal.

Built on `unit_summaries`, one day at a time, so a trend counts exactly what `统计` and the
digests count. `sparkline` draws a run of shares as ▁▂▃▄▅▆▇█ for text messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta, tzinfo

from sqlmodel.ext.asyncio.session import AsyncSession

from storage.summary import UnitDay, unit_summaries

#: The longest trend one command draws.
MAX_TREND_DAYS = 92
BARS = "▁▂▃▄▅▆▇█"
NO_DATA = "·"


@dataclass(frozen=True)
class TrendPoint:
    day: date
    unit_id: str
    unit_name: str
    total: int
    reported: int
    missing: int
    exempt: int
    abnormal: int
    late: int

    @property
    def rate(self) -> float | None:
        due = self.total - self.exempt
        return self.reported / due if due else None


def point(day: date, s: UnitDay) -> TrendPoint:
    return TrendPoint(day, s.unit_id, s.unit_name, s.total, s.reported, len(s.missing),
                      len(s.exempt), len(s.abnormal), s.reported_late)


async def unit_trend(session: AsyncSession, end: date, days: int, unit_ids: set[str] | None,
                     *, tz: tzinfo) -> dict[str, list[TrendPoint]]:
    """{unit_id: [point per day, oldest first]} for the `days` days ending on `end`."""
    if not 1 <= days <= MAX_TREND_DAYS:
        raise ValueError(f"days must be between 1 and {MAX_TREND_DAYS}")
    by_day: dict[date, dict[str, TrendPoint]] = {}
    names: dict[str, str] = {}
    for n in range(days - 1, -1, -1):
        day = end - timedelta(days=n)
        by_day[day] = {}
        for s in await unit_summaries(session, day, unit_ids, tz=tz):
            by_day[day][s.unit_id] = point(day, s)
            names[s.unit_id] = s.unit_name
    # A unit gets a point every day: one nobody was due on (before the roster had its
    # members) is empty, shown as "·", so the days of every line stay aligned.
    return {unit: [points.get(unit) or TrendPoint(day, unit, names[unit], 0, 0, 0, 0, 0, 0)
                   for day, points in by_day.items()]
            for unit in sorted(names)}


def sparkline(rates: list[float | None]) -> str:
    """Shares between 0 and 1 as bars (▁ = none, █ = all); a day nobody was due is `·`."""
    chars = []
    for rate in rates:
        if rate is None:
            chars.append(NO_DATA)
            continue
        rate = min(max(rate, 0.0), 1.0)
        chars.append(BARS[min(int(rate * len(BARS)), len(BARS) - 1)])
    return "".join(chars)
