"""Reviewers end to end: reporting on behalf (代报), abnormal-report alerts and their
acknowledgement, and the unit summary (统计), against a unit tree.

Everything is real: the emulator encrypts each callback as WeCom does and POSTs it to the real
server; replies go through the real outbox sender and client back to the emulator, and we
assert on what each member saw there and on what the database holds.

The tree: 中央民族大学 ← 民族学院 ← 民族学院2021级1班, and 中央民族大学 ← 外国语学院.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from app.emulator.api import WeComEmulator
from bot.clock import FixedClock
from bot.conversation.engine import ConvState
from bot.text import TEXT_LIMIT_BYTES, byte_len
from storage.models import (
    Alert,
    AuditLog,
    BasicInfo,
    CardTask,
    Conversation,
    DailyReport,
    Member,
    Outbox,
)
from tests.harness import (
    Bot,
    cards,
    chinese_only_lines,
    forged_click,
    give_basic_info,
    member,
    set_member,
    start_bot,
    tap,
    use_cards,
)
from tests.test_scheduler import add_report

TODAY = date(2026, 11, 30)
UNIVERSITY, COLLEGE, CLASS, FOREIGN = "中央民族大学", "民族学院", "民族学院2021级1班", "外国语学院"

TREE = f"""userid,name,unit,role,mobile,parent_unit,reviews
admin,管理员,{UNIVERSITY},admin,,,
dean,赵院长,{COLLEGE},reviewer,13800000011,{UNIVERSITY},
classrev,钱老师,{CLASS},reviewer,13800000012,{COLLEGE},
stu1,孙一,{CLASS},member,,{COLLEGE},
stu2,李二,{CLASS},member,,{COLLEGE},
colmem,张院生,{COLLEGE},member,,{UNIVERSITY},
forrev,吴老师,{FOREIGN},reviewer,,{UNIVERSITY},
formem,周外,{FOREIGN},member,,{UNIVERSITY},
"""
EVERYONE = ("admin", "dean", "classrev", "stu1", "stu2", "colmem", "forrev", "formem")

ADDRESS = "北京市海淀区中关村南大街27号"
# A reviewer filling for a member in the text rendering: typed address, then the questions.
NORMAL_AFTER_LOCATION = ["在", "36.5", "没有", "无接触", "无", "无", "提交"]
FEVER_AFTER_LOCATION = ["不在", "38.2", "没有", "无接触", "无", "无", "提交"]


@pytest.fixture
async def tree(emulator: WeComEmulator, db_url: str, clock: FixedClock) -> AsyncIterator[Bot]:
    b = await start_bot(emulator, db_url, clock=clock, roster=TREE)
    yield b
    await b.stop()


async def walk(bot: Bot, userid: str, answers: list[str], *, last_repeat: int = 1
               ) -> list[str]:
    """Type each answer in turn; the last one may be re-sent by WeCom (`last_repeat`)."""
    seen: list[str] = []
    for n, answer in enumerate(answers, start=1):
        repeat = last_repeat if n == len(answers) else 1
        result = await bot.emulator.send_text(userid, answer, repeat=repeat)
        assert result.status == 200, result
        assert all(status == 200 for status, _ in result.deliveries), result
        await bot.settle()
        seen += bot.new_messages(userid)
    return seen


async def proxy_report(bot: Bot, reviewer: str, subject: str, location: list[str],
                       rest: list[str] = NORMAL_AFTER_LOCATION, *, last_repeat: int = 1,
                       why: str = "1") -> list[str]:
    """代报, why (1 the phone cannot locate), the member's location, then the rest."""
    return await walk(bot, reviewer, [f"代报 {subject}", why, *location, *rest],
                      last_repeat=last_repeat)


async def rows(bot: Bot, model: type, *where: object) -> list:
    async with bot.db.session() as session:
        return list((await session.execute(sa.select(model).where(*where))).scalars())


async def reports(bot: Bot) -> list[DailyReport]:
    return await rows(bot, DailyReport)


async def audit(bot: Bot, action: str) -> list[AuditLog]:
    return await rows(bot, AuditLog, AuditLog.action == action)


def drain(bot: Bot, *userids: str) -> None:
    for userid in userids or EVERYONE:
        bot.new_messages(userid)


def nothing_new(bot: Bot, *userids: str) -> None:
    for userid in userids:
        assert bot.new_messages(userid) == [], userid


# ============================================================ reporting on behalf (代报)


async def test_a_class_reviewer_files_a_report_for_a_member_by_typed_address(
        tree: Bot) -> None:
    bot = tree
    # The reviewer's own phone has a fresh position: it must not become the member's location.
    await bot.emulator.enter_app("classrev", 39.95, 116.32)
    await bot.settle()
    drain(bot)
    # One message: whom it is for (name and userid), the day, and the first question.
    (started,) = await bot.say("classrev", "代报 stu1")
    assert "开始为 孙一（stu1）代填 2026-11-30 的健康上报" in started
    assert "为什么代 孙一 填报" in started
    asked = await bot.say("classrev", "1")  # why: the member's phone cannot locate
    assert "请输入 孙一 当前所在的地址" in asked[0]
    seen = await walk(bot, "classrev", [ADDRESS, *NORMAL_AFTER_LOCATION])
    (report,) = await reports(bot)
    assert (report.userid, report.filled_by, report.report_date) == ("stu1", "classrev", TODAY)
    assert report.proxy_reason == "phone_fails"
    assert report.location_kind == "typed" and report.answers["location"]["lat"] is None
    assert report.answers["location"]["label"] == ADDRESS
    assert not report.abnormal
    assert seen[-1].startswith("上报成功！日期：2026-11-30，时间：08:00，回执号："
                               + report.receipt)
    assert ADDRESS in seen[-1]
    # Why the reviewer filled in is in the summary before submitting and in the receipts.
    assert "代填原因 Why filed for them：手机无法定位 No GPS" in seen[-2]
    assert "代填原因 Why filed for them：手机无法定位 No GPS" in seen[-1]
    # The member is told, once, that a report was filed for them and by whom.
    (told,) = bot.new_messages("stu1")
    assert told.startswith(f"钱老师 已为您代填 2026-11-30 的每日上报（08:00，回执号 "
                           f"{report.receipt}）")
    assert ADDRESS in told and "代填原因 Why filed for them：手机无法定位" in told
    # Nobody else hears about a normal report; the reviewer has no report of their own.
    nothing_new(bot, "dean", "admin", "stu2", "forrev")
    assert not await rows(bot, Alert)
    assert not await rows(bot, Conversation)
    # The member's status names the filler.
    (status,) = await bot.say("stu1", "状态")
    assert f"2026-11-30 已上报：08:00，由 钱老师 提交，回执号 {report.receipt}" in status
    # Audit: who, what, when.
    (entry,) = await audit(bot, "proxy.report")
    assert (entry.actor, entry.target) == ("classrev", "stu1")
    assert entry.at == bot.clock.now()
    assert entry.detail.get("receipt") == report.receipt


async def test_a_proxy_report_submitted_just_after_midnight_is_filed_for_its_day(
        tree: Bot) -> None:
    """QA #5: a reviewer's 代报 at the summary at 23:58, 提交 after midnight."""
    bot = tree
    bot.clock.set(bot.clock.now().replace(hour=15, minute=58))  # type: ignore[attr-defined]
    await proxy_report(bot, "classrev", "stu1", [ADDRESS], NORMAL_AFTER_LOCATION[:-1])
    drain(bot)
    bot.clock.advance(minutes=3)  # type: ignore[attr-defined]  # 00:01 in Beijing
    seen = await bot.say("classrev", "提交")
    (report,) = await reports(bot)
    assert (report.userid, report.report_date, report.late) == ("stu1", TODAY, False)
    assert seen[0].startswith(f"上报成功！日期：2026-11-30，时间：00:01，回执号：{report.receipt}")
    (told,) = bot.new_messages("stu1")
    assert told.startswith(f"钱老师 已为您代填 2026-11-30 的每日上报（00:01，回执号 "
                           f"{report.receipt}）")


async def test_unknown_location_with_a_reason_stores_who_filled_and_why(tree: Bot) -> None:
    bot = tree
    reason = "学生手机坏了，无法定位"
    seen = await proxy_report(bot, "dean", "stu2", ["不详", reason])
    (report,) = await reports(bot)
    assert (report.userid, report.filled_by) == ("stu2", "dean")
    assert report.location_kind == "unknown"
    assert report.proxy_reason == f"phone_fails; {reason}"
    assert "请简要说明为什么不清楚其位置" in seen[2]
    assert f"不详 Unknown：{reason}" in seen[-1]
    (told,) = bot.new_messages("stu2")
    assert "赵院长 已为您代填" in told and f"不详 Unknown：{reason}" in told
    (entry,) = await audit(bot, "proxy.report")
    assert (entry.actor, entry.target, entry.detail.get("reason")) == (
        "dean", "stu2", f"phone_fails; {reason}")


async def test_the_reviewers_own_location_is_never_used_for_the_member(tree: Bot) -> None:
    bot = tree
    await bot.say("classrev", "代报 stu1")
    result = await bot.emulator.send_location("classrev", 39.95, 116.32, "中央民族大学")
    assert result.status == 200
    await bot.settle()
    refused = bot.new_messages("classrev")
    assert refused and "代填时请输入对方的地址，不使用您本人的位置" in refused[0]
    # A LOCATION event from entering the app is ignored, too: the question stays.
    await bot.emulator.enter_app("classrev", 39.95, 116.32)
    await bot.settle()
    await walk(bot, "classrev", ["1", ADDRESS, *NORMAL_AFTER_LOCATION])
    (report,) = await reports(bot)
    assert report.location_kind == "typed" and report.answers["location"]["lat"] is None


async def test_refusals_say_why_and_change_nothing(tree: Bot) -> None:
    bot = tree
    await give_basic_info(bot, "stu2")
    await add_report(bot, "stu2")  # stu2 reported themself at 08:00
    drain(bot)
    usage = "请回复“代报 学工号”"
    bad = "请输入学工号、企业微信账号或姓名（文字、数字和 . _ @ - ·），没有做任何更改"
    cases = [
        ("classrev", "代报", usage),
        ("classrev", "proxy", usage),
        ("classrev", "代报 a'; drop table member;--", bad),
        ("classrev", "代报 <script>alert(1)</script>", bad),
        ("classrev", "代报 <script>", bad),
        ("classrev", "proxy stu1 OR 1=1", bad),
        ("classrev", "代报 stu 1", "在您负责审核的单位中没有找到“stu 1”"),
        # Not on the roster and not in one's units get the same answer: no roster probing.
        ("classrev", "代报 nobody", "在您负责审核的单位中没有找到“nobody”"),
        ("classrev", "代报 formem", "在您负责审核的单位中没有找到“formem”"),
        ("classrev", "代报 周外", "在您负责审核的单位中没有找到“周外”"),
        ("classrev", "代报 colmem", "在您负责审核的单位中没有找到“colmem”"),  # parent unit
        ("forrev", "代报 stu1", "在您负责审核的单位中没有找到“stu1”"),
        ("stu1", "代报 stu2", "只有本单位的审核老师可以代填报"),
        ("stu1", "proxy stu1", "只有本单位的审核老师可以代填报"),
        ("classrev", "代报 stu2", "李二 今天已上报：08:00，由 李二 提交（回执号 Rstu230）"),
    ]
    for userid, text, expected in cases:
        (reply,) = await bot.say(userid, text)
        assert expected in reply, text
    # Nothing happened: no form, no report, nobody else told; the member table is intact.
    assert not await rows(bot, Conversation)
    assert [(r.userid, r.filled_by) for r in await reports(bot)] == [("stu2", "stu2")]
    assert len(await rows(bot, Member)) == len(EVERYONE)
    nothing_new(bot, "stu1", "stu2", "colmem", "formem", "dean", "admin")
    assert not await audit(bot, "proxy.report")


async def test_proxy_finds_the_member_by_the_id_they_entered_or_by_name(tree: Bot) -> None:
    bot = tree
    async with bot.db.transaction() as session:  # stu1 typed their real student number
        session.add(BasicInfo(userid="stu1", name="孙一", staff_no="2019011234",
                              mobile="13800000000", beijing_hukou=True, member_type="student",
                              form_version=1, answers={}, submitted_at=bot.clock.now()))
    for query in ("2019011234", "２０１９０１１２３４", "孙一", "STU1",
                  "2019-0112-34", "2019 011 234"):  # as printed on a card
        seen = await bot.say("classrev", f"代报 {query}")
        assert "开始为 孙一（stu1）代填 2026-11-30 的健康上报" in seen[0], query
        (cancelled,) = await bot.say("classrev", "取消")
        assert "已取消本次填写，没有保存任何内容" in cancelled


async def test_proxy_finds_the_member_by_the_english_part_of_the_name(tree: Bot) -> None:
    """QA3 #5: "proxy Zhang San" found nobody called "张三 Zhang San", and the echo was
    lower-cased."""
    bot = tree
    await set_member(bot, "stu1", name="孙一 Sun Yi")
    for query in ("Sun Yi", "sun yi", "SUN YI", "孙一"):
        seen = await bot.say("classrev", f"proxy {query}")
        assert "开始为 孙一 Sun Yi（stu1）代填 2026-11-30 的健康上报" in seen[0], query
        await bot.say("classrev", "取消")
    # Only the whole English part: "Yi" alone names nobody; the query is echoed as typed.
    (reply,) = await bot.say("classrev", "代报 Yi")
    assert "在您负责审核的单位中没有找到“Yi”" in reply
    (reply,) = await bot.say("classrev", "proxy Nobody Here")
    assert "没有找到“Nobody Here”" in reply and "No one called \"Nobody Here\"" in reply
    # Outside one's units, the English part finds nobody either.
    await set_member(bot, "formem", name="周外 Zhou Wai")
    (reply,) = await bot.say("classrev", "proxy Zhou Wai")
    assert "没有找到“Zhou Wai”" in reply
    assert not await rows(bot, Conversation)


async def test_a_name_shared_by_several_members_is_listed_to_choose(tree: Bot) -> None:
    bot = tree
    await set_member(bot, "stu2", name="孙一")
    await set_member(bot, "formem", name="孙一")  # not in 钱老师's units: never listed
    (text,) = await bot.say("classrev", "代报 孙一")
    assert "“孙一”对应多位成员" in text
    assert "代报 stu1" in text and "代报 stu2" in text and "formem" not in text
    assert not await rows(bot, Conversation)
    seen = await bot.say("classrev", "代报 stu2")
    assert "开始为 孙一（stu2）代填 2026-11-30 的健康上报" in seen[0]


async def test_a_paused_proxy_form_restarted_is_stored_for_the_member(tree: Bot,
                                                                     clock: FixedClock) -> None:
    bot = tree
    await walk(bot, "classrev", ["代报 stu1", "1", ADDRESS, "在"])
    clock.advance(minutes=45)  # past form_timeout_minutes
    seen = await walk(bot, "classrev", ["36.5"])
    assert any("还没填完" in m for m in seen)
    seen = await walk(bot, "classrev", ["2"])  # 重新开始
    assert any("代 孙一 填报" in m for m in seen)
    await walk(bot, "classrev", ["1", ADDRESS, *NORMAL_AFTER_LOCATION])
    (report,) = await reports(bot)
    assert (report.userid, report.filled_by) == ("stu1", "classrev")


async def test_already_reported_on_behalf_says_by_whom_and_when(tree: Bot, clock: FixedClock
                                                                ) -> None:
    bot = tree
    await proxy_report(bot, "classrev", "stu1", [ADDRESS])
    (report,) = await reports(bot)
    clock.advance(hours=2)
    drain(bot)
    (reply,) = await bot.say("dean", "代报 stu1")
    assert f"孙一 今天已上报：08:00，由 钱老师 提交（回执号 {report.receipt}）" in reply


async def own_form(bot: Bot, userid: str) -> tuple[str, str, dict | None]:
    """(form, whom it is about, the form paused under it) of the member's open conversation."""
    async with bot.db.session() as session:
        conv = await session.get(Conversation, userid)
    assert conv is not None
    return (conv.form_id, ConvState.from_json(conv.state, owner=userid).subject,
            conv.paused and conv.paused["form_id"])


async def test_a_reviewers_own_form_is_paused_for_proxy_and_comes_back(tree: Bot) -> None:
    """QA (fixes #4): a reviewer with their own form open (basic information, started right
    after the privacy notice) got "请先完成或取消当前正在填写的表单" for 代报/补报. Now their
    form is kept, the command runs, and their form comes back when that one ends."""
    bot = tree
    started = await bot.say("classrev", "信息")  # the reviewer's own basic information
    assert any("花名册中您的姓名：钱老师" in t for t in started)
    drain(bot)
    # 补报, then cancelled: straight back to the reviewer's own question.
    (seen,) = await bot.say("classrev", "补报 stu1 2026-11-29 住院")
    assert "已暂停并保存" in seen and "基本信息" in seen
    assert "补报 2026-11-29 的健康上报" in seen
    assert await own_form(bot, "classrev") == ("daily_report", "stu1", "basic_info")
    back = "\n".join(await bot.say("classrev", "取消"))
    assert "接着填写您自己的“基本信息”" in back and "花名册中您的姓名：钱老师" in back
    assert await own_form(bot, "classrev") == ("basic_info", "classrev", None)
    # 代报, submitted: the member's report is stored and the reviewer's form comes back.
    seen = await bot.say("classrev", "代报 stu1")
    assert "已暂停并保存" in seen[0]
    seen = await walk(bot, "classrev", ["1", ADDRESS, *NORMAL_AFTER_LOCATION])
    (report,) = await reports(bot)
    assert (report.userid, report.filled_by) == ("stu1", "classrev")
    assert "接着填写您自己的“基本信息”" in "\n".join(seen)
    assert "花名册中您的姓名：钱老师" in seen[-1]
    assert await own_form(bot, "classrev") == ("basic_info", "classrev", None)
    # Their own form goes on where it was.
    assert "学工号" in "\n".join(await bot.say("classrev", "1"))


async def test_a_reviewers_paused_form_is_not_sent_again_after_every_command(tree: Bot
                                                                             ) -> None:
    """QA2 #3: with his own basic information open (a card), every reviewer command was
    followed by that card again and 代报/补报 began with three messages; within a minute the
    replies queued behind WeCom's per-member pacing (13-22 s late). Now: one answer per
    command, the open form mentioned once, and nothing waits for the pacer."""
    bot = tree
    await use_cards(bot, "classrev")
    await bot.say("classrev", "信息")  # his own basic information: a card
    drain(bot)
    cards_before = len(cards(bot, "classrev"))

    async def command(text: str) -> list[str]:
        result = await bot.emulator.send_text("classrev", text)
        assert result.status == 200, result
        stats = await bot.settle()  # the clock stands still: all within one minute
        assert not stats.deferred, text
        return bot.new_messages("classrev")

    # 补报 starts with one text (his form paused, whose form, which day, why) and its card.
    started = await command("补报 stu1 2026-11-28 住院无法使用手机")
    assert len(started) == 2, started
    assert "您自己的“基本信息”已暂停并保存" in started[0]
    assert "开始为 孙一（stu1）补报 2026-11-28 的健康上报（原因：住院无法使用手机）" in started[0]
    back = await command("取消")
    assert "接着填写您自己的“基本信息”" in "\n".join(back)
    cards_before = len(cards(bot, "classrev"))
    replies = [await command(text) for text in (
        "免报 stu2 2026-12-04 2026-11-30 请假", "免报 stu2 2026-12-04 2027-12-10 请假",
        "补报 stu1 2026-12-01 住院", "补报 stu1 2026-10-01 住院", "统计", "提醒",
        "免报 formem 2026-12-01 2026-12-02 请假", "免报 stu2 2026-12-01 2026-12-02 请假")]
    assert len(cards(bot, "classrev")) == cards_before  # his card was not sent again
    assert [len(r) for r in replies] == [1] * 8, replies  # one message per command
    noted = ["基本信息”还没有填完" in r[0] for r in replies]
    assert noted == [True] + [False] * 7  # said once
    assert "已为 李二（stu2）设置免报" in replies[-1][0]
    # 上报 goes on with his own form.
    assert "花名册中您的姓名：钱老师" in "\n".join(await command("上报"))


async def test_a_reviewer_filling_in_for_a_member_finishes_that_first(tree: Bot) -> None:
    """QA3 #3: the refusal says whose form is open and that 取消 discards its answers."""
    bot = tree
    await walk(bot, "classrev", ["代报 stu1", "1"])
    for second in ("代报 stu2", "补报 stu2 2026-11-29 住院"):
        seen = await bot.say("classrev", second)
        assert "请先完成或取消当前正在填写的表单：您正在为 孙一 填写“每日上报”，还没有提交" \
            in seen[0], second
        assert "回复“取消”放弃（已填的答案不会保存）" in seen[0]
        assert "请输入 孙一 当前所在的地址" in "\n".join(seen)  # its question again
        assert await own_form(bot, "classrev") == ("daily_report", "stu1", None)
    nothing_new(bot, "stu2")
    await set_member(bot, "classrev", language="en")
    (seen, *_) = await bot.say("classrev", "proxy stu2")
    assert "the Daily report for 孙一 is not submitted yet" in seen
    assert "reply \"cancel\" to discard it (the answers given so far are not kept)" in seen


async def test_the_userid_may_follow_without_a_space_and_in_capitals(tree: Bot) -> None:
    bot = tree
    seen = await bot.say("classrev", "代报STU1")
    assert "开始为 孙一（stu1）代填 2026-11-30 的健康上报" in seen[0]
    await walk(bot, "classrev", ["1", ADDRESS, *NORMAL_AFTER_LOCATION])
    (report,) = await reports(bot)
    assert (report.userid, report.filled_by) == ("stu1", "classrev")


async def test_proxy_for_oneself_is_the_ordinary_report(tree: Bot) -> None:
    bot = tree
    await give_basic_info(bot, "classrev")
    seen = await bot.say("classrev", "代报 classrev")
    assert "请发送您当前的位置" in seen[0] and "代填" not in seen[0]


async def test_a_member_who_cannot_locate_asks_and_the_reviewer_reports_for_them(
        tree: Bot) -> None:
    bot = tree
    await give_basic_info(bot, "stu1")
    await walk(bot, "stu1", ["上报", "定位失败"])
    seen = await bot.say("stu1", "请老师代填")
    assert any("已通知本单位审核老师 钱老师、赵院长 为您代填今日上报" in m for m in seen)
    request = "孙一（stu1）无法获取定位，请求您代为填报 2026-11-30 的每日上报"
    (to_class,) = bot.new_messages("classrev")
    (to_dean,) = bot.new_messages("dean")  # the parent unit's reviewer too
    assert request in to_class and request in to_dean
    assert "回复“代报 stu1”开始代填" in to_class  # what to do about it (QA3 #6)
    nothing_new(bot, "forrev", "admin", "stu2")
    assert not await rows(bot, Conversation)
    await proxy_report(bot, "classrev", "stu1", ["不详", "定位失败，学生请求代填"])
    (report,) = await reports(bot)
    assert (report.userid, report.filled_by) == ("stu1", "classrev")
    assert report.proxy_reason == "phone_fails; 定位失败，学生请求代填"
    (told,) = bot.new_messages("stu1")
    assert "钱老师 已为您代填" in told
    # The request is closed: the other reviewer asked learns it is done, once.
    (done,) = bot.new_messages("dean")
    assert "孙一（stu1）的代填请求已由 钱老师 完成，无需再代填" in done
    (closed,) = await audit(bot, "proxy.request_closed")
    assert (closed.actor, closed.target) == ("classrev", "stu1")


async def test_a_card_reviewer_starts_the_requested_proxy_report_with_its_button(
        tree: Bot, clock: FixedClock) -> None:
    """QA3 #6: a reviewer on the WeCom client gets the member's request as a card whose 代报
    button starts the report; a click once it is filed changes nothing."""
    bot = tree
    await use_cards(bot, "classrev")
    await give_basic_info(bot, "stu1")
    await walk(bot, "stu1", ["上报", "定位失败", "请老师代填"])
    (task_id,) = [d.task_id for d in cards(bot, "classrev")
                  if d.task_id and d.task_id.startswith("proxyreq_")]
    card = bot.emulator.card(task_id, "classrev")
    assert "孙一（stu1）无法获取定位，请求您代为填报 2026-11-30 的每日上报" in card.text
    assert "回复“代报 stu1”" in card.text
    assert card.button_names == ["代报 Report"]
    drain(bot)
    seen = await tap(bot, "classrev", "proxy:stu1", task_id=task_id)
    assert "开始为 孙一（stu1）代填 2026-11-30 的健康上报" in "\n".join(seen)
    assert await own_form(bot, "classrev") == ("daily_report", "stu1", None)
    # A second click (the client greys a clicked card; a late duplicate still may come)
    # while it is open: the open form is named, nothing new is started.
    clock.advance(minutes=1)
    seen = await forged_click(bot, "classrev", task_id, "proxy:stu1")
    assert "您正在为 孙一 填写“每日上报”" in "\n".join(seen)
    await set_member(bot, "classrev", rendering="text")
    await walk(bot, "classrev", ["1", ADDRESS, *NORMAL_AFTER_LOCATION])
    (report,) = await reports(bot)
    assert (report.userid, report.filled_by) == ("stu1", "classrev")
    drain(bot)
    # Once filed, a stale click only says so.
    clock.advance(minutes=1)
    seen = await forged_click(bot, "classrev", task_id, "proxy:stu1")
    assert "孙一 今天已上报" in "\n".join(seen)
    assert len(await reports(bot)) == 1 and not await rows(bot, Conversation)
    # A forged key on that card changes nothing.
    clock.advance(minutes=1)
    seen = await forged_click(bot, "classrev", task_id, "proxy:stu2")
    assert "这张卡片已失效，没有做任何更改" in "\n".join(seen)
    assert not await rows(bot, Conversation)


async def test_help_lists_the_reviewer_commands_for_reviewers_only(tree: Bot) -> None:
    """QA3 #4: reviewers (and admins) see their commands with their arguments."""
    bot = tree
    for reviewer in ("classrev", "admin"):
        seen = "\n".join(await bot.say(reviewer, "帮助"))
        assert "命令：上报｜信息" in seen  # the members' commands first
        for line in ("· 统计：", "· 提醒：", "· 代报 学工号：", "· 补报 学工号 日期 原因：",
                     "· 免报 学工号 开始日期 结束日期 原因：", "· 确认 N："):
            assert line in seen, (reviewer, line)
        assert seen.index("命令：上报") < seen.index("审核老师命令")
    seen = "\n".join(await bot.say("stu1", "帮助"))
    assert "命令：上报｜信息" in seen and "审核老师命令" not in seen and "免报" not in seen
    await set_member(bot, "classrev", language="en")
    seen = "\n".join(await bot.say("classrev", "help"))
    assert "- late ID DATE REASON: file a past day" in seen
    assert "- exempt ID FROM TO REASON" in seen and "审核" not in seen


async def test_a_member_reporting_while_the_reviewer_fills_keeps_their_own_report(
        tree: Bot) -> None:
    bot = tree
    await give_basic_info(bot, "stu1")
    await walk(bot, "classrev", ["代报 stu1", "1", ADDRESS, "在", "36.5"])
    # Meanwhile the member files their own report.
    await walk(bot, "stu1", ["上报", "定位失败", "输入地址", "北京市朝阳区", "在", "36.4",
                             "没有", "无接触", "无", "无", "提交"])
    (own,) = await reports(bot)
    assert own.filled_by == "stu1"
    seen = await walk(bot, "classrev", ["没有", "无接触", "无", "无", "提交"])
    # The reviewer learns whose report it is, who filed it and when.
    assert f"孙一 今天已上报：08:00，由 孙一 提交（回执号 {own.receipt}）" in seen[-1]
    (report,) = await reports(bot)
    assert report.filled_by == "stu1" and report.receipt == own.receipt
    assert not await audit(bot, "proxy.report")
    assert not await rows(bot, Conversation)
    assert not any("代填" in text for text in bot.new_messages("stu1"))


async def test_the_members_own_open_report_is_stopped_when_the_reviewer_files_it(
        tree: Bot) -> None:
    """QA (fixes #5): a member halfway through today's report while their reviewer files it
    for them: the member's form is stopped and they are told who filed it (no second
    report, no form left hanging)."""
    bot = tree
    await give_basic_info(bot, "stu1")
    await use_cards(bot, "stu1")
    await walk(bot, "stu1", ["上报", "定位失败", "输入地址", "北京市朝阳区"])
    assert (await own_form(bot, "stu1"))[:2] == ("daily_report", "stu1")
    drain(bot, "stu1")
    await proxy_report(bot, "classrev", "stu1", [ADDRESS])
    (report,) = await reports(bot)
    assert report.filled_by == "classrev"
    told = "\n".join(bot.new_messages("stu1"))
    assert "钱老师 已为您代填 2026-11-30 的每日上报" in told
    assert "您正在填写的 2026-11-30 每日上报已停止" in told
    assert not await rows(bot, Conversation, Conversation.userid == "stu1")
    # Nothing left to answer: the old card is out of date, typing is no answer.
    from tests.harness import cards, tap

    assert "已失效" in "\n".join(await tap(bot, "stu1", "yes",
                                           task_id=cards(bot, "stu1")[-1].task_id))
    assert "已上报" in "\n".join(await bot.say("stu1", "上报"))
    assert len(await reports(bot)) == 1


# ============================================================ abnormal-report alerts


def alert_texts(bot: Bot, userid: str) -> list[str]:
    return [t for t in bot.new_messages(userid) if "异常提醒" in t]


async def test_one_alert_per_abnormal_report_even_when_the_submit_is_resent(tree: Bot) -> None:
    bot = tree
    drain(bot)
    await proxy_report(bot, "admin", "stu1", [ADDRESS], FEVER_AFTER_LOCATION, last_repeat=4)
    (report,) = await reports(bot)
    assert report.abnormal and report.abnormal_reasons == ["fever"]
    (alert,) = await rows(bot, Alert)
    assert alert.report_id == report.id and alert.reasons == ["fever"]
    assert alert.acknowledged_by is None
    # Both the class's and the college's reviewers, once each; nobody else.
    for reviewer in ("classrev", "dean"):
        (text,) = alert_texts(bot, reviewer)
        assert text.startswith("异常提醒：孙一（stu1）2026-11-30 的上报有异常：发热。")
        assert "38.2℃" in text
        assert f"异常编号 #{alert.id}。处理后请回复“确认 {alert.id}”" in text
    nothing_new(bot, "forrev", "formem", "stu2", "colmem")
    assert len([t for t in bot.new_messages("stu1") if "代填" in t]) == 1
    assert len(await rows(bot, Outbox, Outbox.touser.in_(("classrev", "dean")))) == 2


async def test_a_members_own_abnormal_report_alerts_their_reviewers_once(tree: Bot) -> None:
    bot = tree
    await give_basic_info(bot, "stu2")
    drain(bot)
    # Cough (3) and contact with a case (1), submitted with WeCom re-sending the callback.
    await walk(bot, "stu2", ["上报", "定位失败", "输入地址", ADDRESS, "在", "36.6", "3", "1",
                             "无", "无", "提交"], last_repeat=4)
    (report,) = await reports(bot)
    assert report.filled_by == "stu2" and report.abnormal_reasons == ["symptoms", "contact"]
    assert len(await rows(bot, Alert)) == 1
    for reviewer in ("classrev", "dean"):
        (text,) = alert_texts(bot, reviewer)
        assert text.startswith("异常提醒：李二（stu2）2026-11-30 的上报有异常："
                               "有症状、接触确诊/疑似病例。")
    nothing_new(bot, "forrev", "admin")
    assert not await audit(bot, "proxy.report")  # a member's own report is no proxy action


async def test_a_normal_report_alerts_nobody(tree: Bot) -> None:
    bot = tree
    drain(bot)
    await proxy_report(bot, "dean", "colmem", [ADDRESS])
    assert not await rows(bot, Alert)
    nothing_new(bot, "classrev", "admin", "forrev")
    assert not [t for t in bot.new_messages("dean") if "异常" in t]


@pytest.mark.parametrize(("location", "rest", "reasons"), [
    ([ADDRESS], ["在", "36.5", "没有", "无接触", "居家", "2026-11-28", "无", "提交"],
     ["quarantine"]),
    ([ADDRESS], ["在", "37.3", "没有", "无接触", "无", "无", "提交"], ["fever"]),
    ([ADDRESS], ["在", "37.2", "没有", "无接触", "无", "无", "提交"], []),
])
async def test_what_counts_as_abnormal(tree: Bot, location: list[str], rest: list[str],
                                       reasons: list[str]) -> None:
    bot = tree
    drain(bot)
    await proxy_report(bot, "admin", "stu1", location, rest)
    (report,) = await reports(bot)
    assert report.abnormal_reasons == reasons
    assert len(await rows(bot, Alert)) == (1 if reasons else 0)
    assert len(alert_texts(bot, "classrev")) == (1 if reasons else 0)


async def test_a_return_from_abroad_alerts(tree: Bot) -> None:
    bot = tree
    async with bot.db.transaction() as session:  # yesterday stu1 was in Japan
        session.add(DailyReport(receipt="RJAPAN", userid="stu1", report_date=TODAY - timedelta(1),
                                form_version=1, location_kind="abroad", country="日本",
                                answers={"location": {"kind": "abroad", "country": "日本"}},
                                filled_by="stu1", submitted_at=bot.clock.now()))
    drain(bot)
    # The typed address names a city, so the change from Japan asks for a reason.
    await proxy_report(bot, "classrev", "stu1", [ADDRESS, "回国"])
    today = [r for r in await reports(bot) if r.report_date == TODAY]
    assert today[0].abnormal_reasons == ["city_changed", "abroad_return"]
    (text,) = alert_texts(bot, "dean")
    assert text.startswith("异常提醒：孙一（stu1）2026-11-30 的上报有异常："
                           "所在城市变化、从国外返回。")


def alert_card(bot: Bot, userid: str) -> str:
    (task_id,) = [d.task_id for d in bot.emulator.inbox(userid)
                  if d.msgtype == "template_card" and d.task_id
                  and d.task_id.startswith("alert_")]
    return task_id


async def test_a_card_reviewer_acknowledges_with_the_button(tree: Bot, clock: FixedClock
                                                            ) -> None:
    bot = tree
    await use_cards(bot, "dean")
    await proxy_report(bot, "admin", "stu1", [ADDRESS], FEVER_AFTER_LOCATION)
    (alert,) = await rows(bot, Alert)
    task_id = alert_card(bot, "dean")
    card = bot.emulator.card(task_id, "dean")
    assert not card.disabled
    assert "孙一" in card.text and "发热" in card.text and CLASS in card.text
    # Both languages on every line (QA #7), and the number that "确认 N" needs.
    assert chinese_only_lines(card.text) == [], card.text
    assert f"#{alert.id}" in card.text
    assert card.button_names == ["已知悉 Acknowledge"]
    drain(bot)
    clock.advance(minutes=20)
    result = await bot.emulator.click_button("dean", task_id, f"ack:{alert.id}", repeat=4)
    assert result.status == 200
    await bot.settle()
    assert f"已确认异常 #{alert.id}（孙一），已记录" in bot.new_messages("dean")[0]
    (alert,) = await rows(bot, Alert)
    assert alert.acknowledged_by == "dean" and alert.acknowledged_at == clock.now()
    card = bot.emulator.card(task_id, "dean")
    assert card.disabled
    assert card.button_names == ["已确认 Done"]
    (task,) = await rows(bot, CardTask, CardTask.task_id == task_id)
    assert not task.live
    (entry,) = await audit(bot, "alert.ack")  # once, though the click came four times
    assert (entry.actor, entry.target, entry.at) == ("dean", str(alert.id), clock.now())
    # The class reviewer (text) now learns who acknowledged it and when.
    clock.advance(minutes=5)
    (reply,) = await bot.say("classrev", f"确认 {alert.id}")
    assert f"异常 #{alert.id} 已由 赵院长 于 08:20 确认" in reply
    (alert,) = await rows(bot, Alert)
    assert alert.acknowledged_by == "dean"
    assert len(await audit(bot, "alert.ack")) == 1


async def test_a_second_card_reviewer_sees_who_acknowledged_first(tree: Bot) -> None:
    bot = tree
    await use_cards(bot, "dean")
    await use_cards(bot, "classrev")
    await proxy_report(bot, "admin", "stu2", [ADDRESS], FEVER_AFTER_LOCATION)
    (alert,) = await rows(bot, Alert)
    first, second = alert_card(bot, "classrev"), alert_card(bot, "dean")
    assert first != second
    await bot.emulator.click_button("classrev", first, f"ack:{alert.id}")
    await bot.settle()
    drain(bot, "dean")
    await bot.emulator.click_button("dean", second, f"ack:{alert.id}")
    await bot.settle()
    assert f"异常 #{alert.id} 已由 钱老师 于 08:00 确认" in bot.new_messages("dean")[0]
    assert bot.emulator.card(second, "dean").disabled
    (alert,) = await rows(bot, Alert)
    assert alert.acknowledged_by == "classrev"


async def test_a_text_reviewer_acknowledges_by_number(tree: Bot, clock: FixedClock) -> None:
    bot = tree
    await proxy_report(bot, "admin", "stu1", [ADDRESS], FEVER_AFTER_LOCATION)
    (alert,) = await rows(bot, Alert)
    drain(bot)
    (reply,) = await bot.say("classrev", f"确认 #{alert.id}")
    assert f"已确认异常 #{alert.id}（孙一），已记录" in reply
    (alert,) = await rows(bot, Alert)
    assert (alert.acknowledged_by, alert.acknowledged_at) == ("classrev", clock.now())
    (reply,) = await bot.say("dean", f"ack {alert.id}")
    assert f"异常 #{alert.id} 已由 钱老师 于 08:00 确认" in reply


async def test_members_and_other_units_cannot_acknowledge(tree: Bot) -> None:
    bot = tree
    await proxy_report(bot, "admin", "stu1", [ADDRESS], FEVER_AFTER_LOCATION)
    (alert,) = await rows(bot, Alert)
    drain(bot)
    for userid, text in (("stu2", f"确认 {alert.id}"), ("stu1", f"确认 {alert.id}"),
                         ("forrev", f"确认 {alert.id}"), ("formem", f"ack {alert.id}"),
                         ("classrev", "确认 999"), ("classrev", "确认 abc")):
        number = text.split()[1]
        (reply,) = await bot.say(userid, text)
        assert f"没有找到您可处理的异常 #{number}，没有做任何更改" in reply, text
    (alert,) = await rows(bot, Alert)
    assert alert.acknowledged_by is None and alert.acknowledged_at is None
    assert not await audit(bot, "alert.ack")


async def test_ack_inside_a_form_answers_and_says_once_that_the_form_waits(tree: Bot
                                                                         ) -> None:
    bot = tree
    await proxy_report(bot, "admin", "stu1", [ADDRESS], FEVER_AFTER_LOCATION)
    (alert,) = await rows(bot, Alert)
    drain(bot)
    await bot.say("classrev", "代报 stu2")
    (ack,) = await bot.say("classrev", f"确认 {alert.id}")
    waits = ack
    assert f"已确认异常 #{alert.id}（孙一），已记录" in ack
    assert "为 李二 填写的“每日上报”还没有提交" in waits and "回复“上报”接着填" in waits
    assert "为什么代 李二 填报" in "\n".join(await bot.say("classrev", "上报"))


# ============================================================ the authorisation matrix

# What each actor may do: report for 孙一 (class member), 张院生 (member of the parent
# college) or 周外 (another college); acknowledge the alert of 孙一's report; see units in 统计.
MATRIX = {
    #           proxy: stu1  colmem  formem  ack    units in 统计
    "stu2":     (False,      False,  False,  False, None),
    "classrev": (True,       False,  False,  True,  [CLASS]),
    "dean":     (True,       True,   False,  True,  [COLLEGE, CLASS]),
    "admin":    (True,       True,   True,   True,  [UNIVERSITY, FOREIGN, COLLEGE, CLASS]),
    "forrev":   (False,      False,  True,   False, [FOREIGN]),
}
SUBJECTS = {"stu1": "孙一", "colmem": "张院生", "formem": "周外"}
PROXY, ACK, STATS = 0, 3, 4


@pytest.mark.parametrize("actor", list(MATRIX))
@pytest.mark.parametrize("subject", list(SUBJECTS))
async def test_matrix_proxy_report(tree: Bot, actor: str, subject: str) -> None:
    bot = tree
    allowed = MATRIX[actor][PROXY + list(SUBJECTS).index(subject)]
    name = SUBJECTS[subject]
    seen = await bot.say(actor, f"代报 {subject}")
    if not allowed:
        refusal = ("只有本单位的审核老师可以代填报" if actor == "stu2"
                   else f"在您负责审核的单位中没有找到“{subject}”")
        assert len(seen) == 1 and refusal in seen[0]
        assert not await rows(bot, Conversation)
        assert not await audit(bot, "proxy.report")
        nothing_new(bot, subject)
        return
    assert f"开始为 {name}（{subject}）代填 2026-11-30 的健康上报" in seen[0]
    await walk(bot, actor, ["1", ADDRESS, *NORMAL_AFTER_LOCATION])
    (report,) = await reports(bot)
    assert (report.userid, report.filled_by) == (subject, actor)
    (entry,) = await audit(bot, "proxy.report")
    assert (entry.actor, entry.target) == (actor, subject)
    (told,) = bot.new_messages(subject)
    by = (await member(bot, actor)).name
    assert told.startswith(f"{by} 已为您代填 2026-11-30 的每日上报（08:00，回执号 "
                           f"{report.receipt}）")


@pytest.mark.parametrize("actor", list(MATRIX))
async def test_matrix_stats(tree: Bot, actor: str) -> None:
    bot = tree
    expected = MATRIX[actor][STATS]
    seen = await bot.say(actor, "统计")
    if expected is None:
        assert len(seen) == 1 and "统计只对审核老师和管理员开放" in seen[0]
        assert not await audit(bot, "stats")
        return
    text = "\n".join(seen)
    shown = [unit for unit in (UNIVERSITY, FOREIGN, COLLEGE, CLASS) if f"【{unit}】" in text]
    assert sorted(shown) == sorted(expected)
    (entry,) = await audit(bot, "stats")
    assert (entry.actor, entry.target, entry.at) == (actor, "2026-11-30", bot.clock.now())


@pytest.mark.parametrize("actor", list(MATRIX))
async def test_matrix_alert_acknowledge(tree: Bot, actor: str, clock: FixedClock) -> None:
    bot = tree
    await give_basic_info(bot, "stu1")
    await walk(bot, "stu1", ["上报", "定位失败", "输入地址", ADDRESS, "在", "38.5", "没有",
                             "无接触", "无", "无", "提交"])
    (alert,) = await rows(bot, Alert)
    drain(bot)
    clock.advance(minutes=3)
    allowed = MATRIX[actor][ACK]
    seen = await bot.say(actor, f"确认 {alert.id}")
    (alert,) = await rows(bot, Alert)
    if allowed:
        assert len(seen) == 1 and f"已确认异常 #{alert.id}（孙一），已记录" in seen[0]
        assert (alert.acknowledged_by, alert.acknowledged_at) == (actor, clock.now())
        (entry,) = await audit(bot, "alert.ack")
        assert (entry.actor, entry.target) == (actor, str(alert.id))
    else:
        assert len(seen) == 1 and f"没有找到您可处理的异常 #{alert.id}" in seen[0]
        assert alert.acknowledged_by is None
        assert not await audit(bot, "alert.ack")


# ============================================================ 统计 / stats


async def test_stats_counts_and_names_for_the_reviewers_units(tree: Bot) -> None:
    bot = tree
    await give_basic_info(bot, "stu1", "colmem", "classrev")
    await add_report(bot, "stu1", abnormal=True, abnormal_reasons=["fever"])
    await proxy_report(bot, "dean", "stu2", [ADDRESS])
    await set_member(bot, "colmem", following=False)
    drain(bot)
    seen = await bot.say("dean", "统计")
    assert len(seen) == 1
    (text,) = seen
    assert text.startswith("2026-11-30 上报统计")
    college = (f"【{COLLEGE}】共 2 人，已报 0（本人 0，代填 0），未报 2，异常 0，未关注 1，"
               "未填基本信息 1")
    klass = (f"【{CLASS}】共 3 人，已报 2（本人 1，代填 1），未报 1，异常 1，未关注 0，"
             "未填基本信息 1")
    assert college in text and klass in text
    assert text.index(college) < text.index(klass)  # grouped, one unit after the other
    college_part = text[text.index(college):text.index(klass)]
    class_part = text[text.index(klass):]
    assert "未报 Missing：张院生、赵院长" in college_part
    assert "未关注 Not following：张院生" in college_part
    assert "未填基本信息 No basic info：赵院长" in college_part
    assert "未报 Missing：钱老师" in class_part
    assert "异常 Abnormal：孙一" in class_part
    assert "未填基本信息 No basic info：李二" in class_part
    assert "周外" not in text and FOREIGN not in text
    # English for an English-speaking reviewer.
    await set_member(bot, "classrev", language="en")
    (english,) = await bot.say("classrev", "stats")
    assert english.startswith("Reports for 2026-11-30")
    assert f"[{CLASS}] 3 members, 2 reported (1 self, 1 on behalf), 1 missing" in english
    assert "Missing: 钱老师" in english or "Missing：钱老师" in english
    assert COLLEGE + "]" not in english
    assert [e.actor for e in await audit(bot, "stats")] == ["dean", "classrev"]


async def test_stats_in_a_form_answers_and_says_once_that_the_form_waits(tree: Bot) -> None:
    """QA2 #3: the open form is not sent again after every command (its card each time made
    the replies queue behind WeCom's per-member pacing); it is mentioned once."""
    bot = tree
    await bot.say("classrev", "代报 stu1")
    (stats,) = await bot.say("classrev", "统计")  # one message: the answer, then the note
    assert stats.startswith("2026-11-30 上报统计")
    waits = stats
    assert "为 孙一 填写的“每日上报”还没有提交" in waits
    (again,) = await bot.say("classrev", "统计")
    assert again.startswith("2026-11-30 上报统计")
    # Going on with the form: its question again, and the next command says it once more.
    assert "为什么代 孙一 填报" in "\n".join(await bot.say("classrev", "上报"))
    assert "还没有提交" in "\n".join(await bot.say("classrev", "统计"))


async def test_a_long_summary_is_paged_under_the_limit_grouped_by_unit(tree: Bot) -> None:
    bot = tree
    now = bot.clock.now()
    names = [f"学生{n:03d}号" for n in range(400)]
    async with bot.db.transaction() as session:
        session.add_all(Member(userid=f"s{n:03d}", name=name, unit_id=CLASS, created_at=now,
                               updated_at=now) for n, name in enumerate(names))
    await give_basic_info(bot, *[f"s{n:03d}" for n in range(0, 400, 2)])
    drain(bot)
    pages = await bot.say("dean", "统计")  # the WeChat plugin: text only
    assert len(pages) > 1
    for n, page in enumerate(pages, start=1):
        assert byte_len(page) <= TEXT_LIMIT_BYTES, n
        assert page.endswith(f"({n}/{len(pages)})")
    deliveries = bot.emulator.inbox("dean")[-len(pages):]
    assert all(d.msgtype == "text" and d.visible and not d.truncated for d in deliveries)
    text = "\n".join(pages)
    # Grouped by unit: the college, then the class with its 403 members.
    assert text.index(f"【{COLLEGE}】") < text.index(f"【{CLASS}】")
    assert (f"【{CLASS}】共 403 人，已报 0（本人 0，代填 0），未报 403，异常 0，未关注 0，"
            "未填基本信息 203") in text
    # Every name is whole on some page (never cut across two messages).
    for name in names:
        assert any(name in page for page in pages), name
    # A page that continues a unit's list says which unit it belongs to.
    for page in pages[1:]:
        first = page.split("\n", 1)[0]
        assert first.startswith("【"), first


async def test_a_reviewers_own_abnormal_report_goes_to_the_reviewers_above(tree: Bot) -> None:
    bot = tree
    await give_basic_info(bot, "classrev")
    drain(bot)
    seen = await walk(bot, "classrev", ["上报", "定位失败", "输入地址", ADDRESS, "在", "37.8",
                                        "没有", "无接触", "无", "无", "提交"])
    assert not [t for t in seen if "异常提醒" in t]  # not alerted about themself
    (alert,) = await rows(bot, Alert)
    (text,) = alert_texts(bot, "dean")
    assert text.startswith("异常提醒：钱老师（classrev）2026-11-30 的上报有异常：发热。")
    # Nobody acknowledges their own alert; the college's reviewer does.
    (reply,) = await bot.say("classrev", f"确认 {alert.id}")
    assert f"没有找到您可处理的异常 #{alert.id}，没有做任何更改" in reply
    (reply,) = await bot.say("dean", f"确认 {alert.id}")
    assert f"已确认异常 #{alert.id}（钱老师），已记录" in reply


async def test_a_card_reviewer_on_the_wecom_client_reads_the_summary_too(tree: Bot) -> None:
    bot = tree
    await use_cards(bot, "dean")
    await add_report(bot, "stu1")
    drain(bot)
    (text,) = await bot.say("dean", "统计")
    (delivered,) = bot.emulator.inbox("dean")[-1:]
    assert delivered.msgtype == "text" and delivered.visible
    assert (f"【{CLASS}】共 3 人，已报 1（本人 1，代填 0），未报 2，异常 0，未关注 0，"
            "未填基本信息 3") in text


async def test_a_unit_without_any_reviewer_alerts_the_admins(emulator, db_url, clock) -> None:
    """Nobody reviews 无人学院: its abnormal reports and proxy requests reach the admin."""
    from tests.harness import start_bot

    roster = ("userid,name,unit,role,mobile,parent_unit,reviews\n"
              "boss,校管理员,学校,admin,,,\n"
              "alone,孤单,无人学院,member,,,\n")
    bot = await start_bot(emulator, db_url, clock=clock, roster=roster)
    try:
        await give_basic_info(bot, "alone")
        await bot.say("alone", "上报")
        for answer in ("在国外", "日本"):
            await bot.say("alone", answer)
        await bot.say("alone", "1")  # on campus? -> whatever the first option is
        await bot.say("alone", "38.5")
        texts = []
        for _ in range(12):  # answer the rest with the first option / "无" until submitted
            seen = await bot.say("alone", "1")
            texts += seen
            if any("回执号" in t for t in seen):
                break
        assert any("回执号" in t for t in texts), texts
        admin_seen = bot.new_messages("boss")
        assert len(admin_seen) == 1 and "孤单" in admin_seen[0] and "确认" in admin_seen[0]
    finally:
        await bot.stop()


async def test_continue_typed_at_a_proxy_country_question_is_not_the_country(tree: Bot) -> None:
    """QA3 #1: "位置 Location：在国外 Abroad：继续" was stored and sent to the member."""
    bot = tree
    drain(bot)
    seen = await walk(bot, "classrev", ["代报 stu1", "1", "在国外"])
    assert "请输入 孙一 所在的国家或地区" in seen[-1]
    (again,) = await bot.say("classrev", "继续")
    assert "表单继续填写" in again and "请输入 孙一 所在的国家或地区" in again
    (again,) = await bot.say("classrev", "continue")
    assert "表单继续填写" in again and "请输入 孙一 所在的国家或地区" in again
    (restarted,) = await bot.say("classrev", "重新开始")
    # Starting over is for the same member: the form's subject stays.
    assert "已重新开始" in restarted and "开始为 孙一（stu1）代填" in restarted
    await walk(bot, "classrev", ["1", "在国外", "日本", *NORMAL_AFTER_LOCATION[1:]])
    (report,) = await reports(bot)
    assert report.userid == "stu1" and report.answers["location"]["country"] == "日本"
