"""The dashboard's 14-day chart: each day is measured against the members in the roster by its
end, so the days before the roster was imported are gaps, not a reporting rate of 0 % (QA2 #10)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from handlers.web.chart import svg
from storage.db import Database
from storage.models import DailyReport, Member, Unit
from storage.reports import DayPoint, daily_counts

BEIJING = ZoneInfo("Asia/Shanghai")


async def test_each_day_counts_the_members_in_the_roster_by_its_end(db_url: str) -> None:
    today = date(2026, 12, 3)
    # Two members imported on 1 December at 23:30 Beijing time (15:30 UTC): in the roster by
    # the end of the 1st; a third imported on 3 December; one who left is never counted.
    first = datetime(2026, 12, 1, 15, 30, tzinfo=timezone.utc)
    third = datetime(2026, 12, 3, 1, 0, tzinfo=timezone.utc)
    db = Database(db_url)
    try:
        async with db.transaction() as session:
            session.add(Unit(id="u", name="u"))
            await session.flush()
            for userid, at, active in (("a", first, True), ("b", first, True),
                                       ("c", third, True), ("gone", first, False)):
                session.add(Member(userid=userid, name=userid, unit_id="u", role="member",
                                   active=active, created_at=at, updated_at=at))
            await session.flush()
            for n, (userid, day, abnormal) in enumerate((("a", date(2026, 12, 2), False),
                                                         ("a", today, True),
                                                         ("c", today, False))):
                session.add(DailyReport(receipt=f"r{n}", userid=userid, report_date=day,
                                        form_version=1, answers={}, abnormal=abnormal,
                                        filled_by=userid, submitted_at=third))
        async with db.session() as session:
            points = await daily_counts(session, today, 4, {"u"}, BEIJING)
    finally:
        await db.dispose()
    assert [(p.day.day, p.members, p.reported, p.abnormal) for p in points] == [
        (30, 0, 0, 0), (1, 2, 0, 0), (2, 2, 1, 0), (3, 3, 2, 1)]
    assert points[0].rate == 0.0 and points[2].rate == 0.5


def test_a_day_without_members_is_a_gap_in_the_line() -> None:
    start = date(2026, 11, 20)
    members = [0, 0, 4, 4, 0, 4]
    points = [DayPoint(start + timedelta(days=i), m, m // 2, 0) for i, m in enumerate(members)]
    chart = svg(points, rate_label="rate", abnormal_label="abnormal")
    dots = re.findall(r"<title>(\S+) rate (\d+%)</title>", chart)
    assert dots == [("2026-11-22", "50%"), ("2026-11-23", "50%"), ("2026-11-25", "50%")]
    lines = re.findall(r'<polyline points="([^"]*)"', chart)
    assert [len(line.split()) for line in lines] == [2, 1]  # broken at the empty day
    assert " 0%</title>" not in chart
