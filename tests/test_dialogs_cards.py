"""Card questions in the WeCom client, end to end: a click updates the card it came from, typed
answers still work, and clicks on old, finished or somebody else's cards change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.harness import (
    Bot,
    answers_of,
    conversation,
    forged_click,
    give_basic_info,
    joined,
    last_card,
    reports,
    say,
    seen,
    settle,
    start_report_at_gps,
    step_of,
    tap,
    use_cards,
)


@pytest.fixture
async def card_bot(bot: Bot) -> Bot:
    for userid in ("zhangsan", "lisi"):
        await give_basic_info(bot, userid)
        await use_cards(bot, userid)
    return bot


async def snapshot(bot: Bot, userid: str) -> dict[str, Any] | None:
    conv = await conversation(bot, userid)
    return None if conv is None else {k: conv.state[k] for k in ("step", "answers", "history")}


async def test_a_clicked_button_card_shows_the_choice_greyed_out(card_bot: Bot) -> None:
    bot = card_bot
    await start_report_at_gps(bot, "zhangsan")
    confirm = last_card(bot, "zhangsan")
    assert confirm.card is not None and not confirm.card.disabled
    assert "北京市 海淀区" in confirm.card.text
    await tap(bot, "zhangsan", "ok")
    assert confirm.card.disabled
    assert confirm.card.button_names == ["已选择：确认 / Chosen: Confirm"]

    on_campus = last_card(bot, "zhangsan")
    assert on_campus.task_id != confirm.task_id
    await tap(bot, "zhangsan", "no")
    assert on_campus.card is not None and on_campus.card.disabled
    assert on_campus.card.button_names[0].startswith("已选择：不在校")
    assert (await answers_of(bot, "zhangsan"))["on_campus"] is False


async def test_a_submitted_vote_card_is_greyed_out_with_the_choices_ticked(
        card_bot: Bot) -> None:
    bot = card_bot
    await start_report_at_gps(bot, "zhangsan")
    await tap(bot, "zhangsan", "ok")
    await tap(bot, "zhangsan", "yes")
    await say(bot, "zhangsan", "36.4")
    symptoms = last_card(bot, "zhangsan")
    assert symptoms.card is not None and symptoms.card.card_type == "vote_interaction"
    await tap(bot, "zhangsan", ["cough", "sore_throat"])
    assert symptoms.card.disabled
    ticked = [o["id"] for o in symptoms.card.template_card["checkbox"]["option_list"]
              if o["is_checked"]]
    assert ticked == ["cough", "sore_throat"]
    assert (await answers_of(bot, "zhangsan"))["symptoms"] == ["cough", "sore_throat"]


async def test_typed_answers_are_accepted_for_a_card_question(card_bot: Bot) -> None:
    bot = card_bot
    await start_report_at_gps(bot, "zhangsan")
    out = joined(await say(bot, "zhangsan", "确认"))
    assert "您今天是否在校" in out
    out = joined(await say(bot, "zhangsan", "不在校"))
    assert "请输入您今天的体温" in out
    await say(bot, "zhangsan", "36.5")
    out = joined(await say(bot, "zhangsan", "2 3"))
    assert "您是否接触过确诊或疑似病例" in out
    answers = await answers_of(bot, "zhangsan")
    assert answers["on_campus"] is False and answers["symptoms"] == ["fever", "cough"]


async def test_a_click_on_a_previous_questions_card_is_stale_and_changes_nothing(
        card_bot: Bot) -> None:
    bot = card_bot
    await start_report_at_gps(bot, "zhangsan")
    clicked = last_card(bot, "zhangsan")
    await tap(bot, "zhangsan", "ok")  # the location card, clicked: greyed out
    typed = last_card(bot, "zhangsan")
    await say(bot, "zhangsan", "1")  # on campus, typed: its card stays clickable
    before = await snapshot(bot, "zhangsan")
    assert before is not None and before["step"] == "temperature"
    assert typed.card is not None and not typed.card.disabled

    # Out of date, said clearly, and the current question asked again (QA fixes #8: the
    # member saw nothing happen).
    out = joined(await tap(bot, "zhangsan", "no", task_id=typed.task_id))
    assert "这张卡片已过期" in out and "请输入您今天的体温" in out
    assert await snapshot(bot, "zhangsan") == before

    # The greyed-out card, clicked anyway (the client would not allow it): the same answer.
    out = joined(await forged_click(bot, "zhangsan", str(clicked.task_id), "retry"))
    assert "这张卡片已过期" in out and "请输入您今天的体温" in out
    assert await snapshot(bot, "zhangsan") == before
    await say(bot, "zhangsan", "36.5")  # the form goes on as before
    assert await step_of(bot, "zhangsan") == "symptoms"


async def test_a_click_on_a_finished_forms_card_is_stale(card_bot: Bot) -> None:
    bot = card_bot
    await start_report_at_gps(bot, "zhangsan")
    location_card = last_card(bot, "zhangsan")
    await say(bot, "zhangsan", "1")
    for answer in ("1", "36.5", "1", "2", "1", "无"):
        await say(bot, "zhangsan", answer)
    submit = last_card(bot, "zhangsan")
    await tap(bot, "zhangsan", "submit")
    (report,) = await reports(bot, "zhangsan")
    assert await conversation(bot, "zhangsan") is None

    out = joined(await tap(bot, "zhangsan", "retry", task_id=location_card.task_id))
    assert "这张卡片已失效" in out
    bot.clock.advance(seconds=5)  # type: ignore[attr-defined]  # not a re-send of the click
    out = joined(await forged_click(bot, "zhangsan", str(submit.task_id), "submit"))
    assert "这张卡片已失效" in out
    assert await conversation(bot, "zhangsan") is None
    assert [r.receipt for r in await reports(bot, "zhangsan")] == [report.receipt]


async def test_a_click_carrying_another_members_card_is_refused(card_bot: Bot) -> None:
    bot = card_bot
    await start_report_at_gps(bot, "lisi")
    lisis_card = last_card(bot, "lisi")
    await start_report_at_gps(bot, "zhangsan")
    lisi_before = await snapshot(bot, "lisi")
    zhangsan_before = await snapshot(bot, "zhangsan")

    out = joined(await forged_click(bot, "zhangsan", str(lisis_card.task_id), "ok"))
    assert "这张卡片不是发给您的" in out
    assert await snapshot(bot, "lisi") == lisi_before
    assert await snapshot(bot, "zhangsan") == zhangsan_before
    assert lisis_card.card is not None and not lisis_card.card.disabled
    # lisi's own click still works.
    await tap(bot, "lisi", "ok", task_id=lisis_card.task_id)
    assert await step_of(bot, "lisi") == "on_campus"

    out = joined(await forged_click(bot, "zhangsan", "no_such_task_1", "ok"))
    assert "这张卡片不是发给您的" in out
    assert await snapshot(bot, "zhangsan") == zhangsan_before


async def test_a_click_that_does_not_fit_the_live_card_is_asked_again(card_bot: Bot) -> None:
    bot = card_bot
    await start_report_at_gps(bot, "zhangsan")
    live = last_card(bot, "zhangsan")
    out = joined(await forged_click(bot, "zhangsan", str(live.task_id), "no_such_button"))
    assert "这次点击和当前问题对不上" in out
    assert await step_of(bot, "zhangsan") == "location#confirm"
    assert "北京市 海淀区" in last_card(bot, "zhangsan").card.text  # type: ignore[union-attr]


# ---- cards asked for in WeChat, where they do not show --------------------------------------

CARD_SENT = "已用卡片回复（需在企业微信中查看）。微信里看不到卡片时请回复“文字”"


async def test_a_member_in_wechat_who_asked_for_cards_is_never_left_in_silence(
        bot: Bot) -> None:
    """The WeChat plugin shows no cards: a member there who replied 卡片 would see nothing of
    the next question. Whatever they type at a card, or a command answered with cards alone,
    gets a text saying where the answer went and how to get text back."""
    await give_basic_info(bot, "zhangsan")
    out = joined(await say(bot, "zhangsan", "卡片"))
    assert "已切换为卡片提问" in out
    await start_report_at_gps(bot, "zhangsan")  # the position to confirm: a card, unseen
    assert last_card(bot, "zhangsan").visible is False
    before = await snapshot(bot, "zhangsan")
    result = await bot.emulator.send_text("zhangsan", "你好")  # not an option of the card
    assert result.status == 200
    assert "没有看懂您的选择" in (result.reply or "") and CARD_SENT in (result.reply or "")
    await settle(bot)
    shown = seen(bot, "zhangsan")  # one passive reply; the card unseen
    assert len(shown) == 1 and "没有看懂您的选择" in shown[0] and CARD_SENT in shown[0]
    assert await snapshot(bot, "zhangsan") == before  # not an answer: nothing changed
    out = joined(await say(bot, "zhangsan", "1"))  # confirmed; the next question: a card
    assert CARD_SENT in out and (await answers_of(bot, "zhangsan"))["location"]
    out = joined(await say(bot, "zhangsan", "状态"))  # a command: its answer is text
    assert CARD_SENT not in out
    out = joined(await say(bot, "zhangsan", "文字"))
    assert "已切换为纯文字提问" in out and CARD_SENT not in out
    out = joined(await say(bot, "zhangsan", "上报"))
    assert "回复 1 在校 / 2 不在校" in out and CARD_SENT not in out  # the form, as text


async def test_a_member_in_wecom_who_clicks_or_types_a_text_answer_gets_no_card_note(
        card_bot: Bot) -> None:
    bot = card_bot
    await start_report_at_gps(bot, "zhangsan")
    assert CARD_SENT not in joined(await tap(bot, "zhangsan", "ok"))
    assert CARD_SENT not in joined(await tap(bot, "zhangsan", "yes"))
    out = joined(await say(bot, "zhangsan", "36.4"))  # a text question, typed as it must be
    assert CARD_SENT not in out
