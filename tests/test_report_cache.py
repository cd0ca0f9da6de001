"""The callback batch's prefetch of members' newest reports answers exactly as the queries do."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from storage import reports
from storage.db import Database
from storage.models import DailyReport, Member

TODAY = date(2026, 11, 30)
# Each member's report days (days before TODAY; 0 = today).
HISTORIES = {"none": [], "today": [0], "yesterday": [1], "gap": [3], "both": [0, 1],
             "three": [0, 2, 5], "old": [4, 6, 9], "future": [-1, 2]}


def report(userid: str, ago: int) -> DailyReport:
    return DailyReport(receipt=f"{userid[:8]}{ago + 10:02d}", userid=userid,
                       report_date=TODAY - timedelta(days=ago), form_version=1,
                       answers={"ago": ago}, filled_by=userid,
                       submitted_at=datetime(2026, 11, 30, 8, 0).astimezone())


async def test_prefetched_lookups_answer_like_the_queries(db_url: str) -> None:
    db = Database(db_url)
    now = datetime(2026, 11, 30, 8, 0).astimezone()
    try:
        async with db.transaction() as session:
            for userid, days in HISTORIES.items():
                session.add(Member(userid=userid, name=userid, role="member",
                                   created_at=now, updated_at=now))
            await session.flush()
            for userid, days in HISTORIES.items():
                for ago in days:
                    session.add(report(userid, ago))
        days = [TODAY + timedelta(days=d) for d in range(-12, 3)]
        async with db.session() as plain:
            expected = {(u, d, before): await (
                reports.last_report_before if before else reports.report_of_day)(plain, u, d)
                for u in HISTORIES for d in days for before in (False, True)}
            expected = {k: (r.report_date if r else None) for k, r in expected.items()}
        async with db.transaction() as session:
            await reports.prefetch_latest(session, sorted(HISTORIES), TODAY)
            cached = {(u, d, before): await (
                reports.last_report_before if before else reports.report_of_day)(session, u, d)
                for u in HISTORIES for d in days for before in (False, True)}
            assert {k: (r.report_date if r else None) for k, r in cached.items()} == expected
            # A report added in the batch is seen by the next lookup (the prefetch is dropped).
            assert await reports.add_report_once(session, report("yesterday", 0))
            found = await reports.report_of_day(session, "yesterday", TODAY)
            assert found is not None and found.answers == {"ago": 0}
    finally:
        await db.dispose()


@pytest.mark.parametrize("day", [TODAY - timedelta(days=1), TODAY])
def test_the_cache_only_answers_what_it_can_tell(day: date) -> None:
    """Two newest reports of a long history: older days are left to the query."""
    class Session:
        info: dict = {}
    session = Session()
    older = [report("m", 1), report("m", 2)]
    session.info[reports._LATEST] = {"m": (TODAY, older)}
    assert reports._cached(session, "m", TODAY - timedelta(days=5), before=False) \
        is reports._UNKNOWN  # type: ignore[arg-type]
    assert reports._cached(session, "m", TODAY - timedelta(days=2), before=True) \
        is reports._UNKNOWN  # type: ignore[arg-type]
    assert reports._cached(session, "m", day, before=True).report_date < day  # type: ignore
