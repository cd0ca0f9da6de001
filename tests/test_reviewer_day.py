"""A reviewer's day, end to end against the emulator: 补报 (a past day filed late), 免报
(exemptions), 提醒 (remind the unit now), trends, and notices with read receipts — in the chat
and at the command line. Bad input gets a clear answer and changes nothing.

The unit tree is the one of `test_reviewer_dialogs`: 中央民族大学 ← 民族学院 ← 民族学院2021级1班,
and 中央民族大学 ← 外国语学院.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from app.cli import build_parser
from app.emulator.cards import render_card
from scheduler.jobs import JobDeps, _reminder_message, run_job
from storage.export import export_rows, write_csv
from storage.models import (
    AuditLog,
    BasicInfo,
    CardTask,
    Conversation,
    DailyReport,
    Exemption,
    NoticeRecipient,
    Outbox,
)
from storage.summary import unit_summaries
from storage.trends import sparkline, unit_trend
from tests.harness import chinese_only_lines, last_card, tap, use_cards
from tests.harness import Bot
from tests.test_reviewer_dialogs import (
    ADDRESS,
    CLASS,
    COLLEGE,
    NORMAL_AFTER_LOCATION,
    add_report,
    audit,
    drain,
    give_basic_info,
    nothing_new,
    reports,
    rows,
    set_member,
    tree,  # noqa: F401  (fixture)
    walk,
)

TODAY = date(2026, 11, 30)
YESTERDAY = TODAY - timedelta(days=1)


async def roster_imported_days_ago(bot: Bot, days: int = 30) -> None:
    """The test roster is imported "now"; a trend over past days needs it imported before."""
    from storage.models import Member

    async with bot.db.transaction() as session:
        await session.execute(sa.update(Member).values(
            created_at=bot.clock.now() - timedelta(days=days)))


def deps(bot: Bot) -> JobDeps:
    return JobDeps(bot.settings, bot.db, bot.clock)


async def cli(bot: Bot, *argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    args.clock = bot.clock
    return await args.run(args, bot.settings)


# ============================================================ 补报


async def test_a_reviewer_files_yesterday_late_for_a_member(tree: Bot) -> None:  # noqa: F811
    bot = tree
    drain(bot)
    started = await bot.say("classrev", "补报 stu1 2026-11-29 住院无法使用手机")
    assert "开始为 孙一（stu1）补报 2026-11-29 的健康上报（原因：住院" in started[0]
    # The reason was given with 补报: "why are you reporting for 孙一?" is not asked again.
    why = "为什么代 孙一 填报"
    assert not any(why in text for text in started)
    assert any("请输入 2026-11-29 当天 孙一 所在的地址" in text for text in started)
    seen = await walk(bot, "classrev", [ADDRESS, *NORMAL_AFTER_LOCATION])
    assert not any(why in text for text in seen)
    (report,) = await reports(bot)
    assert (report.userid, report.report_date, report.filled_by) == ("stu1", YESTERDAY,
                                                                     "classrev")
    # The reason is stored once, as the report's late_reason (QA: it was also copied into
    # proxy_reason and the location answer).
    assert report.late and report.late_reason == "住院无法使用手机"
    assert report.proxy_reason is None and not report.answers["location"].get("proxy_reason")
    assert seen[-1].startswith(f"补报成功！孙一 2026-11-29 的健康上报，补报于 2026-11-30 "
                               f"08:00，回执号：{report.receipt}，原因：住院无法使用手机")
    (told,) = bot.new_messages("stu1")
    assert told.startswith(f"钱老师 于 08:00 为您补报了 2026-11-29 的健康上报（回执号 "
                           f"{report.receipt}），原因：住院无法使用手机")
    (entry,) = await audit(bot, "late.report")
    assert (entry.actor, entry.target, entry.detail["day"], entry.detail["late_reason"]) == (
        "classrev", "stu1", "2026-11-29", "住院无法使用手机")
    # Today is still open for the member: the late day is not today's report.
    (status,) = await bot.say("stu1", "状态")
    assert "2026-11-30 还没有上报" in status
    # Marked late in the export and the stats of that day.
    async with bot.db.session() as session:
        (row,) = [r for r in await export_rows(session, YESTERDAY, YESTERDAY, CLASS)
                  if r.userid == "stu1"]
        (klass,) = await unit_summaries(session, YESTERDAY, {CLASS}, tz=bot.clock.tz)
    assert (row.status, row.late, row.note) == ("reported", True, "住院无法使用手机")
    stream = io.StringIO()
    write_csv([row], stream)
    header, cells = list(csv.reader(io.StringIO(stream.getvalue())))
    assert dict(zip(header, cells, strict=True))["late"] == "yes"
    assert klass.reported_late == 1 and klass.reported == 1


@pytest.mark.parametrize("typed", ["11-29", "２０２６-１１-２９", "11/29", "11月29日", "昨天",
                                   "yesterday", "2026年11月29日"])
async def test_late_takes_the_dates_the_forms_take(tree: Bot, typed: str) -> None:  # noqa: F811
    """QA3 #14: 补报 took only YYYY-MM-DD, though the forms' date questions take these."""
    bot = tree
    drain(bot)
    started = await bot.say("classrev", f"补报 stu1 {typed} 住院")
    assert "开始为 孙一（stu1）补报 2026-11-29 的健康上报（原因：住院" in started[0], typed


async def test_late_and_exempt_take_month_day_dates(tree: Bot) -> None:  # noqa: F811
    bot = tree
    drain(bot)
    (reply,) = await bot.say("classrev", "补报 stu1 12-2 住院")  # not a past day
    assert "补报只能补过去的日子（今天是 2026-11-30）" in reply
    (reply,) = await bot.say("classrev", "免报 stu2 12-1 12-20 请假")
    assert "2026-12-01" in reply and "2026-12-20" in reply
    (exemption,) = await rows(bot, Exemption)
    assert (exemption.start, exemption.end) == (date(2026, 12, 1), date(2026, 12, 20))


async def test_a_late_report_speaks_of_its_own_day_not_today(tree: Bot) -> None:  # noqa: F811
    """QA2 #7: a 补报 asked "still in 日本?" from a LATER report, "今天的体温", "与昨天相同"
    and its receipt looked like today's. Now every question names the day being filed, the
    location question looks only at days before it, and the summary and the receipt say
    补报 with the reason."""
    bot = tree
    # 孙一's only report so far is today's, filed from abroad (Japan).
    await walk(bot, "classrev", ["代报 stu1", "1", "在国外", "日本", "在", "36.5", "没有",
                                 "无接触", "无", "无", "提交"])
    drain(bot)
    started = "\n".join(await bot.say("classrev", "补报 stu1 2026-11-27 住院无法使用手机"))
    assert "日本" not in started
    assert "请输入 2026-11-27 当天 孙一 所在的地址" in started
    seen = "\n".join(await walk(bot, "classrev", [ADDRESS, "在"]))
    assert "请输入 孙一 2026-11-27 的体温" in seen and "今天" not in seen
    seen = "\n".join(await walk(bot, "classrev", ["36.5", "没有", "无接触", "无", "无"]))
    assert "请核对 孙一 2026-11-27 的补报（原因：住院无法使用手机）" in seen
    (receipt,) = await bot.say("classrev", "提交")
    assert receipt.startswith("补报成功！孙一 2026-11-27 的健康上报，补报于 2026-11-30 08:00，")
    assert "原因：住院无法使用手机" in receipt
    # The next day: same as the day before that day, in its own words.
    seen = "\n".join(await walk(bot, "classrev", ["补报 stu1 2026-11-28 住院", ADDRESS]))
    assert "孙一 前一天（2026-11-27）的上报" in seen
    assert "孙一 2026-11-28 的情况与前一天（2026-11-27）相同吗？位置按 2026-11-28 的为准" in seen
    assert "昨天" not in seen and "今天" not in seen
    # The member's country (today's report) is not changed by a past day's answers.
    async with bot.db.session() as session:
        from storage.models import Member
        assert (await session.get(Member, "stu1")).abroad_country == "日本"


@pytest.mark.parametrize(("who", "typed", "expected"), [
    ("stu2", "补报 stu1 2026-11-29 生病", "只有审核老师可以为本单位成员补报"),
    ("stu1", "补报 stu1 2026-11-29 忘了", "成员不能补报过去的日子"),
    ("classrev", "补报 stu1", "请回复“补报 学工号 日期 原因”"),
    ("classrev", "补报 stu1 2026-11-29", "补报需要写明原因"),
    ("classrev", "补报 stu1 2026-02-30 生病", "“2026-02-30”不是日期"),
    ("classrev", "补报 stu1 13-45 生病", "“13-45”不是日期"),
    ("classrev", "补报 stu1 前日 生病", "“前日”不是日期"),
    ("classrev", "补报 stu1 2026-11-30 生病", "补报只能补过去的日子（今天是 2026-11-30）"),
    ("classrev", "补报 stu1 2026-12-01 生病", "补报只能补过去的日子（今天是 2026-11-30）"),
    ("classrev", "补报 stu1 2026-10-01 生病", "只能补报最近 30 天内的日子"),
    ("classrev", "补报 classrev 2026-11-29 忘了", "不能为自己补报过去的日子"),
    # Not in one's units and not on the roster: one answer (no roster probing).
    ("forrev", "补报 stu1 2026-11-29 生病", "在您负责审核的单位中没有找到“stu1”"),
    ("classrev", "补报 nobody 2026-11-29 生病", "在您负责审核的单位中没有找到“nobody”"),
    ("classrev", "补报 st*1 2026-11-29 生病", "请输入学工号、企业微信账号或姓名"),
])
async def test_late_refusals_change_nothing(tree: Bot, who: str, typed: str,  # noqa: F811
                                            expected: str) -> None:
    bot = tree
    drain(bot)
    (reply,) = await bot.say(who, typed)
    assert expected in reply
    assert await reports(bot) == []
    assert await rows(bot, Conversation) == []
    nothing_new(bot, "stu1")


async def test_late_and_exempt_find_the_member_as_proxy_does(tree: Bot) -> None:  # noqa: F811
    """By student/staff ID, userid or name; several of one name are listed; a member of
    another unit, by ID or name, gets the same answer as nobody at all."""
    bot = tree
    drain(bot)
    async with bot.db.transaction() as session:
        for userid, staff_no in (("stu1", "2019011234"), ("formem", "L2020001")):
            session.add(BasicInfo(userid=userid, name=userid, staff_no=staff_no,
                                  mobile="13800000000", beijing_hukou=True,
                                  member_type="student", form_version=1, answers={},
                                  submitted_at=bot.clock.now()))
    for typed, query in (("补报 L2020001 2026-11-29 生病", "L2020001"),
                         ("补报 周外 2026-11-29 生病", "周外"),
                         ("免报 L2020001 2026-11-30 2026-12-05 请假", "L2020001"),
                         ("免报 周外 2026-11-30 2026-12-05 请假", "周外")):
        (reply,) = await bot.say("classrev", typed)
        # echoed as typed (QA3 #5: it was lower-cased)
        assert f"在您负责审核的单位中没有找到“{query}”" in reply
    done = await bot.say("classrev", "免报 李二 2026-11-30 2026-12-05 请假")
    assert "已为 李二（stu2）设置免报：2026-11-30 至 2026-12-05，原因：请假" in done[0]
    started = await bot.say("classrev", "补报 2019011234 2026-11-29 住院")
    assert "开始为 孙一（stu1）补报 2026-11-29 的健康上报（原因：住院" in started[0]
    assert await bot.say("classrev", "取消")
    await set_member(bot, "stu2", name="孙一")
    (text,) = await bot.say("classrev", "补报 孙一 2026-11-29 住院")
    assert "“孙一”对应多位成员" in text
    assert "孙一（学工号 2019011234，账号 stu1）" in text
    assert "stu2" in text and "formem" not in text
    assert await rows(bot, Conversation) == [] and await reports(bot) == []


async def test_a_day_already_reported_is_not_filed_again(tree: Bot) -> None:  # noqa: F811
    bot = tree
    await add_report(bot, "stu1", YESTERDAY)
    (report,) = await reports(bot)
    (reply,) = await bot.say("dean", "补报 stu1 2026-11-29 生病")
    assert (f"孙一 在 2026-11-29 已有上报，由 孙一 提交（回执号 {report.receipt}），无需补报"
            in reply)
    assert await rows(bot, Conversation) == []


async def test_cli_late_report_copies_a_report_and_tells_the_member(tree: Bot,  # noqa: F811
                                                                    capsys) -> None:
    bot = tree
    async with bot.db.transaction() as session:
        session.add(DailyReport(receipt="RSTU127", userid="stu1",
                                report_date=TODAY - timedelta(days=3), form_version=1,
                                answers={"temperature": 36.4, "on_campus": True},
                                temperature=36.4, city="北京市", filled_by="stu1",
                                submitted_at=bot.clock.now()))
    drain(bot)
    assert await cli(bot, "report", "late", "stu1", "2026-11-29", "--by", "classrev",
                     "--reason", "在医院") == 0
    assert "receipt" in capsys.readouterr().out
    report = next(r for r in await reports(bot) if r.report_date == YESTERDAY)
    assert (report.late, report.late_reason, report.filled_by) == (True, "在医院", "classrev")
    assert report.answers["temperature"] == 36.4 and not report.abnormal
    await bot.settle()
    (told,) = bot.new_messages("stu1")
    assert told.startswith(f"钱老师 于 08:00 为您补报了 2026-11-29 的健康上报（回执号 "
                           f"{report.receipt}），原因：在医院")
    # Refusals: another unit's reviewer, no report to copy, a member, the future.
    for argv, message in [
        (["stu1", "2026-11-28", "--by", "forrev"], "not in a unit forrev reviews"),
        (["stu2", "2026-11-28", "--by", "classrev"], "has no report before that day"),
        (["stu1", "2026-11-28", "--by", "stu2"], "stu2 is not a reviewer"),
        (["stu1", "2026-11-30", "--by", "classrev"], "is not a past day"),
        (["stu1", "2026-11-29", "--by", "classrev"], "already has a report"),
    ]:
        assert await cli(bot, "report", "late", *argv, "--reason", "x") == 2, argv
        captured = capsys.readouterr()
        assert message in captured.err and "nothing was changed" in captured.err, argv
    assert len(await reports(bot)) == 2


# ============================================================ 免报


async def test_an_exempt_member_is_not_reminded_nor_missing(tree: Bot) -> None:  # noqa: F811
    bot = tree
    await give_basic_info(bot, "stu1", "stu2")
    drain(bot)
    (done,) = await bot.say("classrev", "免报 stu2 2026-11-30 2026-12-05 请假回家")
    assert "已为 李二（stu2）设置免报：2026-11-30 至 2026-12-05，原因：请假回家" in done
    assert "期间不提醒、不计未报" in done
    (told,) = bot.new_messages("stu2")
    assert "钱老师 为您设置了免报：2026-11-30 至 2026-12-05（请假回家）" in told
    (entry,) = await audit(bot, "exempt")
    assert (entry.actor, entry.target) == ("classrev", "stu2")
    # Not reminded.
    await run_job(deps(bot), "morning_reminder")
    await bot.settle()
    assert bot.new_messages("stu1") and not bot.new_messages("stu2")
    bot.new_messages("classrev")  # the reviewer's own reminder (no report, no basic info yet)
    # Not missing: exempt in the stats, the digest and the export.
    async with bot.db.session() as session:
        (klass,) = await unit_summaries(session, TODAY, {CLASS}, tz=bot.clock.tz)
        exported = {r.userid: r for r in await export_rows(session, TODAY, TODAY, CLASS)}
    assert klass.exempt == ["李二"] and [uid for uid, _ in klass.missing] == ["classrev",
                                                                              "stu1"]
    assert (exported["stu2"].status, exported["stu2"].note) == ("exempt", "请假回家")
    assert exported["stu1"].status == "missing"
    drain(bot, "classrev")  # classrev's own reminder
    await run_job(deps(bot), "reviewer_digest")
    await bot.settle()
    (digest,) = bot.new_messages("classrev")
    assert "免报 Exempt：李二" in digest
    assert "已报中补报 0；免报 1（不计入未报）" in digest
    # The day after the exemption ends, stu2 is due again.
    async with bot.db.session() as session:
        (later,) = await unit_summaries(session, date(2026, 12, 6), {CLASS}, tz=bot.clock.tz)
    assert later.exempt == [] and "stu2" in [uid for uid, _ in later.missing]


@pytest.mark.parametrize(("who", "typed", "expected"), [
    ("stu1", "免报 stu2 2026-11-30 2026-12-05 请假", "只有审核老师可以设置免报"),
    ("classrev", "免报 stu2 2026-11-30", "请回复“免报 学工号 开始日期 结束日期 原因”"),
    ("classrev", "免报 stu2 2026-11-30 2026-12-05", "免报需要写明原因"),
    ("classrev", "免报 stu2 2026-12-05 2026-11-30 请假",
     "开始日期 2026-12-05 晚于结束日期 2026-11-30，没有做任何更改"),
    ("classrev", "免报 stu2 2026-11-01 2026-11-20 请假",
     "免报的结束日期已经过去（今天是 2026-11-30）"),
    ("classrev", "免报 stu2 2026-12-01 2027-12-01 请假", "一次免报最多 200 天"),
    ("classrev", "免报 stu2 12月41日 2026-12-05 请假", "“12月41日”不是日期"),
    # Not in one's units and not on the roster: one answer (no roster probing).
    ("forrev", "免报 stu2 2026-11-30 2026-12-05 请假", "在您负责审核的单位中没有找到“stu2”"),
    ("classrev", "免报 nobody 2026-11-30 2026-12-05 请假",
     "在您负责审核的单位中没有找到“nobody”"),
    ("classrev", "免报 2019011234 2026-11-30 2026-12-05 请假",
     "在您负责审核的单位中没有找到“2019011234”"),
    # QA2 #9: the true reason, not "not in a unit you review" (he is, it is his own).
    ("classrev", "免报 classrev 2026-11-30 2026-12-05 请假", "不能为自己设置免报"),
])
async def test_exempt_refusals_change_nothing(tree: Bot, who: str, typed: str,  # noqa: F811
                                              expected: str) -> None:
    bot = tree
    drain(bot)
    (reply,) = await bot.say(who, typed)
    assert expected in reply
    assert await rows(bot, Exemption) == []
    assert await audit(bot, "exempt") == []
    nothing_new(bot, "stu2")


async def test_cli_roster_exempt(tree: Bot, capsys) -> None:  # noqa: F811
    bot = tree
    assert await cli(bot, "roster", "exempt", "stu1", "--from", "2026-11-30", "--to",
                     "2026-12-31", "--reason", "毕业离校", "--by", "教务处") == 0
    assert "stu1 (孙一) is exempt from 2026-11-30 to 2026-12-31" in capsys.readouterr().out
    (exemption,) = await rows(bot, Exemption)
    assert (exemption.created_by, exemption.reason) == ("教务处", "毕业离校")
    assert await cli(bot, "roster", "exempt", "stu1", "--from", "2026-12-31", "--to",
                     "2026-11-30", "--reason", "x") == 2
    assert "is after" in capsys.readouterr().err
    assert await cli(bot, "roster", "exempt", "nobody", "--from", "2026-11-30", "--to",
                     "2026-11-30", "--reason", "x") == 2
    assert "no 'nobody' in the roster" in capsys.readouterr().err
    assert await cli(bot, "roster", "exempt", "stu1", "--from", "2026-11-30", "--to",
                     "2026-11-30", "--reason", "  ") == 2
    assert len(await rows(bot, Exemption)) == 1


# ============================================================ 提醒


async def test_remind_now_reaches_the_units_non_reporters_once_an_hour(
        tree: Bot) -> None:  # noqa: F811
    bot = tree
    await give_basic_info(bot, "stu1", "stu2", "colmem", "formem", "classrev")
    await add_report(bot, "colmem")
    drain(bot)
    # The dean reviews the college and the class: stu1 and stu2 and classrev are due.
    (said,) = await bot.say("dean", "提醒")
    assert "08:00 已提醒 3 人；一小时内已提醒过的 0 人这次跳过" in said
    for userid in ("stu1", "stu2", "classrev"):
        (reminder,) = bot.new_messages(userid)
        assert "赵院长 提醒您：今天（2026-11-30）还没有健康上报" in reminder
    nothing_new(bot, "colmem", "formem")
    # Again at once, or by the class reviewer: nobody is reminded twice within the hour.
    bot.clock.advance(minutes=30)
    (said,) = await bot.say("classrev", "提醒")
    assert "08:30 已提醒 0 人；一小时内已提醒过的 2 人这次跳过" in said
    nothing_new(bot, "stu1", "stu2")
    # An hour later, whoever has still not reported is reminded again.
    await add_report(bot, "stu1")
    bot.clock.advance(minutes=31)
    (said,) = await bot.say("dean", "提醒")
    assert "09:01 已提醒 2 人；一小时内已提醒过的 0 人这次跳过" in said
    (reminder,) = bot.new_messages("stu2")
    assert "赵院长 提醒您：今天（2026-11-30）还没有健康上报" in reminder
    nothing_new(bot, "stu1")
    assert [e.detail for e in await audit(bot, "remind.now")] == [
        {"reminded": 3, "recently": 0, "no_info": 0},
        {"reminded": 0, "recently": 2, "no_info": 0},
        {"reminded": 2, "recently": 0, "no_info": 0}]


async def test_remind_now_reaches_members_without_basic_information(
        tree: Bot) -> None:  # noqa: F811
    bot = tree  # rollout day: nobody in the class has basic information yet
    drain(bot)
    (said,) = await bot.say("classrev", "提醒")
    assert ("08:00 已提醒 2 人（其中 2 人还没有填写基本信息，已提醒其先填基本信息）；"
            "一小时内已提醒过的 0 人这次跳过") in said
    for userid in ("stu1", "stu2"):
        (reminder,) = bot.new_messages(userid)
        assert "钱老师 提醒您：今天（2026-11-30）还没有健康上报" in reminder
        assert "您还没有填写基本信息：回复“上报”先填基本信息（只需一次）" in reminder
    (entry,) = await audit(bot, "remind.now")
    assert entry.detail == {"reminded": 2, "recently": 0, "no_info": 2}


async def test_remind_now_words_each_member_like_the_scheduled_reminders(
        tree: Bot) -> None:  # noqa: F811
    """QA finding 5: a reviewer's 提醒 told a member without basic information to "file
    today's report", which he cannot do yet. Now it says what the scheduled reminders say:
    basic information first (his 上报 starts it), the daily wording for the others."""
    bot = tree
    await give_basic_info(bot, "stu2")  # stu1 has no basic information yet
    drain(bot)
    (said,) = await bot.say("classrev", "提醒")
    assert ("08:00 已提醒 2 人（其中 1 人还没有填写基本信息，已提醒其先填基本信息）；"
            "一小时内已提醒过的 0 人这次跳过") in said
    assert "08:00: 2 members reminded (1 without basic information yet, told to fill it in " \
        "first)" in said
    (first,) = bot.new_messages("stu1")
    assert first.startswith("钱老师 提醒您：今天（2026-11-30）还没有健康上报。您还没有填写基本"
                            "信息：回复“上报”先填基本信息（只需一次），填完直接开始今天的上报。")
    assert "You haven't filled in your basic information yet" in first
    (daily,) = bot.new_messages("stu2")
    assert daily.startswith("钱老师 提醒您：今天（2026-11-30）还没有健康上报，回复“上报”即可开始。")
    assert "基本信息" not in daily and "basic information" not in daily
    # What the reminder says works: stu1's 上报 starts basic information, stu2's the report.
    started = "\n".join(await bot.say("stu1", "上报"))
    assert "请先填写基本信息" in started
    assert (await rows(bot, Conversation, Conversation.userid == "stu1"))[0].form_id == \
        "basic_info"
    await bot.say("stu2", "上报")
    assert (await rows(bot, Conversation, Conversation.userid == "stu2"))[0].form_id == \
        "daily_report"
    # Without anyone lacking basic information, the answer does not mention it.
    bot.clock.advance(minutes=61)
    await give_basic_info(bot, "stu1", "classrev", "colmem")
    (said,) = await bot.say("dean", "提醒")
    assert "09:01 已提醒 4 人；一小时内已提醒过的 0 人这次跳过" in said
    assert "其中" not in said.split("\n")[0]
    (again,) = bot.new_messages("stu1")
    assert "赵院长 提醒您：今天（2026-11-30）还没有健康上报，回复“上报”即可开始" in again


async def test_remind_now_on_cards_says_basic_information_comes_first(
        tree: Bot) -> None:  # noqa: F811
    bot = tree
    await give_basic_info(bot, "stu2")
    await use_cards(bot, "stu1")
    await use_cards(bot, "stu2")
    drain(bot)
    await bot.say("classrev", "提醒")
    no_info, with_info = last_card(bot, "stu1"), last_card(bot, "stu2")
    assert no_info.task_id != with_info.task_id  # two wordings, two cards
    assert "您还没有填写基本信息：点“立即上报”先填基本信息（只需一次）" in no_info.text
    assert "Tap \"Report now\": your basic information first (once only)" in no_info.text
    assert "…" not in no_info.text  # the whole text fits the card
    assert "基本信息" not in with_info.text and "点“立即上报”即可开始" in with_info.text
    for card in (no_info, with_info):
        assert chinese_only_lines(card.text, allowed=["钱老师"]) == [], card.text
        assert "回复" not in card.text and "reply" not in card.text.lower()
    seen = "\n".join(await tap(bot, "stu1", "report"))
    assert "请先填写基本信息" in seen
    assert (await rows(bot, Conversation, Conversation.userid == "stu1"))[0].form_id == \
        "basic_info"


async def test_remind_now_skips_the_exempt_and_is_for_reviewers(tree: Bot) -> None:  # noqa: F811
    bot = tree
    await give_basic_info(bot, "stu1", "stu2", "formem")
    await add_report(bot, "stu1")
    async with bot.db.transaction() as session:
        session.add(Exemption(userid="stu2", start=TODAY, end=TODAY, reason="住院",
                              created_by="classrev", created_at=bot.clock.now()))
    drain(bot)
    (said,) = await bot.say("classrev", "提醒")
    assert "您负责的单位今天（2026-11-30）需要上报的成员都已上报，无需提醒" in said
    nothing_new(bot, "stu2")
    for userid, typed in (("stu1", "提醒"), ("formem", "remind")):
        (refused,) = await bot.say(userid, typed)
        assert "只有审核老师可以提醒本单位成员" in refused
    async with bot.db.session() as session:
        keys = list((await session.execute(
            sa.select(Outbox.dedupe_key).where(Outbox.dedupe_key.like("remindnow:%")))).scalars())
    assert keys == []


async def test_remind_now_on_cards_opens_the_report(tree: Bot) -> None:  # noqa: F811
    bot = tree
    await give_basic_info(bot, "stu1")
    await use_cards(bot, "stu1")
    drain(bot)
    await bot.say("classrev", "提醒")
    card = last_card(bot, "stu1")
    assert chinese_only_lines(card.text, allowed=["钱老师"]) == [], card.text
    assert "回复“上报”" not in card.text and "Reply \"report\"" not in card.text
    seen = await tap(bot, "stu1", "report")
    assert any("定位" in text or "位置" in text for text in seen), seen
    assert await rows(bot, Conversation)


# ============================================================ the reviewer's own report

OWN_DUE = "您本人今天（2026-11-30）还没有上报：回复“上报”即可开始。"
OWN_DUE_EN = "You yourself haven't filed today's (2026-11-30) report yet: reply \"report\""
OWN_NO_INFO = ("您本人今天（2026-11-30）还没有上报，且还没有填写基本信息：回复“上报”先填基本信息"
               "（只需一次），填完直接开始今天的上报。")


async def test_a_reviewer_who_has_not_reported_is_told_at_stats_and_remind(
        tree: Bot) -> None:  # noqa: F811
    """QA finding 4: a reviewer asking about his units was never told that he himself had not
    reported today. 统计 says it under the header, 提醒 under its answer, until he reports."""
    bot = tree
    await give_basic_info(bot, "stu1", "stu2", "classrev")
    drain(bot)
    (stats,) = await bot.say("classrev", "统计")
    assert OWN_DUE in stats and OWN_DUE_EN in stats
    assert stats.index(OWN_DUE) < stats.index("【")  # right under the header, before units
    assert "钱老师" in stats.split("【", 1)[1]  # and he is still listed among the missing
    (said,) = await bot.say("classrev", "提醒")
    assert said.startswith("08:00 已提醒 2 人") and OWN_DUE in said and OWN_DUE_EN in said
    # Everyone else has reported: nobody to remind, but he still has to.
    await add_report(bot, "stu1")
    await add_report(bot, "stu2")
    bot.clock.advance(minutes=5)
    (said,) = await bot.say("classrev", "提醒")
    assert "需要上报的成员都已上报，无需提醒" in said and OWN_DUE in said
    # In English for an English-speaking reviewer: the English half only.
    await set_member(bot, "classrev", language="en")
    (english,) = await bot.say("classrev", "stats")
    assert OWN_DUE_EN in english and OWN_DUE not in english
    await set_member(bot, "classrev", language=None)
    # Once he has reported, neither answer says it.
    await bot.say("classrev", "上报")  # his own form open meanwhile changes nothing
    await add_report(bot, "classrev")
    for typed in ("统计", "提醒"):
        answer = "\n".join(await bot.say("classrev", typed))
        assert "您本人" not in answer and "You yourself" not in answer, typed
    # The other reviewers are not told about him.
    (dean,) = await bot.say("dean", "统计")
    assert OWN_DUE not in dean


async def test_a_reviewer_without_basic_information_is_told_it_comes_first(
        tree: Bot) -> None:  # noqa: F811
    bot = tree  # the dean has no basic information
    drain(bot)
    (stats,) = await bot.say("dean", "统计")
    assert OWN_NO_INFO in stats and OWN_DUE not in stats
    assert "and your basic information comes first: reply \"report\"" in stats
    (said,) = await bot.say("dean", "提醒")
    assert OWN_NO_INFO in said
    # What it says works: his 上报 starts basic information.
    assert "请先填写基本信息" in "\n".join(await bot.say("dean", "上报"))


async def test_an_exempt_reviewer_is_not_told_to_report(tree: Bot) -> None:  # noqa: F811
    bot = tree
    async with bot.db.transaction() as session:
        session.add(Exemption(userid="classrev", start=TODAY, end=TODAY, reason="出差",
                              created_by="dean", created_at=bot.clock.now()))
    drain(bot)
    for typed in ("统计", "提醒"):
        answer = "\n".join(await bot.say("classrev", typed))
        assert "您本人" not in answer and "You yourself" not in answer, typed
    # Not exempt tomorrow: told again.
    bot.clock.advance(days=1)
    (stats,) = await bot.say("classrev", "统计")
    assert "您本人今天（2026-12-01）还没有上报，且还没有填写基本信息" in stats


@pytest.mark.parametrize("variant", [
    (lang, "cards", same, info) for lang in ("zh", "en") for same in (True, False)
    for info in (True, False)])
@pytest.mark.parametrize("job", ["daily_reminder", "second_reminder"])
def test_reminder_cards_are_bilingual(variant: tuple[str, str, bool, bool], job: str) -> None:
    message = _reminder_message(variant, job, TODAY, "t1")
    text = render_card(message["template_card"])
    if variant[0] == "zh":
        assert chinese_only_lines(text) == [], text
    else:
        assert not re.search(r"[\u4e00-\u9fff]", text), text
    assert "Reply \"report\"" not in text and "回复“上报”" not in text
    assert "reply" not in text.lower() and "回复" not in text  # a card is tapped


# ============================================================ trends


def test_sparkline() -> None:
    assert sparkline([0.0, 0.25, 0.5, 0.75, 1.0]) == "▁▃▅▇█"
    assert sparkline([None, 1.2, -1]) == "·█▁"
    assert sparkline([]) == ""


async def test_trend_counts_per_day_and_unit_and_the_admin_summary_sparkline(
        tree: Bot, tmp_path, capsys) -> None:  # noqa: F811
    bot = tree
    await roster_imported_days_ago(bot)
    for back in range(6, -1, -1):  # stu1 every day, stu2 only the last three days
        day = TODAY - timedelta(days=back)
        await add_report(bot, "stu1", day, abnormal=back == 0, abnormal_reasons=["fever"]
                         if back == 0 else [])
        if back < 3:
            await add_report(bot, "stu2", day)
    async with bot.db.session() as session:
        series = await unit_trend(session, TODAY, 7, {CLASS}, tz=bot.clock.tz)
    points = series[CLASS]
    assert [(p.reported, p.missing, p.abnormal) for p in points] == [
        (1, 2, 0)] * 4 + [(2, 1, 0)] * 2 + [(2, 1, 1)]
    # The 20:00 admin summary ends with the 7-day line of each unit.
    await run_job(deps(bot), "admin_summary")
    await bot.settle()
    summary = "\n".join(bot.new_messages("admin"))
    trends = summary[summary.index("近7日上报率"):]  # the summary's last part
    assert f"【{CLASS}】▃▃▃▃▆▆▆ 今日 67%" in trends
    # The CLI prints the same numbers and draws a chart.
    out = tmp_path / "trend.png"
    assert await cli(bot, "report", "trend", "--days", "7", "--unit", CLASS,
                     "--output", str(out)) == 0
    printed = capsys.readouterr().out
    assert f"{CLASS}  ▃▃▃▃▆▆▆" in printed and f"({CLASS})" not in printed  # id = name
    assert "  2026-11-30         2        1       0         1     0    67%" in printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert await cli(bot, "report", "trend", "--days", "0") == 2
    assert await cli(bot, "report", "trend", "--unit", "没有") == 2
    assert await cli(bot, "report", "trend", "--output", "x.jpg") == 2


async def test_the_digest_says_better_or_worse_than_yesterday(tree: Bot) -> None:  # noqa: F811
    bot = tree
    await roster_imported_days_ago(bot)
    await add_report(bot, "stu1", YESTERDAY)
    await add_report(bot, "stu2", YESTERDAY)
    await add_report(bot, "stu1")
    drain(bot)
    await run_job(deps(bot), "reviewer_digest")
    await bot.settle()
    (digest,) = bot.new_messages("classrev")
    assert "比昨天差：上报率 33%（昨天 67%）" in digest
    await add_report(bot, "stu2")
    await add_report(bot, "classrev")
    async with bot.db.transaction() as session:
        await session.execute(sa.delete(Outbox))
    await run_job(deps(bot), "reviewer_digest")
    await bot.settle()
    (digest,) = bot.new_messages("classrev")
    assert "比昨天好：上报率 100%（昨天 67%）" in digest


# ============================================================ notices


async def test_a_text_notice_and_its_read_receipts(tree: Bot, tmp_path, capsys) -> None:  # noqa: F811
    bot = tree
    notice = tmp_path / "notice.txt"
    notice.write_text("关于寒假离校的通知\n请各位同学离校前完成健康上报。\n", encoding="utf-8")
    drain(bot)
    assert await cli(bot, "notice", "send", "--unit", CLASS, str(notice)) == 0
    assert "notice #1 queued for 3 members" in capsys.readouterr().out
    await bot.settle()
    for userid in ("stu1", "stu2", "classrev"):
        (text,) = bot.new_messages(userid)
        assert text.startswith("【通知 #1】关于寒假离校的通知\n"
                               "请各位同学离校前完成健康上报。\n")
        assert "读完请回复“已读 1”" in text
    nothing_new(bot, "dean", "formem")
    (reply,) = await bot.say("stu1", "已读 1")
    assert "已记录：您已阅读通知 #1" in reply
    bot.clock.advance(minutes=5)
    for userid, typed, expected in (
            ("stu1", "已读 1", "您已于 08:00 阅读通知 #1"),  # when they first read it
            ("stu2", "已读", "已记录：您已阅读通知 #1"),
            ("stu2", "已读", "您没有未读的通知"),
            ("formem", "已读 1", "没有发给您的通知 #1"),
            ("stu1", "已读 x", "没有发给您的通知 #x")):
        (reply,) = await bot.say(userid, typed)
        assert expected in reply, (userid, typed)
    assert await cli(bot, "notice", "status", "1") == 0
    status = capsys.readouterr().out
    assert "2/3 read" in status and "unread  classrev  钱老师" in status
    assert "read    stu1  孙一  2026-11-30 08:00" in status
    assert [e.action for e in await rows(bot, AuditLog) if e.action.startswith("notice")] == [
        "notice.send", "notice.status"]
    # Bad input: unknown unit, empty file, unknown notice: nothing sent.
    assert await cli(bot, "notice", "send", "--unit", "没有", str(notice)) == 2
    empty = tmp_path / "empty.txt"
    empty.write_text("\n", encoding="utf-8")
    assert await cli(bot, "notice", "send", str(empty)) == 2
    assert await cli(bot, "notice", "status", "9") == 2
    assert len({r.notice_id for r in await rows(bot, NoticeRecipient)}) == 1


async def test_a_card_notice_has_a_read_button(tree: Bot, tmp_path) -> None:  # noqa: F811
    bot = tree
    await use_cards(bot, "stu1")
    notice = tmp_path / "notice.txt"
    notice.write_text("返校通知\n12月5日前返校。", encoding="utf-8")
    drain(bot)
    assert await cli(bot, "notice", "send", "--cards", str(notice)) == 0
    await bot.settle()
    assert bot.new_messages("stu2")[0].startswith("【通知 #1】返校通知")  # text on the plugin
    seen = await tap(bot, "stu1", "read:1")
    assert any("已记录：您已阅读通知 #1" in text for text in seen)
    async with bot.db.session() as session:
        row = await session.get(NoticeRecipient, (1, "stu1"))
        tasks = list((await session.execute(
            sa.select(CardTask).where(CardTask.purpose == "notice"))).scalars())
    assert row is not None and row.read_at == bot.clock.now()
    assert tasks and all(t.ref == "1" for t in tasks)
    # A too-long notice is refused before anything is stored.
    long = tmp_path / "long.txt"
    long.write_text("标题\n" + "很长的通知。" * 400, encoding="utf-8")
    assert await cli(bot, "notice", "send", str(long)) == 2
    async with bot.db.session() as session:
        assert (await session.execute(sa.select(sa.func.count()).select_from(DailyReport))
                ).scalar() == 0


async def test_days_before_the_roster_was_imported_count_nobody_missing(
        tree: Bot, tmp_path, capsys) -> None:  # noqa: F811
    """QA3 #8: the trend counted every member missing on the days before the roster was
    imported, while the export (rightly) listed nobody. One rule: who was in the roster by the
    day's end, and anyone with a report for the day (a 补报 of a day before they joined)."""
    bot = tree  # the roster was imported today, 2026-11-30
    await add_report(bot, "stu1", TODAY - timedelta(days=2), late=True)  # a 补报
    async with bot.db.session() as session:
        series = await unit_trend(session, TODAY, 3, {CLASS}, tz=bot.clock.tz)
    assert [(p.day.day, p.total, p.reported, p.missing) for p in series[CLASS]] == [
        (28, 1, 1, 0), (29, 0, 0, 0), (30, 3, 0, 3)]
    assert [p.rate for p in series[CLASS]][:2] == [1.0, None]
    async with bot.db.session() as session:
        rows = await export_rows(session, TODAY - timedelta(days=2), TODAY, CLASS,
                                 tz=bot.clock.tz)
    assert [(r.day.day, r.userid) for r in rows if r.day < TODAY] == [(28, "stu1")]
    assert sum(1 for r in rows if r.day == TODAY) == 3  # the export agrees


async def test_a_late_report_abroad_asks_where_the_member_was_on_that_day(  # noqa: F811
        tree: Bot) -> None:
    """QA3 #13: 补报 asked the address "was on 2026-11-29" but the country "is in"."""
    bot = tree
    drain(bot)
    await bot.say("classrev", "补报 stu1 2026-11-29 住院无法使用手机")
    (country,) = await bot.say("classrev", "在国外")
    assert "请输入 2026-11-29 当天 孙一 所在的国家或地区" in country
    assert "Type the country or region 孙一 was in on 2026-11-29" in country
    (again,) = await bot.say("classrev", "继续")
    assert "表单继续填写" in again and "2026-11-29 当天 孙一 所在的国家或地区" in again
