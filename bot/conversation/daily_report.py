"""DAILY_REPORT (每日上报): one report per member per reporting day.

Order and why:
1. location — checked fresh every day (GPS event, picker, typed address, abroad, or a proxy
   request; see the engine's LOCATION ladder);
2. city_changed_reason — only when the city differs from the last report (`city_changed`),
   asked right after the location so the member sees why;
3. on_campus (not asked abroad), temperature, symptoms (+ symptom_other), contact, quarantine (+ start date),
   remarks (optional: 无/none/跳过/skip → "").

Same as yesterday — the decision: after the location step a member who reported yesterday is
shown yesterday's answers and offered 与昨日相同 / same as yesterday. Yes copies everything
except the location and the city-change reason, then goes straight to the usual summary (which
shows the copied temperature) for 提交/修改; so a normal day is location + two taps. To keep a
stale reading from hiding a fever, the offer is made only when yesterday was healthy
(temperature below the fever threshold and no symptoms): after a fever day every question is
asked again. Questions added since yesterday's form version are asked after the copy; answers
that no longer fit a question (an option removed) are not copied.

Stable keys (stored and exported): location, city_changed_reason, on_campus, temperature,
symptoms, symptom_other, contact, quarantine, quarantine_start, remarks.
The location value is a dict: kind ("gps" | "typed" | "abroad" | "unknown"), lat, lng, label,
label_en, province, city, district, category, country, verified, source, reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot import catalog
from bot.conversation import validators as v
from bot.conversation.forms import (
    Advice,
    Condition,
    Form,
    Option,
    Question,
    QuestionKind,
    Repeat,
    answer_contains,
    answer_not_in,
    no,
    yes,
)

__all__ = [
    "DAILY_REPORT",
    "REASONS",
    "abnormal_reasons",
    "city_changed",
    "current_city",
    "reason_labels",
]

REASONS = ("fever", "symptoms", "contact", "quarantine", "city_changed", "abroad_return")


def current_city(answers: Mapping[str, Any]) -> str | None:
    """Today's city, or the country when abroad (what `previous_city` is compared with)."""
    location = answers.get("location") or {}
    if location.get("kind") == "abroad":
        return location.get("country")
    return location.get("city")


def city_changed(answers: Mapping[str, Any], ctx: Any) -> bool:
    """True when both today's and the last report's city are known and they differ."""
    current, previous = current_city(answers), getattr(ctx, "previous_city", None)
    return bool(current and previous and current.strip() != previous.strip())


def _fever(answers: Mapping[str, Any], ctx: Any) -> bool:
    value = answers.get("temperature")
    return isinstance(value, int | float) and value >= ctx.fever_threshold


def _has_symptoms(answers: Mapping[str, Any]) -> bool:
    return any(s != "none" for s in answers.get("symptoms") or ())


def _healthy_yesterday(yesterday: Mapping[str, Any], ctx: Any) -> bool:
    return (isinstance(yesterday.get("temperature"), int | float)
            and not _fever(yesterday, ctx) and not _has_symptoms(yesterday))


def _was_abroad(answers: Mapping[str, Any] | None) -> bool:
    return answers is not None and (answers.get("location") or {}).get("kind") == "abroad"


def abnormal_reasons(answers: Mapping[str, Any], ctx: Any) -> list[str]:
    """Why a report needs a reviewer's attention (ordered as `REASONS`); empty when normal.

    `ctx` supplies fever_threshold, previous_city and yesterday (the engine's Context)."""
    found = {
        "fever": _fever(answers, ctx),
        "symptoms": _has_symptoms(answers),
        "contact": answers.get("contact") is True,
        "quarantine": answers.get("quarantine") not in (None, "none"),
        "city_changed": city_changed(answers, ctx),
        "abroad_return": _was_abroad(getattr(ctx, "yesterday", None))
        and not _was_abroad(answers),
    }
    return [reason for reason in REASONS if found[reason]]


def reason_labels(reasons: Sequence[str]) -> catalog.Bi:
    """("发热、有症状", "fever, symptoms"): the `reasons` parameter of "alert.abnormal"."""
    return catalog.Bi("、".join(catalog.lang_only(f"reason.{r}", "zh") for r in reasons),
                      ", ".join(catalog.lang_only(f"reason.{r}", "en") for r in reasons))


_CITY_CHANGED = Condition(("location",), city_changed)
# Someone abroad is not on campus: the question is not asked.
_IN_CHINA = Condition(("location",), lambda a, _ctx: not _was_abroad(a))

DAILY_REPORT = Form(
    id="daily_report",
    version=1,
    title="form.daily_report.title",
    intro="form.daily_report.intro",
    note="form.daily_report.note",
    daily=True,
    repeat=Repeat(after="location", fresh=frozenset({"location", "city_changed_reason"}),
                  eligible=_healthy_yesterday),
    questions=(
        Question("location", QuestionKind.LOCATION, "loc.ask"),
        Question("city_changed_reason", QuestionKind.TEXT, "q.city_changed_reason",
                 parse=v.free_text(100), when=_CITY_CHANGED,
                 params=lambda a, ctx: {"previous": ctx.previous_city,
                                        "current": current_city(a)}),
        Question("on_campus", QuestionKind.SINGLE, "q.on_campus", when=_IN_CHINA, options=(
            yes("opt.on_campus", "在", "校内", "in"),
            no("opt.off_campus", "不在", "校外", "out"))),
        Question("temperature", QuestionKind.NUMBER, "q.temperature", parse=v.temperature,
                 unit="unit.celsius",
                 advice=(Advice(Condition(("temperature",), _fever), "advice.fever",
                                lambda a, _ctx: {"temperature": a["temperature"]}),)),
        Question("symptoms", QuestionKind.MULTI, "q.symptoms", options=(
            Option("none", "opt.symptom.none", exclusive=True,
                   aliases=("没有", "无症状", "否", "no", "nothing")),
            Option("fever", "opt.symptom.fever", aliases=("发烧", "发热症状")),
            Option("cough", "opt.symptom.cough", aliases=("咳",)),
            Option("fatigue", "opt.symptom.fatigue", aliases=("疲劳", "没力气", "tired")),
            Option("sore_throat", "opt.symptom.sore_throat",
                   aliases=("喉咙痛", "嗓子疼", "咽喉痛", "throat", "sore")),
            Option("other", "opt.symptom.other", aliases=("其它", "others")),
        )),
        Question("symptom_other", QuestionKind.TEXT, "q.symptom_other",
                 parse=v.free_text(50), when=answer_contains("symptoms", "other")),
        Question("contact", QuestionKind.SINGLE, "q.contact", options=(
            yes("opt.yes", "有接触", "接触过"), no("opt.no", "无接触", "未接触"))),
        Question("quarantine", QuestionKind.SINGLE, "q.quarantine", options=(
            Option("none", "opt.quarantine.none", aliases=("无", "没有", "否", "不在", "no")),
            Option("home", "opt.quarantine.home", aliases=("居家", "在家", "home quarantine")),
            Option("centralised", "opt.quarantine.centralised",
                   aliases=("集中", "centralized", "hotel", "facility")),
        )),
        Question("quarantine_start", QuestionKind.DATE, "q.quarantine_start",
                 when=answer_not_in("quarantine", "none")),
        Question("remarks", QuestionKind.TEXT, "q.remarks", parse=v.optional_text(150)),
    ),
)
