"""Forms as configuration: `form publish` stores versions, running instances pick a publish up
without a restart, a form in progress finishes on its own version, and every stored report
keeps its version (its summary, its alerts and its export columns follow it).

The dialogs run through the real server (tests/harness.py); publishing is the real command line
against the bot's own database, as an operator would run it beside a running instance."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.cli import build_parser
from app.emulator.api import WeComEmulator
from bot.clock import FixedClock
from bot.conversation.form_files import shipped_text
from bot.settings import DatabaseSettings, Settings
from handlers.form_registry import CHECK_SECONDS
from handlers.keys import DEPS
from storage.models import AuditLog, FormVersion
from tests.harness import (
    Bot,
    accept_notice_in_force,
    conversation,
    give_basic_info,
    joined,
    pick,
    report_on,
    say,
    seen,
    start_report_at_gps,
    use_cards,
)
from tests.test_export import SHANGHAI

NOW = datetime(2026, 11, 30, 9, 30, tzinfo=SHANGHAI)
DAY = date(2026, 11, 30)
Y2022 = shipped_text("daily_report_2022")
DAILY = shipped_text("daily_report")

# The shipped daily report with one question more, written by an operator: no code.
WASHED = DAILY.replace('''[[question]]
key = "remarks"''', '''[[question]]
key = "hands_washed"
kind = "yes_no"
prompt = { zh = "今天是否按要求勤洗手？", en = "Did you wash your hands as asked today?" }
label = { zh = "勤洗手", en = "Hands washed" }

[[question]]
key = "remarks"''')


async def run(settings: Settings, clock: FixedClock, *argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    args.clock = clock
    return await args.run(args, settings)


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


# ---- the command line -------------------------------------------------------------------------


async def test_publish_show_and_versions(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'f.db'}"))
    clock = FixedClock(NOW, SHANGHAI)

    # A file with a problem: the problems by line, and nothing stored.
    bad = write(tmp_path, "bad.toml", Y2022.replace('key = "vaccine_doses"',
                                                    'key = "vaccine_doses"\nmaximum = 4'))
    assert await run(settings, clock, "form", "publish", bad) == 2
    err = capsys.readouterr().err
    assert f"{bad}:" in err and "unknown key 'maximum'" in err
    assert "nothing was published" in err
    # The shipped file is what runs already: publishing it is a no-op, refused.
    assert await run(settings, clock, "form", "publish", write(tmp_path, "d.toml", DAILY)) == 2
    assert "version 1 is this very text" in capsys.readouterr().err

    y2022 = write(tmp_path, "y.toml", Y2022)
    assert await run(settings, clock, "form", "publish", y2022, "--by", "卫生处") == 0
    out, err = capsys.readouterr()
    assert "published daily_report version 2 (14 questions)" in out
    assert "from 2026-11-30" in out and "health_code" in out.split("new questions:")[1]
    # New data collected: said, and published all the same.
    assert "PRIVACY: this version collects new data (health_code, nat_date, " in err
    assert "every member will be asked to accept the privacy notice again" in err
    assert await run(settings, clock, "form", "publish", y2022) == 2  # the same text again
    assert "version 2 is this very text" in capsys.readouterr().err

    assert await run(settings, clock, "form", "show", "daily_report") == 0
    shown = capsys.readouterr().out
    assert 'key = "health_code"' in shown and "\nversion = 2\n" in shown
    assert await run(settings, clock, "form", "show", "daily_report", "--version", "1") == 0
    assert capsys.readouterr().out == DAILY
    assert await run(settings, clock, "form", "show", "daily_report", "--version", "7") == 2
    assert await run(settings, clock, "form", "show", "basic_info") == 0
    assert capsys.readouterr().out == shipped_text("basic_info")

    # A version for a later day: today still runs version 2.
    washed = write(tmp_path, "w.toml", WASHED)
    assert await run(settings, clock, "form", "publish", washed, "--from", "2026-11-29") == 2
    assert "is in the past" in capsys.readouterr().err
    assert await run(settings, clock, "form", "publish", washed, "--from", "2026-12-05") == 0
    out, err = capsys.readouterr()
    assert "version 3" in out
    # hands_washed is new; on_campus, symptoms, ... came back from version 1: not new.
    assert "PRIVACY: this version collects new data (hands_washed):" in err
    assert "before their next form from 2026-12-05 on" in err
    assert await run(settings, clock, "form", "versions", "daily_report") == 0
    listed = capsys.readouterr().out
    assert "   version 1  shipped" in listed and " * version 2  from 2026-11-30" in listed
    assert "   version 3  from 2026-12-05" in listed and "by 卫生处" in listed
    clock.advance(days=5)
    assert await run(settings, clock, "form", "show", "daily_report") == 0
    assert 'key = "hands_washed"' in capsys.readouterr().out

    from storage.db import open_database

    async with open_database(settings.database.url) as db, db.session() as session:
        rows = (await session.execute(sa.select(FormVersion).order_by(FormVersion.version))
                ).scalars().all()
        audits = (await session.execute(sa.select(AuditLog).where(
            AuditLog.action == "form.publish"))).scalars().all()
    assert [(r.version, r.published_by) for r in rows] == [(2, "卫生处"), (3, "cli")]
    assert [a.detail["version"] for a in audits] == [2, 3]
    assert audits[1].detail["new_data"] == ["hands_washed"]


# ---- a running instance -----------------------------------------------------------------------


async def publish(bot: Bot, text: str, tmp_path: Path, name: str = "form.toml", *,
                  accept: bool = True) -> None:
    """Publish `text` from the command line; then, unless `accept` is False, every member
    accepts the privacy notice a new question brings (tests/test_privacy_notice.py walks it)."""
    assert await run(bot.settings, bot.clock, "form", "publish",  # type: ignore[arg-type]
                     write(tmp_path, name, text)) == 0
    if accept:
        await accept_notice_in_force(bot)


async def walk_2022(bot: Bot, userid: str, *, code: str = "green", test: str = "negative",
                    travel: str = "no") -> list[str]:
    """The 2022 form from the confirmed location to the summary; returns the summary seen."""
    await pick(bot, userid, "ok", "1")
    out = joined(await say(bot, userid, "36.6"))
    assert "健康码" in out
    await pick(bot, userid, code, str(["green", "yellow", "red"].index(code) + 1))
    out = joined(await say(bot, userid, "昨天"))
    assert "核酸检测的结果" in out
    await pick(bot, userid, test, str(["negative", "positive", "pending"].index(test) + 1))
    out = joined(await say(bot, userid, "3"))
    assert "中、高风险地区" in out
    out = joined(await pick(bot, userid, travel, "1" if travel == "yes" else "2"))
    if travel == "yes":
        assert "风险地区所在城市" in out
        await say(bot, userid, "上海市")
    await pick(bot, userid, "yes", "1")  # returning to Beijing
    await say(bot, userid, "12-20")
    out = joined(await pick(bot, userid, "train", "1"))
    assert "车次或航班号" in out
    await say(bot, userid, "G102")
    return await say(bot, userid, "无")


@pytest.mark.parametrize("rendering", ["text", "cards"])
async def test_a_published_form_reaches_the_next_member_without_a_restart(
        bot: Bot, tmp_path: Path, rendering: str) -> None:
    """The 2022 form, published beside the running server: the member who had started keeps
    the old form to the end; the next one gets the new one, in either rendering; a red code
    alerts the reviewer with the form's own wording."""
    await give_basic_info(bot, "zhangsan", "lisi")
    if rendering == "cards":
        await use_cards(bot, "zhangsan")
    await start_report_at_gps(bot, "lisi")  # lisi started on version 1

    await publish(bot, Y2022, tmp_path)
    bot.clock.advance(seconds=CHECK_SECONDS + 1)  # type: ignore[attr-defined]

    # lisi finishes the form they started, on version 1 (its questions, its version).
    await pick(bot, "lisi", "ok", "1")
    out = joined(await pick(bot, "lisi", "yes", "1"))
    assert "体温" in out and "健康码" not in out
    await say(bot, "lisi", "36.5")
    await pick(bot, "lisi", ["none"], "1")
    await pick(bot, "lisi", "no", "2")
    await pick(bot, "lisi", "none", "1")
    await say(bot, "lisi", "无")
    await pick(bot, "lisi", "submit", "1")
    old = await report_on(bot, "lisi", DAY)
    assert old is not None and old.form_version == 1 and "health_code" not in old.answers

    # zhangsan starts now: version 2.
    seen(bot, "teacher")
    await start_report_at_gps(bot, "zhangsan")
    summary = joined(await walk_2022(bot, "zhangsan", code="red"))
    assert "健康码 Health code：红码 Red" in summary
    assert "疫苗剂次 Vaccine doses：3\n" in summary  # a whole number, not 3.0
    out = joined(await pick(bot, "zhangsan", "submit", "1"))
    assert "上报成功" in out or "已提交" in out
    new = await report_on(bot, "zhangsan", DAY)
    assert new is not None and new.form_version == 2
    assert new.answers["health_code"] == "red" and new.abnormal_reasons == ["red_code"]
    assert "on_campus" not in new.answers
    alert = joined(seen(bot, "teacher"))
    assert "张三（zhangsan）2026-11-30 的上报有异常：健康码红码" in alert
    assert "健康码 Health code：红码 Red" in alert


async def test_the_list_of_versions_is_read_every_few_seconds_not_per_callback(
        bot: Bot, tmp_path: Path) -> None:
    await give_basic_info(bot, "zhangsan", "lisi")
    registry = bot.app[DEPS].forms
    await say(bot, "zhangsan", "上报")
    reads = registry.reads
    for _ in range(3):  # more forms started, within the few seconds: no more reads
        await say(bot, "lisi", "上报")
        await say(bot, "lisi", "取消")
    assert registry.reads == reads
    await publish(bot, Y2022, tmp_path)
    await say(bot, "zhangsan", "取消")
    # Within the few seconds the instance has not looked again: still the old form.
    out = joined(await say(bot, "zhangsan", "上报"))
    assert "健康码" not in out
    await say(bot, "zhangsan", "取消")
    bot.clock.advance(seconds=CHECK_SECONDS + 1)  # type: ignore[attr-defined]
    await start_report_at_gps(bot, "zhangsan")
    await pick(bot, "zhangsan", "ok", "1")
    out = joined(await say(bot, "zhangsan", "36.6"))
    assert "健康码" in out
    conv = await conversation(bot, "zhangsan")
    assert conv is not None and conv.form_version == 2
    assert registry.reads == reads + 1


async def test_a_form_left_from_yesterday_restarts_on_todays_version(bot: Bot,
                                                                    tmp_path: Path) -> None:
    await give_basic_info(bot, "zhangsan")
    await start_report_at_gps(bot, "zhangsan")
    await pick(bot, "zhangsan", "ok", "1")
    await pick(bot, "zhangsan", "yes", "1")
    await say(bot, "zhangsan", "36.5")  # then nothing until the next day
    await publish(bot, Y2022, tmp_path)
    bot.clock.advance(days=1)  # type: ignore[attr-defined]
    out = joined(await say(bot, "zhangsan", "1"))
    assert "2026-12-01" in out
    conv = await conversation(bot, "zhangsan")
    assert conv is not None and conv.form_version == 2
    assert conv.state["answers"].get("temperature") == 36.5  # kept: it fits today's form too
    assert "on_campus" not in conv.state["answers"]


# ---- a question added by publishing: the form in both renderings, and the export ---------------


async def export_table(bot: Bot, tmp_path: Path) -> list[dict[str, str]]:
    out = tmp_path / "export.csv"
    assert await run(bot.settings, bot.clock, "export", "--date",  # type: ignore[arg-type]
                     DAY.isoformat(), "--output", str(out)) == 0
    import csv

    with out.open(encoding="utf-8-sig", newline="") as stream:
        return list(csv.DictReader(stream))


async def healthy_day(bot: Bot, userid: str, *, washed: bool) -> str:
    """A healthy report on the shipped form (+ the published question); the summary seen."""
    await start_report_at_gps(bot, userid)
    await pick(bot, userid, "ok", "1")
    await pick(bot, userid, "yes", "1")
    await say(bot, userid, "36.5")
    await pick(bot, userid, ["none"], "1")
    await pick(bot, userid, "no", "2")
    out = joined(await pick(bot, userid, "none", "1"))
    if washed:
        assert "今天是否按要求勤洗手？" in out and "Did you wash your hands" in out
        out = joined(await pick(bot, userid, "yes", "1"))
    assert "今天是否按要求勤洗手" not in out
    summary = joined(await say(bot, userid, "无"))
    await pick(bot, userid, "submit", "1")
    return summary


async def test_a_question_added_by_publishing_is_asked_and_exported(bot: Bot,
                                                                   tmp_path: Path) -> None:
    await give_basic_info(bot, "zhangsan", "lisi", "maria")
    await use_cards(bot, "lisi")
    assert "勤洗手" not in await healthy_day(bot, "maria", washed=False)  # before the publish

    await publish(bot, WASHED, tmp_path)
    bot.clock.advance(seconds=CHECK_SECONDS + 1)  # type: ignore[attr-defined]
    for userid in ("zhangsan", "lisi"):  # the WeChat plugin (text) and the WeCom client (cards)
        assert "勤洗手 Hands washed：是 Yes" in await healthy_day(bot, userid, washed=True)
        report = await report_on(bot, userid, DAY)
        assert report is not None and report.form_version == 2
        assert report.answers["hands_washed"] is True

    table = await export_table(bot, tmp_path)
    header = list(table[0])
    assert header.index("hands_washed") == header.index("quarantine_start") + 1
    washed = {row["userid"]: row["hands_washed"] for row in table}
    assert washed["zhangsan"] == washed["lisi"] == "yes"
    assert washed["maria"] == ""  # her version did not have the question
    assert {row["userid"]: row["temperature"] for row in table}["maria"] == "36.5"


async def test_the_export_has_the_columns_of_every_version_in_the_range(
        bot: Bot, tmp_path: Path) -> None:
    await give_basic_info(bot, "zhangsan", "lisi")
    await healthy_day(bot, "lisi", washed=False)
    await publish(bot, Y2022, tmp_path)
    bot.clock.advance(seconds=CHECK_SECONDS + 1)  # type: ignore[attr-defined]
    await start_report_at_gps(bot, "zhangsan")
    await walk_2022(bot, "zhangsan")
    await pick(bot, "zhangsan", "submit", "1")

    table = await export_table(bot, tmp_path)
    header = list(table[0])
    assert header[7:12] == ["location_kind", "province", "city", "district", "country"]
    # The shipped form's columns first, in their order; the 2022 questions after the one they
    # follow there (the health code after the temperature).
    assert header[12:] == [
        "on_campus", "temperature", "health_code", "nat_date", "nat_result", "vaccine_doses",
        "risk_travel", "risk_city", "return_plan", "return_date", "return_transport",
        "return_number", "symptoms", "symptom_other", "contact", "quarantine",
        "quarantine_start", "city_changed_reason", "remarks", "abnormal_reasons", "receipt",
        "proxy_reason", "late", "note"]
    rows = {row["userid"]: row for row in table}
    assert (rows["zhangsan"]["health_code"], rows["zhangsan"]["on_campus"]) == ("green", "")
    assert (rows["lisi"]["health_code"], rows["lisi"]["on_campus"]) == ("", "yes")
    assert rows["zhangsan"]["return_number"] == "G102"


# ---- the 2022 form end to end ------------------------------------------------------------------


@pytest.mark.parametrize(("code", "test", "travel", "labels"), [
    ("green", "positive", "no", "核酸阳性"),
    ("green", "negative", "yes", "到过中高风险地区"),
    ("red", "positive", "yes", "健康码红码、核酸阳性、到过中高风险地区"),
])
async def test_2022_a_positive_test_or_risk_area_travel_alerts_the_reviewer(
        bot: Bot, tmp_path: Path, code: str, test: str, travel: str, labels: str) -> None:
    await give_basic_info(bot, "zhangsan")
    await publish(bot, Y2022, tmp_path)
    seen(bot, "teacher")
    await start_report_at_gps(bot, "zhangsan")
    await walk_2022(bot, "zhangsan", code=code, test=test, travel=travel)
    await pick(bot, "zhangsan", "submit", "1")
    report = await report_on(bot, "zhangsan", DAY)
    assert report is not None and report.abnormal
    alert = joined(seen(bot, "teacher"))
    assert f"张三（zhangsan）2026-11-30 的上报有异常：{labels}。" in alert
    if travel == "yes":
        assert "风险地区城市 Risk-area city：上海市" in alert


async def test_2022_a_green_negative_day_alerts_nobody_and_is_offered_again_the_next_day(
        bot: Bot, tmp_path: Path) -> None:
    await give_basic_info(bot, "zhangsan")
    await publish(bot, Y2022, tmp_path)
    seen(bot, "teacher")
    await start_report_at_gps(bot, "zhangsan")
    await walk_2022(bot, "zhangsan")
    await pick(bot, "zhangsan", "submit", "1")
    first = await report_on(bot, "zhangsan", DAY)
    assert first is not None and not first.abnormal and seen(bot, "teacher") == []

    # The next day: same as yesterday copies all but the fresh questions (the health code and
    # the test are asked again every day), then the summary.
    bot.clock.advance(days=1)  # type: ignore[attr-defined]
    await start_report_at_gps(bot, "zhangsan")
    out = joined(await pick(bot, "zhangsan", "ok", "1"))
    assert "与昨日相同" in out
    out = joined(await pick(bot, "zhangsan", "same", "1"))
    assert "健康码" in out
    await pick(bot, "zhangsan", "green", "1")
    await say(bot, "zhangsan", "今天")
    out = joined(await pick(bot, "zhangsan", "negative", "1"))
    assert "请核对" in out and "车次/航班 Train/flight no.：G102" in out
    await pick(bot, "zhangsan", "submit", "1")
    second = await report_on(bot, "zhangsan", date(2026, 12, 1))
    assert second is not None and second.form_version == 2
    assert second.answers["nat_date"] == "2026-12-01"
    assert second.answers["return_number"] == "G102" and second.answers["vaccine_doses"] == 3


async def test_2022_proxy_report_by_a_reviewer(bot: Bot, tmp_path: Path) -> None:
    await give_basic_info(bot, "zhangsan", "teacher")
    await publish(bot, Y2022, tmp_path)
    await say(bot, "teacher", "代报 zhangsan")
    await say(bot, "teacher", "1")  # the member's phone cannot locate
    out = joined(await say(bot, "teacher", "北京市海淀区中关村南大街27号"))
    assert "体温" in out
    await say(bot, "teacher", "36.6")
    await say(bot, "teacher", "1")  # green
    await say(bot, "teacher", "昨天")
    await say(bot, "teacher", "1")  # negative
    await say(bot, "teacher", "2")
    await say(bot, "teacher", "2")  # no risk-area travel
    await say(bot, "teacher", "2")  # no return planned
    out = joined(await say(bot, "teacher", "无"))
    assert "健康码 Health code：绿码 Green" in out and "返京计划 Return to Beijing：否 No" in out
    seen(bot, "zhangsan")
    await say(bot, "teacher", "1")  # submit
    report = await report_on(bot, "zhangsan", DAY)
    assert report is not None and report.form_version == 2 and report.filled_by == "teacher"
    told = joined(seen(bot, "zhangsan"))
    assert "王老师" in told and "健康码 Health code：绿码 Green" in told


async def test_2022_on_the_member_page(emulator: WeComEmulator, db_url: str,
                                       clock: FixedClock, tmp_path: Path) -> None:
    """/h5/ renders and validates whatever form is in use: the published 2022 one."""
    import re

    from tests.web_helpers import http_client, post_basic_info, sign_in, start_web_bot

    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        await publish(bot, Y2022, tmp_path)
        async with http_client() as http:
            page = await sign_in(http, base, "zhangsan", "/h5/?tab=info")
            token = re.search(r'name="_csrf" value="([^"]+)"', await page.text()).group(1)
            await post_basic_info(http, base, {
                "name": "张三", "staff_no": "2019011234", "mobile": "13800000002",
                "beijing_hukou": "yes", "member_type": "student", "_csrf": token})
            html = await (await http.get(base + "/h5/?tab=daily")).text()
            assert "北京健康宝" in html and "核酸检测" in html and "在校" not in html
            data = {"location.mode": "gps", "location.lat": "39.95", "location.lng": "116.32",
                    "temperature": "36.5", "health_code": "red", "nat_date": "2026-11-29",
                    "nat_result": "negative", "vaccine_doses": "3", "risk_travel": "no",
                    "return_plan": "no", "remarks": "", "_csrf": token}
            bad = await http.post(base + "/h5/daily", data={**data, "vaccine_doses": "7"})
            assert bad.status == 400 and "0" in await bad.text()
            r = await http.post(base + "/h5/daily", data=data)
            assert r.status == 200 and "健康码 Health code：红码 Red" in await r.text()
        report = await report_on(bot, "zhangsan", DAY)
        assert report is not None and report.form_version == 2
        assert report.abnormal_reasons == ["red_code"]
        await bot.settle()
        assert "健康码红码" in joined(bot.new_messages("teacher"))
    finally:
        await bot.stop()


async def test_basic_information_can_be_published_too(bot: Bot, tmp_path: Path) -> None:
    extra = shipped_text("basic_info") + '''
[[question]]
key = "emergency_contact"
kind = "phone"
prompt = { zh = "请输入紧急联系人的手机号。", en = "Your emergency contact's mobile number?" }
label = { zh = "紧急联系人", en = "Emergency contact" }
'''
    await publish(bot, extra, tmp_path)
    await say(bot, "zhangsan", "信息")
    await pick(bot, "zhangsan", "prefill", "1")
    await say(bot, "zhangsan", "2019011234")
    await say(bot, "zhangsan", "13800000002")
    await pick(bot, "zhangsan", "yes", "1")
    out = joined(await pick(bot, "zhangsan", "student", "1"))
    assert "紧急联系人的手机号" in out
    out = joined(await say(bot, "zhangsan", "13900000009"))
    assert "紧急联系人 Emergency contact：13900000009" in out
    await pick(bot, "zhangsan", "submit", "1")
    async with bot.db.session() as session:
        from storage.models import BasicInfo

        info = await session.get(BasicInfo, "zhangsan")
    assert info is not None and info.form_version == 2
    assert info.answers["emergency_contact"] == "13900000009" and info.mobile == "13800000002"
    out = joined(await say(bot, "zhangsan", "信息"))
    assert "紧急联系人 Emergency contact：13900000009" in out
