"""A member's rights: `privacy export` (everything, as JSON) and `privacy erase` (personal
fields gone, counts kept), both audited."""

from __future__ import annotations

import asyncio
import json
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.cli import main
from app.emulator.api import WeComEmulator
from bot.clock import FixedClock
from storage.models import AuditLog, BasicInfo, DailyReport, Member
from storage.privacy import ERASED_NAME, PrivacyError, erase_member, export_member
from tests.harness import Bot, give_basic_info, start_bot

SETTINGS_TOML = Path(__file__).parent.parent / "settings.toml"
DAY = date(2026, 11, 30)


async def add_report(bot: Bot, userid: str) -> None:
    async with bot.db.transaction() as session:
        session.add(DailyReport(
            receipt="R" + userid[:6], userid=userid, report_date=DAY, form_version=1,
            answers={"temperature": 38.2, "remarks": "头疼", "location": {"lat": 39.95}},
            temperature=38.2, abnormal=True, abnormal_reasons=["fever"], location_kind="gps",
            province="北京市", city="北京市", district="海淀区", country="中国",
            filled_by=userid, submitted_at=bot.clock.now()))
        member = await session.get(Member, userid)
        assert member is not None
        member.last_lat, member.last_lng = 39.95, 116.32
        session.add(member)


async def test_export_holds_everything_and_is_audited(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan")
    await add_report(bot, "zhangsan")
    async with bot.db.transaction() as session:
        data = await export_member(session, "ZhangSan", actor="dpo", now=bot.clock.now())
    text = json.dumps(data, ensure_ascii=False, default=str)
    assert data["member"]["userid"] == "zhangsan" and data["member"]["mobile"] == "13800000002"
    assert data["basic_info"][0]["mobile"] == "13800000000"
    assert data["daily_reports"][0]["temperature"] == 38.2 and "头疼" in text
    async with bot.db.session() as session:
        audit = (await session.execute(sa.select(AuditLog).where(
            AuditLog.action == "privacy.export"))).scalars().one()
    assert (audit.actor, audit.target) == ("dpo", "zhangsan")
    assert "头疼" not in json.dumps(audit.detail, ensure_ascii=False)


async def test_erase_removes_personal_fields_and_keeps_counts(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan")
    await add_report(bot, "zhangsan")
    async with bot.db.transaction() as session:
        counts = await erase_member(session, "zhangsan", actor="dpo", now=bot.clock.now())
    assert counts["reports"] == 1 and counts["basic_info"] == 1
    async with bot.db.session() as session:
        member = await session.get(Member, "zhangsan")
        info = await session.get(BasicInfo, "zhangsan")
        reports = list((await session.execute(sa.select(DailyReport))).scalars())
    assert member is not None and member.name == ERASED_NAME and member.mobile is None
    assert member.last_lat is None and not member.active
    assert info is not None and info.mobile == "" and info.staff_no == ""
    assert len(reports) == 1 and reports[0].report_date == DAY and reports[0].abnormal
    assert reports[0].answers == {} and reports[0].temperature is None
    assert reports[0].district is None


async def test_an_unknown_member_changes_nothing(bot: Bot) -> None:
    async with bot.db.transaction() as session:
        with pytest.raises(PrivacyError):
            await erase_member(session, "ghost", actor="dpo", now=bot.clock.now())


async def test_the_commands(emulator: WeComEmulator, tmp_path: Path, clock: FixedClock,
                            monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    bot = await start_bot(emulator, url, clock=clock)
    try:
        await add_report(bot, "lisi")
        monkeypatch.setenv("YQT_DATABASE__URL", url)
        loop = asyncio.get_running_loop()
        out = tmp_path / "lisi.json"

        def run(*argv: str) -> int:
            return main(["--config", str(SETTINGS_TOML), *argv])

        assert await loop.run_in_executor(None, run, "privacy", "export", "lisi",
                                          "--output", str(out)) == 0
        assert json.loads(out.read_text("utf-8"))["daily_reports"][0]["receipt"] == "Rlisi"
        assert oct(out.stat().st_mode & 0o777) == "0o600"
        assert await loop.run_in_executor(None, run, "privacy", "erase", "lisi") == 2
        capsys.readouterr()
        assert await loop.run_in_executor(None, run, "privacy", "erase", "lisi", "--yes") == 0
        assert "erased lisi" in capsys.readouterr().out
        assert await loop.run_in_executor(None, run, "privacy", "export", "nobody") == 2
    finally:
        await bot.stop()


# ---- retention -------------------------------------------------------------------------------

async def test_housekeeping_reduces_old_locations_and_logs_counts_only(
        bot: Bot, clock: FixedClock, caplog: pytest.LogCaptureFixture) -> None:
    import logging
    from datetime import timedelta

    from scheduler.jobs import JobDeps, housekeeping

    await add_report(bot, "zhangsan")
    async with bot.db.transaction() as session:
        member = await session.get(Member, "zhangsan")
        assert member is not None
        member.last_location_at = clock.now()
        session.add(member)
    deps = JobDeps(bot.settings, bot.db, clock, wake=lambda: None)
    caplog.set_level(logging.INFO)
    await housekeeping(deps, "housekeeping", DAY + timedelta(days=14))  # not yet
    async with bot.db.session() as session:
        (report,) = (await session.execute(sa.select(DailyReport))).scalars()
    assert report.answers["location"]["lat"] == 39.95
    clock.advance(days=15)
    await housekeeping(deps, "housekeeping", DAY + timedelta(days=15))
    async with bot.db.session() as session:
        (report,) = (await session.execute(sa.select(DailyReport))).scalars()
        member = await session.get(Member, "zhangsan")
    assert report.answers["location"] == {}  # add_report's location had only coordinates
    assert report.district == "海淀区" and report.answers["remarks"] == "头疼"
    assert member is not None and member.last_lat is None and member.last_lng is None
    assert "report locations reduced 1" in caplog.text
    assert "头疼" not in caplog.text and "39.95" not in caplog.text


def test_a_coarse_location_keeps_the_district_and_drops_the_rest() -> None:
    from storage.privacy import coarse_location

    gps = {"kind": "gps", "lat": 39.95, "lng": 116.32, "label": "北京市海淀区",
           "province": "北京市", "city": "北京市", "district": "海淀区", "source": "event"}
    assert coarse_location(gps) == {"kind": "gps", "label": "北京市海淀区", "province": "北京市",
                                    "city": "北京市", "district": "海淀区", "source": "event"}
    typed = {"kind": "typed", "label": "海淀区中关村南大街27号3号楼201", "lat": 1.0,
             "province": "北京市", "city": "北京市", "district": "海淀区"}
    assert coarse_location(typed)["label"] == "北京市海淀区"


async def test_report_days_deletes_old_reports_when_configured(bot: Bot,
                                                               clock: FixedClock) -> None:
    from datetime import timedelta

    from storage.privacy import apply_retention

    await add_report(bot, "zhangsan")
    async with bot.db.transaction() as session:
        kept = await apply_retention(session, now=clock.now(), today=DAY + timedelta(days=400),
                                     raw_location_days=14, report_days=0)
        assert "reports deleted" not in kept
        counts = await apply_retention(session, now=clock.now(),
                                       today=DAY + timedelta(days=400),
                                       raw_location_days=14, report_days=365)
    assert counts["reports deleted"] == 1
