"""Member-side dialogs end to end: whole transcripts through the real callback endpoint.

The emulator encrypts each callback as WeCom does and POSTs it to the running server, which
applies it to a real database; the real outbox sender delivers the replies back to the emulator,
and every assertion is about what the member saw (or what was stored). Choice questions are
answered by typing the number (WeChat plugin, text rendering) or by tapping the card (WeCom
client, card rendering); see tests/harness.py.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from bot.clock import local_time_text
from storage.models import BasicInfo, DailyReport
from tests.harness import (
    BEIJING,
    BEIJING_EAST,
    Bot,
    answers_of,
    basic_info,
    conversation,
    enter_app,
    give_basic_info,
    healthy_answers,
    joined,
    last_card,
    pick,
    report_healthy_day,
    report_on,
    reports,
    say,
    seen,
    settle,
    start_report_at_gps,
    step_of,
    use_cards,
)

RENDERINGS = pytest.mark.parametrize("rendering", ["text", "cards"])
DAY1 = date(2026, 11, 30)


async def setup_rendering(bot: Bot, userid: str, rendering: str) -> None:
    if rendering == "cards":
        await use_cards(bot, userid)


# ---- basic info ------------------------------------------------------------------------------


@RENDERINGS
async def test_basic_info_dialog_with_prefill_bad_phone_edit_and_one_submission(
        bot: Bot, rendering: str) -> None:
    await setup_rendering(bot, "zhangsan", rendering)

    out = joined(await say(bot, "zhangsan", "信息"))
    assert "开始填写基本信息" in out and "花名册中您的姓名：张三" in out
    if rendering == "cards":
        assert last_card(bot, "zhangsan").card.button_names == ["确认 Confirm"]
    else:
        assert "回复 1 确认" in out

    out = joined(await pick(bot, "zhangsan", "prefill", "1"))
    # "zhangsan" is a WeCom account, not a student number: it is not offered as one.
    assert "花名册中您的学工号" not in out and "学工号" in out
    out = joined(await say(bot, "zhangsan", "2019011234"))
    assert "请输入您的手机号" in out

    out = joined(await say(bot, "zhangsan", "1234567"))
    assert "手机号格式不对" in out and "请输入您的手机号" in out
    assert await step_of(bot, "zhangsan") == "mobile"
    assert await answers_of(bot, "zhangsan") == {"name": "张三", "staff_no": "2019011234"}

    out = joined(await say(bot, "zhangsan", "+86 138-0000-0002"))
    assert "您是否为北京户籍" in out
    out = joined(await pick(bot, "zhangsan", "yes", "1"))
    assert "户籍地址" not in out and "您的身份是" in out  # Beijing hukou: no address

    out = joined(await pick(bot, "zhangsan", "student", "1"))
    assert "请核对您的基本信息" in out and "手机号 Mobile：13800000002" in out
    assert "户籍地址" not in out and "提交后不可修改" in out

    # 修改: change the mobile number before submitting, then come back to the summary.
    out = joined(await pick(bot, "zhangsan", "edit", "2"))
    assert "请选择要修改的项目" in out
    out = joined(await pick(bot, "zhangsan", "mobile", "3"))
    assert "请输入您的手机号" in out
    out = joined(await say(bot, "zhangsan", "13912345678"))
    assert "请核对您的基本信息" in out and "手机号 Mobile：13912345678" in out
    assert "13800000002" not in out
    assert await basic_info(bot, "zhangsan") is None  # nothing stored before 提交

    out = joined(await pick(bot, "zhangsan", "submit", "1"))
    assert "基本信息已提交（08:00）" in out
    info = await basic_info(bot, "zhangsan")
    assert info is not None
    assert (info.name, info.staff_no, info.mobile, info.beijing_hukou, info.hukou_address,
            info.member_type) == ("张三", "2019011234", "13912345678", True, None, "student")
    # Basic information was what stood before today's report: it starts by itself.
    assert "开始 2026-11-30 的健康上报" in out
    conv = await conversation(bot, "zhangsan")
    assert conv is not None and conv.form_id == "daily_report"

    # A second attempt shows what was stored and says it cannot be changed.
    out = joined(await say(bot, "zhangsan", "信息"))
    assert "您的基本信息（2026-11-30 提交）" in out and "手机号 Mobile：13912345678" in out
    assert "不可修改" in out or "不能修改" in out
    # ... and where to turn when it is wrong (QA3 #15).
    assert "如有错误请联系本单位审核老师（管理员可更正）" in out
    conv = await conversation(bot, "zhangsan")
    assert conv is not None and conv.form_id == "daily_report"  # no second basic info form
    async with bot.db.session() as session:
        count = (await session.execute(sa.select(sa.func.count()).select_from(BasicInfo)
                                       )).scalar_one()
    assert count == 1


@RENDERINGS
async def test_basic_info_without_beijing_hukou_asks_the_address(bot: Bot,
                                                                 rendering: str) -> None:
    await setup_rendering(bot, "lisi", rendering)
    await say(bot, "lisi", "信息")
    await pick(bot, "lisi", "prefill", "1")
    await say(bot, "lisi", "2019011235")
    await say(bot, "lisi", "13800000003")
    out = joined(await pick(bot, "lisi", "no", "2"))
    assert "请输入您的户籍地址" in out
    out = joined(await say(bot, "lisi", "河"))
    assert "地址太简单了" in out and "请输入您的户籍地址" in out
    assert await step_of(bot, "lisi") == "hukou_address"
    out = joined(await say(bot, "lisi", "河北省保定市竞秀区"))
    assert "您的身份是" in out
    out = joined(await pick(bot, "lisi", "staff", "3"))
    assert "户籍地址 Hukou address：河北省保定市竞秀区" in out
    await pick(bot, "lisi", "submit", "1")
    info = await basic_info(bot, "lisi")
    assert info is not None and info.beijing_hukou is False and info.member_type == "staff"
    assert info.hukou_address == "河北省保定市竞秀区"


async def test_an_international_student_finishes_basic_information(bot: Bot) -> None:
    """QA #4: maria (国际教育学院) typed "+34 612 345 678" and was refused for ever; her
    hukou is not in China, so the address question takes a foreign address too."""
    await say(bot, "maria", "信息")
    await pick(bot, "maria", "prefill", "1")
    out = joined(await say(bot, "maria", "L2020001"))
    assert "+34 612 345 678" in out  # the question says how to type a foreign number
    out = joined(await say(bot, "maria", "+34 612"))
    assert "境外手机号请以 + 和国家代码开头" in out and "an international number" in out
    assert await step_of(bot, "maria") == "mobile"
    await say(bot, "maria", "+34 612 345 678")
    out = joined(await pick(bot, "maria", "no", "2"))
    assert "境外人员请填写国家和城市" in out
    await say(bot, "maria", "Calle Mayor 1, Madrid, Spain")
    out = joined(await pick(bot, "maria", "student", "1"))
    assert "+34612345678" in out
    await pick(bot, "maria", "submit", "1")
    info = await basic_info(bot, "maria")
    assert info is not None and info.mobile == "+34612345678"
    assert info.hukou_address == "Calle Mayor 1, Madrid, Spain"


async def test_a_corrected_name_is_typed_instead_of_confirmed(bot: Bot) -> None:
    await say(bot, "zhangsan", "信息")
    out = joined(await say(bot, "zhangsan", "张叁"))
    assert "学工号" in out
    assert (await answers_of(bot, "zhangsan"))["name"] == "张叁"


async def test_a_name_with_an_emoji_is_refused_and_asked_again(bot: Bot) -> None:
    """QA #13: "张三😀" was stored as the name and went into exports and rosters."""
    await say(bot, "zhangsan", "信息")
    out = joined(await say(bot, "zhangsan", "张三😀"))
    assert "姓名中不能有表情或符号（😀）" in out and "A name can't contain emoji" in out
    assert "花名册中您的姓名：张三" in out  # the question again
    assert await step_of(bot, "zhangsan") == "name"
    assert await answers_of(bot, "zhangsan") == {}
    out = joined(await say(bot, "zhangsan", "阿依古丽·买买提"))
    assert "学工号" in out
    assert (await answers_of(bot, "zhangsan"))["name"] == "阿依古丽·买买提"


async def test_a_student_id_with_a_dash_is_refused_naming_the_expected_form(bot: Bot) -> None:
    """QA #13: "2019-011234" must not be stored as something the roster does not hold."""
    await say(bot, "zhangsan", "信息")
    await pick(bot, "zhangsan", "prefill", "1")
    for typed in ("2019-011234", "2019 011234"):
        out = joined(await say(bot, "zhangsan", typed))
        assert "学工号只含字母和数字，不加空格或短横线，例如 2019011234" in out
        assert "请输入您的学工号" in out
        assert await step_of(bot, "zhangsan") == "staff_no"
        assert await answers_of(bot, "zhangsan") == {"name": "张三"}
    out = joined(await say(bot, "zhangsan", "２０１９０１１２３４"))  # full width still works
    assert "请输入您的手机号" in out
    assert (await answers_of(bot, "zhangsan"))["staff_no"] == "2019011234"


async def test_an_address_with_an_emoji_is_refused_and_nothing_is_stored(bot: Bot) -> None:
    await say(bot, "lisi", "信息")
    await pick(bot, "lisi", "prefill", "1")
    await say(bot, "lisi", "2019011235")
    await say(bot, "lisi", "13800000003")
    await pick(bot, "lisi", "no", "2")
    out = joined(await say(bot, "lisi", "河北省保定市🏠竞秀区"))
    assert "地址中不能有表情或符号（🏠）" in out and "请输入您的户籍地址" in out
    assert await step_of(bot, "lisi") == "hukou_address"
    assert "hukou_address" not in await answers_of(bot, "lisi")
    await say(bot, "lisi", "河北省保定市竞秀区")
    await pick(bot, "lisi", "student", "1")
    await pick(bot, "lisi", "submit", "1")
    info = await basic_info(bot, "lisi")
    assert info is not None and info.hukou_address == "河北省保定市竞秀区"


async def test_report_before_basic_info_starts_basic_info_first(bot: Bot) -> None:
    out = joined(await say(bot, "zhangsan", "上报"))
    assert "请先填写基本信息" in out and "花名册中您的姓名" in out
    conv = await conversation(bot, "zhangsan")
    assert conv is not None and conv.form_id == "basic_info"


# ---- the daily report, whole -----------------------------------------------------------------


@RENDERINGS
async def test_daily_report_from_gps_with_fever_symptoms_quarantine_and_remarks(
        bot: Bot, rendering: str) -> None:
    await give_basic_info(bot, "zhangsan")
    await setup_rendering(bot, "zhangsan", rendering)

    out = joined(await say(bot, "zhangsan", "状态"))
    assert "2026-11-30 还没有上报" in out

    out = joined(await say(bot, "zhangsan", "上报"))
    assert "开始 2026-11-30 的健康上报" in out and "请发送您当前的位置" in out
    out = joined(await enter_app(bot, "zhangsan", *BEIJING))
    assert "您当前的位置：北京市 海淀区" in out and "是否正确" in out
    out = joined(await pick(bot, "zhangsan", "ok", "1"))
    assert "您今天是否在校" in out
    out = joined(await pick(bot, "zhangsan", "no", "2"))
    assert "请输入您今天的体温" in out

    for bad, why in (("三十七", "请用数字输入体温"), ("99", "像是华氏度"),
                     ("34", "体温应在 35.0–42.0℃ 之间"), ("🤒", "请用数字输入体温"),
                     ("", "没有收到内容"), ("36.5" * 200, "消息太长")):
        out = joined(await say(bot, "zhangsan", bad))
        assert why in out, (bad, out)
        assert await step_of(bot, "zhangsan") == "temperature"
        assert "temperature" not in await answers_of(bot, "zhangsan")

    out = joined(await say(bot, "zhangsan", "37.5"))
    assert "您的体温偏高（37.5℃）" in out and "您今天是否有以下症状" in out
    out = joined(await pick(bot, "zhangsan", ["fever", "cough"], "2 3"))
    assert "您是否接触过确诊或疑似病例" in out
    out = joined(await pick(bot, "zhangsan", "no", "2"))
    assert "您目前是否在隔离" in out
    out = joined(await pick(bot, "zhangsan", "home", "2"))
    assert "隔离从哪天开始" in out
    out = joined(await say(bot, "zhangsan", "12-31"))
    assert "日期不能晚于今天" in out
    out = joined(await say(bot, "zhangsan", "11-28"))
    assert "还有其他需要说明的吗" in out
    out = joined(await say(bot, "zhangsan", "嗓子有点干"))
    assert "请核对您的每日上报" in out
    for line in ("位置 Location：北京市 海淀区", "是否在校 On campus：不在校 Off campus",
                 "体温 Temperature：37.5℃", "症状 Symptoms：发热 Fever, 咳嗽 Cough",
                 "接触病例 Contact：否 No", "隔离 Quarantine：居家隔离 Home",
                 "隔离开始 Quarantine since：2026-11-28", "备注 Remarks：嗓子有点干"):
        assert line in out, line
    assert await reports(bot, "zhangsan") == []

    out = joined(await pick(bot, "zhangsan", "submit", "1"))
    (report,) = await reports(bot, "zhangsan")
    time = local_time_text(bot.clock, report.submitted_at)
    assert f"上报成功！日期：2026-11-30，时间：{time}，回执号：{report.receipt}" in out
    assert report.report_date == DAY1 and report.temperature == 37.5
    assert report.abnormal is True
    assert report.abnormal_reasons == ["fever", "symptoms", "quarantine"]
    assert report.location_kind == "gps" and report.city == "北京市"
    assert report.district == "海淀区" and report.filled_by == "zhangsan"
    answers = report.answers
    assert answers["location"]["verified"] is True
    assert answers["location"]["category"] == "mainland"
    assert answers["symptoms"] == ["fever", "cough"]
    assert answers["quarantine"] == "home" and answers["quarantine_start"] == "2026-11-28"
    assert answers["remarks"] == "嗓子有点干" and answers["on_campus"] is False
    assert await conversation(bot, "zhangsan") is None

    # The reviewer (teacher) was alerted.
    await settle(bot)
    assert any("异常提醒：张三" in m for m in seen(bot, "teacher"))

    out = joined(await say(bot, "zhangsan", "状态"))
    assert f"2026-11-30 已上报：{time}，由 张三 提交，回执号 {report.receipt}" in out
    out = joined(await say(bot, "zhangsan", "上报"))
    assert f"今日已上报 {time}（回执号 {report.receipt}）" in out
    assert await conversation(bot, "zhangsan") is None
    assert len(await reports(bot, "zhangsan")) == 1


@RENDERINGS
async def test_a_normal_report_is_not_abnormal_and_other_symptom_is_described(
        bot: Bot, rendering: str) -> None:
    await give_basic_info(bot, "zhangsan")
    await setup_rendering(bot, "zhangsan", rendering)
    await start_report_at_gps(bot, "zhangsan")
    await pick(bot, "zhangsan", "ok", "1")
    await pick(bot, "zhangsan", "yes", "1")
    out = joined(await say(bot, "zhangsan", "36.5"))
    assert "偏高" not in out
    out = joined(await pick(bot, "zhangsan", ["fatigue", "other"], "4,6"))
    assert "请简要描述其他症状" in out
    await say(bot, "zhangsan", "流鼻涕")
    await pick(bot, "zhangsan", "no", "2")
    await pick(bot, "zhangsan", "none", "1")
    out = joined(await say(bot, "zhangsan", "跳过"))
    assert "其他症状 Other symptoms：流鼻涕" in out and "备注 Remarks：无\n" in out
    await pick(bot, "zhangsan", "submit", "1")
    (report,) = await reports(bot, "zhangsan")
    assert report.temperature == 36.5 and report.abnormal_reasons == ["symptoms"]
    assert report.answers["symptom_other"] == "流鼻涕" and report.answers["remarks"] == ""


async def test_none_cannot_be_combined_with_a_symptom(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan")
    await start_report_at_gps(bot, "zhangsan")
    await say(bot, "zhangsan", "1")
    await say(bot, "zhangsan", "1")
    await say(bot, "zhangsan", "36.6")
    out = joined(await say(bot, "zhangsan", "1 3"))
    assert "不能和其他选项同时选择" in out and "您今天是否有以下症状" in out
    assert await step_of(bot, "zhangsan") == "symptoms"


async def test_a_healthy_report_at_37_2_is_normal(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan")
    await start_report_at_gps(bot, "zhangsan")
    await say(bot, "zhangsan", "1")
    await say(bot, "zhangsan", "1")
    await say(bot, "zhangsan", "37.2")
    await say(bot, "zhangsan", "1")
    await say(bot, "zhangsan", "2")
    await say(bot, "zhangsan", "1")
    await say(bot, "zhangsan", "无")
    await say(bot, "zhangsan", "1")
    (report,) = await reports(bot, "zhangsan")
    assert report.abnormal is False and report.abnormal_reasons == []


# ---- same as yesterday, city changes ---------------------------------------------------------


@RENDERINGS
async def test_same_as_yesterday_is_location_plus_two_taps(bot: Bot, rendering: str) -> None:
    await give_basic_info(bot, "zhangsan")
    await setup_rendering(bot, "zhangsan", rendering)
    await report_healthy_day(bot, "zhangsan")
    (day1,) = await reports(bot, "zhangsan")

    bot.clock.advance(days=1)  # type: ignore[attr-defined]
    await start_report_at_gps(bot, "zhangsan", BEIJING_EAST)
    out = joined(await pick(bot, "zhangsan", "ok", "1"))
    assert "您昨天的上报" in out and "今天的情况与昨天相同吗" in out
    assert "体温 Temperature：36.5℃" in out

    # Tap one: same as yesterday → the summary. Tap two: submit → the receipt.
    out = joined(await pick(bot, "zhangsan", "same", "1"))
    assert "请核对您的每日上报" in out and "体温 Temperature：36.5℃" in out
    assert "位置 Location：北京市 朝阳区" in out
    out = joined(await pick(bot, "zhangsan", "submit", "1"))
    assert "上报成功！日期：2026-12-01" in out

    day2 = await report_on(bot, "zhangsan", DAY1 + timedelta(days=1))
    assert day2 is not None
    strip = ("location",)
    assert {k: v for k, v in day2.answers.items() if k not in strip} == \
        {k: v for k, v in day1.answers.items() if k not in strip}
    assert day2.answers["location"]["district"] == "朝阳区"
    assert day1.answers["location"]["district"] == "海淀区"
    assert day2.abnormal is False


async def test_same_as_yesterday_is_not_offered_after_a_fever_day(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan")
    await start_report_at_gps(bot, "zhangsan")
    for answer in ("1", "1", "38.2", "2", "2", "1", "无", "1"):
        await say(bot, "zhangsan", answer)
    assert (await reports(bot, "zhangsan"))[0].abnormal

    bot.clock.advance(days=1)  # type: ignore[attr-defined]
    await start_report_at_gps(bot, "zhangsan")
    out = joined(await say(bot, "zhangsan", "1"))
    assert "与昨天相同" not in out and "您今天是否在校" in out


@RENDERINGS
async def test_a_city_change_since_the_last_report_asks_the_reason(
        bot: Bot, rendering: str) -> None:
    await give_basic_info(bot, "zhangsan")
    await setup_rendering(bot, "zhangsan", rendering)
    await report_healthy_day(bot, "zhangsan")

    bot.clock.advance(days=1)  # type: ignore[attr-defined]
    out = joined(await start_report_at_gps(bot, "zhangsan", (31.23, 121.47)))
    assert "上海市" in out
    out = joined(await pick(bot, "zhangsan", "ok", "1"))
    assert "您所在的城市与上次上报不同（北京市 → 上海市）" in out
    out = joined(await say(bot, "zhangsan", "出差"))
    assert "今天的情况与昨天相同吗" in out
    await pick(bot, "zhangsan", "same", "1")
    await pick(bot, "zhangsan", "submit", "1")
    report = await report_on(bot, "zhangsan", DAY1 + timedelta(days=1))
    assert report is not None and report.city == "上海市"
    assert report.answers["city_changed_reason"] == "出差"
    assert report.abnormal_reasons == ["city_changed"]


async def test_no_reason_is_asked_when_the_city_is_the_same(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan")
    await report_healthy_day(bot, "zhangsan")
    bot.clock.advance(days=1)  # type: ignore[attr-defined]
    await start_report_at_gps(bot, "zhangsan", BEIJING_EAST)
    out = joined(await say(bot, "zhangsan", "1"))
    assert "城市与上次上报不同" not in out and "今天的情况与昨天相同吗" in out


# ---- 修改, 上一步 and other turns of the daily report ------------------------------------------


async def at_daily_summary(bot: Bot, userid: str = "zhangsan") -> str:
    await give_basic_info(bot, userid)
    await start_report_at_gps(bot, userid)
    await pick(bot, userid, "ok", "1")
    out = joined(await healthy_answers(bot, userid))
    assert "请核对您的每日上报" in out
    return out


@RENDERINGS
async def test_edit_from_the_summary_asks_the_item_and_its_dependents_then_returns(
        bot: Bot, rendering: str) -> None:
    await setup_rendering(bot, "zhangsan", rendering)
    await at_daily_summary(bot)
    out = joined(await pick(bot, "zhangsan", "edit", "2"))
    assert "请选择要修改的项目" in out
    out = joined(await pick(bot, "zhangsan", "symptoms", "4"))
    assert "您今天是否有以下症状" in out
    out = joined(await pick(bot, "zhangsan", ["cough", "other"], "3 6"))
    assert "请简要描述其他症状" in out  # a question that now applies
    out = joined(await say(bot, "zhangsan", "头疼"))
    assert "请核对您的每日上报" in out  # back to the summary, not on through the form
    assert "症状 Symptoms：咳嗽 Cough, 其他 Other" in out
    assert "其他症状 Other symptoms：头疼" in out
    assert "接触病例 Contact：否 No" in out  # later answers were kept
    await pick(bot, "zhangsan", "submit", "1")
    (report,) = await reports(bot, "zhangsan")
    assert report.answers["symptoms"] == ["cough", "other"]
    assert report.answers["symptom_other"] == "头疼" and report.abnormal_reasons == ["symptoms"]


async def test_back_while_editing_restores_the_previous_answer(bot: Bot) -> None:
    await at_daily_summary(bot)
    await say(bot, "zhangsan", "修改")
    out = joined(await say(bot, "zhangsan", "3"))
    assert "请输入您今天的体温" in out
    out = joined(await say(bot, "zhangsan", "上一步"))
    assert "请核对您的每日上报" in out and "体温 Temperature：36.5℃" in out
    assert (await answers_of(bot, "zhangsan"))["temperature"] == 36.5


async def test_edit_of_basic_info_hukou_asks_the_address_before_the_summary(bot: Bot) -> None:
    await say(bot, "zhangsan", "信息")
    for answer in ("1", "2019011234", "13800000002", "1", "1"):
        await say(bot, "zhangsan", answer)
    await say(bot, "zhangsan", "2")  # 修改
    out = joined(await say(bot, "zhangsan", "是否京籍"))
    assert "您是否为北京户籍" in out
    out = joined(await say(bot, "zhangsan", "否"))
    assert "请输入您的户籍地址" in out
    out = joined(await say(bot, "zhangsan", "内蒙古自治区呼和浩特市"))
    assert "请核对您的基本信息" in out
    assert "户籍地址 Hukou address：内蒙古自治区呼和浩特市" in out
    assert "身份 Member type：学生 Student" in out
    await say(bot, "zhangsan", "提交")
    info = await basic_info(bot, "zhangsan")
    assert info is not None and info.beijing_hukou is False
    assert info.hukou_address == "内蒙古自治区呼和浩特市" and info.member_type == "student"


@RENDERINGS
async def test_same_as_yesterday_then_edit_the_temperature_flags_a_fever(
        bot: Bot, rendering: str) -> None:
    await give_basic_info(bot, "zhangsan")
    await setup_rendering(bot, "zhangsan", rendering)
    await report_healthy_day(bot, "zhangsan")
    bot.clock.advance(days=1)  # type: ignore[attr-defined]
    await start_report_at_gps(bot, "zhangsan")
    await pick(bot, "zhangsan", "ok", "1")
    await pick(bot, "zhangsan", "same", "1")
    await pick(bot, "zhangsan", "edit", "2")
    out = joined(await pick(bot, "zhangsan", "temperature", "3"))
    assert "请输入您今天的体温" in out
    out = joined(await say(bot, "zhangsan", "38.1"))
    assert "您的体温偏高（38.1℃）" in out and "体温 Temperature：38.1℃" in out
    await pick(bot, "zhangsan", "submit", "1")
    day2 = await report_on(bot, "zhangsan", DAY1 + timedelta(days=1))
    assert day2 is not None and day2.temperature == 38.1 and day2.abnormal_reasons == ["fever"]


async def test_back_from_the_summary_after_same_as_yesterday_offers_it_again(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan")
    await report_healthy_day(bot, "zhangsan")
    bot.clock.advance(days=1)  # type: ignore[attr-defined]
    await start_report_at_gps(bot, "zhangsan")
    await say(bot, "zhangsan", "1")
    await say(bot, "zhangsan", "与昨日相同")
    out = joined(await say(bot, "zhangsan", "上一步"))
    assert "今天的情况与昨天相同吗" in out
    assert set(await answers_of(bot, "zhangsan")) == {"location"}
    out = joined(await say(bot, "zhangsan", "重新填写"))
    assert "您今天是否在校" in out


async def test_a_report_filed_elsewhere_while_at_the_summary_is_not_stored_twice(
        bot: Bot) -> None:
    await at_daily_summary(bot)
    async with bot.db.transaction() as session:  # e.g. the reviewer filed it meanwhile
        session.add(DailyReport(receipt="EARLIER1", userid="zhangsan", report_date=DAY1,
                                form_version=1, answers={}, filled_by="teacher",
                                submitted_at=bot.clock.now()))
    out = joined(await say(bot, "zhangsan", "1"))
    time = local_time_text(bot.clock, bot.clock.now())
    assert f"今日已上报 {time}，由 王老师 代为提交（回执号 EARLIER1）" in out
    assert "上报成功" not in out
    assert [r.receipt for r in await reports(bot, "zhangsan")] == ["EARLIER1"]
    assert await conversation(bot, "zhangsan") is None
    out = joined(await say(bot, "zhangsan", "状态"))
    assert "由 王老师 提交，回执号 EARLIER1" in out


async def at_summary_before_midnight(bot: Bot, userid: str = "zhangsan") -> None:
    bot.clock.set(bot.clock.now().replace(hour=15, minute=55))  # type: ignore[attr-defined]
    await at_daily_summary(bot, userid)  # 23:5x in Beijing on DAY1


@RENDERINGS
async def test_a_form_submitted_just_after_midnight_is_filed_for_the_day_it_was_started(
        bot: Bot, rendering: str) -> None:
    """QA #5: at the summary at 23:58, 提交 at 00:00:10 dropped every answer."""
    await setup_rendering(bot, "zhangsan", rendering)
    await at_summary_before_midnight(bot)
    bot.clock.advance(minutes=10)  # type: ignore[attr-defined]  # 00:05, within the timeout
    out = joined(await pick(bot, "zhangsan", "submit", "1"))
    assert "新的一天" not in out
    assert "上报成功！日期：2026-11-30，时间：00:05" in out
    assert "这份上报开始于 2026-11-30，午夜后不久提交，已计入 2026-11-30" in out
    (report,) = await reports(bot, "zhangsan")
    assert report.report_date == DAY1 and not report.late and report.late_reason is None
    assert report.temperature == 36.5
    assert await conversation(bot, "zhangsan") is None
    # The new day still needs its own report.
    out = joined(await say(bot, "zhangsan", "上报"))
    assert "开始 2026-12-01 的健康上报" in out


async def test_after_the_grace_the_answers_but_the_location_are_kept_for_the_new_day(
        bot: Bot) -> None:
    await at_summary_before_midnight(bot)
    bot.clock.advance(minutes=40)  # type: ignore[attr-defined]  # 00:35: beyond 30 minutes
    out = joined(await say(bot, "zhangsan", "1"))
    assert "已经是新的一天（2026-12-01）：2026-11-30 的上报没有提交，已无法计入 2026-11-30" in out
    assert "已为您保留填写过的内容（位置除外）" in out and "开始 2026-12-01 的健康上报" in out
    assert await reports(bot, "zhangsan") == []
    kept = await answers_of(bot, "zhangsan")
    assert "location" not in kept and kept["temperature"] == 36.5
    conv = await conversation(bot, "zhangsan")
    assert conv is not None and conv.state["day"] == "2026-12-01"
    await enter_app(bot, "zhangsan", *BEIJING)
    out = joined(await pick(bot, "zhangsan", "ok", "1"))
    assert "请核对您的每日上报" in out and "36.5" in out  # straight back to the summary
    await pick(bot, "zhangsan", "submit", "1")
    (report,) = await reports(bot, "zhangsan")
    assert report.report_date == DAY1 + timedelta(days=1) and report.temperature == 36.5


async def test_a_day_filed_meanwhile_is_not_filed_twice_after_midnight(bot: Bot) -> None:
    await at_summary_before_midnight(bot)
    async with bot.db.transaction() as session:  # the reviewer filed DAY1 meanwhile
        session.add(DailyReport(receipt="EARLIER1", userid="zhangsan", report_date=DAY1,
                                form_version=1, answers={}, filled_by="teacher",
                                submitted_at=bot.clock.now()))
    bot.clock.advance(minutes=10)  # type: ignore[attr-defined]
    out = joined(await say(bot, "zhangsan", "1"))
    assert "已经是新的一天（2026-12-01）" in out and "开始 2026-12-01 的健康上报" in out
    assert [r.receipt for r in await reports(bot, "zhangsan")] == ["EARLIER1"]


async def test_invalid_choices_and_free_text_are_refused_with_a_reason(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan")
    await start_report_at_gps(bot, "zhangsan")
    await say(bot, "zhangsan", "1")
    out = joined(await say(bot, "zhangsan", "👍"))
    assert "只发表情无法识别" in out and "您今天是否在校" in out
    out = joined(await say(bot, "zhangsan", "7"))
    assert "没有这个序号，请回复 1 到 2 之间的序号" in out
    out = joined(await say(bot, "zhangsan", "1 2"))
    assert "这一题只能选一项" in out
    assert await step_of(bot, "zhangsan") == "on_campus"
    for answer in ("1", "36.5", "1", "2", "1"):
        await say(bot, "zhangsan", answer)
    out = joined(await say(bot, "zhangsan", "很长" * 100))
    assert "内容太长了，请控制在 150 字以内" in out
    assert "remarks" not in await answers_of(bot, "zhangsan")


async def test_report_asked_again_after_the_day_was_filed_elsewhere_says_so(bot: Bot) -> None:
    """A form left over (here from yesterday) must not start a report for a day already filed
    (here by the reviewer)."""
    await give_basic_info(bot, "zhangsan")
    await start_report_at_gps(bot, "zhangsan")
    bot.clock.advance(days=1)  # type: ignore[attr-defined]
    day2 = DAY1 + timedelta(days=1)
    async with bot.db.transaction() as session:
        session.add(DailyReport(receipt="BYTEACH1", userid="zhangsan", report_date=day2,
                                form_version=1, answers={}, filled_by="teacher",
                                submitted_at=bot.clock.now()))
    out = joined(await say(bot, "zhangsan", "上报"))
    # QA2 #14: it says who filed it
    assert "今日已上报 08:00，由 王老师 代为提交（回执号 BYTEACH1）" in out
    assert "开始 2026-12-01 的健康上报" not in out
    assert await conversation(bot, "zhangsan") is None


# ---- command words inside a form (QA3 #1) ----------------------------------------------------


async def test_continue_and_restart_typed_in_basic_info_are_never_the_answer(bot: Bot) -> None:
    """QA3 #1: 继续 was stored as the name, 重新开始 too, and "continue" as the student ID."""
    await say(bot, "zhangsan", "信息")
    out = joined(await say(bot, "zhangsan", "继续"))
    assert "表单继续填写，请回答当前问题" in out and "花名册中您的姓名：张三" in out
    assert await step_of(bot, "zhangsan") == "name"
    assert await answers_of(bot, "zhangsan") == {}
    await pick(bot, "zhangsan", "prefill", "1")
    out = joined(await say(bot, "zhangsan", "continue"))
    assert "表单继续填写" in out and "请输入您的学工号" in out
    assert await answers_of(bot, "zhangsan") == {"name": "张三"}
    out = joined(await say(bot, "zhangsan", "确认"))  # 确认 alone is no command of its own
    assert "“确认”是命令，不能作为回答" in out and "请输入您的学工号" in out
    assert await answers_of(bot, "zhangsan") == {"name": "张三"}
    # 重新开始 starts over, as choosing it at the "continue where you left off?" prompt does.
    out = joined(await say(bot, "zhangsan", "重新开始"))
    assert "已重新开始，之前的回答已清除" in out and "花名册中您的姓名：张三" in out
    assert await step_of(bot, "zhangsan") == "name"
    assert await answers_of(bot, "zhangsan") == {}


async def test_command_words_in_the_daily_report_are_never_stored(bot: Bot) -> None:
    """QA3 #1: "位置 Location：继续（未核验）" and "备注 Remarks：重新开始"."""
    await give_basic_info(bot, "zhangsan")
    await say(bot, "zhangsan", "上报")
    await pick(bot, "zhangsan", "failed", "1")
    out = joined(await pick(bot, "zhangsan", "type", "2"))
    assert "请输入您当前所在的地址" in out
    out = joined(await say(bot, "zhangsan", "继续"))
    assert "表单继续填写" in out and "请输入您当前所在的地址" in out
    assert "location" not in await answers_of(bot, "zhangsan")
    await say(bot, "zhangsan", "北京市海淀区中关村南大街27号")
    await pick(bot, "zhangsan", "yes", "1")
    await say(bot, "zhangsan", "36.5")
    await pick(bot, "zhangsan", ["none"], "1")
    await pick(bot, "zhangsan", "no", "2")
    await pick(bot, "zhangsan", "none", "1")
    assert await step_of(bot, "zhangsan") == "remarks"
    out = joined(await say(bot, "zhangsan", "上报"))  # the router re-asks: not a remark
    assert "还有其他需要说明的吗" in out
    assert "remarks" not in await answers_of(bot, "zhangsan")
    out = joined(await say(bot, "zhangsan", "重新开始"))
    assert "已重新开始" in out and "请发送您当前的位置" in out
    assert await answers_of(bot, "zhangsan") == {}
    out = joined(await say(bot, "zhangsan", "继续"))
    assert "表单继续填写" in out and "请发送您当前的位置" in out
    assert await reports(bot, "zhangsan") == []


async def test_continue_and_restart_outside_a_form_say_nothing_is_open(bot: Bot) -> None:
    await give_basic_info(bot, "zhangsan")
    for word in ("继续", "重新开始", "restart"):
        out = joined(await say(bot, "zhangsan", word))
        assert "当前没有正在填写的表单。回复“上报”开始今天的上报" in out
        assert await step_of(bot, "zhangsan") is None


async def test_the_quarantine_start_examples_are_accepted_as_shown(bot: Bot) -> None:
    """QA3 #12: the prompt's example 2022-03-05 was refused as more than 60 days ago."""
    await give_basic_info(bot, "zhangsan")
    await start_report_at_gps(bot, "zhangsan")
    await pick(bot, "zhangsan", "ok", "1")
    await pick(bot, "zhangsan", "yes", "1")
    await say(bot, "zhangsan", "36.5")
    await pick(bot, "zhangsan", ["none"], "1")
    await pick(bot, "zhangsan", "no", "2")
    out = joined(await pick(bot, "zhangsan", "home", "2"))
    assert "隔离从哪天开始？如 11-27（月-日），或“今天”“昨天”" in out  # today is 2026-11-30
    assert "2022" not in out
    out = joined(await say(bot, "zhangsan", "帮助"))
    assert "可回复 11-27（月-日）" in out
    out = joined(await say(bot, "zhangsan", "上周"))
    assert "没有看懂这个日期，请写“月-日”（如 11-27）" in out
    out = joined(await say(bot, "zhangsan", "11-27"))
    assert "还有其他需要说明的吗" in out
    assert (await answers_of(bot, "zhangsan"))["quarantine_start"] == "2026-11-27"
