"""A reviewer's day: 补报 a past day for a member, 免报 (exempt) a member for some days, and
提醒 (remind) the unit's non-reporters now.

Each command is for reviewers (and admins) only and acts on members of the units they review
(`storage.units`); bad input gets a clear answer and changes nothing.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from bot import catalog
from bot.clock import Clock, local_time_text
from bot.conversation import engine, render, validators
from bot.conversation.render import text_message
from bot.settings import Settings
from bot.text import fit as fit_text
from handlers import forms
from handlers.commands import Command
from handlers.context import Turn, lang_of, new_id, rendering_of
from handlers.form_registry import DAILY
from handlers.stats import say_own_due
from storage import audit, cards, form_versions, members, reports
from storage.cards import CardPurpose
from storage.db import AsyncSession
from storage.exemptions import ExemptionError, add_exemption
from storage.models import Conversation, DailyReport, Member
from storage.outbox import enqueue, enqueue_many, outbox_values
from storage.reminders import reminded_since, unreported_in_units
from storage.units import may_act_on, members_for_proxy, reviewed_units

#: How far back a reviewer may file a 补报.
LATE_MAX_DAYS = 30
#: A member is reminded by `提醒` at most once in this long (counting scheduled reminders).
REMIND_EVERY = timedelta(hours=1)
#: What 代报, 补报 and 免报 take: a userid, a student/staff ID or a name (any script; "·" in
#: minority names).
PROXY_QUERY = re.compile(r"[^\W_]([\w.@·・ -]{0,62}[^\W_])?")
#: A student/staff number with spaces or dashes in it (only digits: a userid is never joined).
PRINTED_ID = re.compile(r"^\d+(?:[\s\-]+\d+)+$")
SEPARATORS = re.compile(r"[\s\-]")
BATCH = 1000


def _reviewer(turn: Turn) -> Member | None:
    member = turn.member
    return member if member is not None and member.role in ("reviewer", "admin") else None


def parse_day(text: str, today: date) -> date | None:
    """A day as the forms' date questions take it (validators.read_date): 2026-11-29,
    ２０２６-１１-２９, 11-29, 11月29日, 昨天, yesterday…; None if not a calendar day."""
    text = unicodedata.normalize("NFKC", text).strip().casefold()
    try:
        return validators.read_date(text, today)
    except validators.InvalidAnswer:
        return None


async def find_subject(turn: Turn, reviewer: Member, target: str, *,
                       choose: str = "member.choose") -> Member | None:
    """The one member of the reviewer's units (or the reviewer) that `target` names: their
    student/staff ID, WeCom userid or name, as 代报, 补报 and 免报 take it. Otherwise says why
    and returns None: one answer for "not on the roster" and "not in your units" (no roster
    probing); several members of one name are listed to choose from by ID (`choose`: the
    catalog key of the list; `choose`_line of each line)."""
    found = await members_for_proxy(turn.session, reviewer, target)
    if not found and PRINTED_ID.match(unicodedata.normalize("NFKC", target)):
        # A number typed as it is printed ("2021 0001", "2021-0001"): IDs are stored without
        # separators, and the form names the member it found before anything is filed.
        found = await members_for_proxy(turn.session, reviewer, SEPARATORS.sub(
            "", unicodedata.normalize("NFKC", target)))
    if not found:
        await turn.say("proxy.no_such_member", query=target)
        return None
    if len(found) > 1:
        lines = [catalog.stacked(f"{choose}_line", turn.lang, name=m.name, userid=m.userid,
                                 staff_no=staff_no or "-")
                 for m, staff_no in found]
        await turn.say_lines(choose, lines, query=target)
        return None
    return found[0][0]


# ------------------------------------------------------------------ 补报


async def cmd_late(turn: Turn, command: Command, conv: Conversation | None) -> None:
    """补报 <学工号 | USERID | 姓名> YYYY-MM-DD REASON: a reviewer files a past day for a member.
    The reviewer's own form, if one is open, is paused and comes back when this one ends."""
    if conv is not None and not forms.is_own(turn, conv):  # already filling in for someone
        await forms.say_finish_current_first(turn, conv)
        return
    if not await _late(turn, command, conv):
        await forms.note_open_form(turn, conv)


async def _late(turn: Turn, command: Command, conv: Conversation | None) -> bool:
    """True when the 补报 form started."""
    reviewer = _reviewer(turn)
    if reviewer is None:
        await turn.say("late.not_reviewer")
        return False
    parts = command.argument.split(maxsplit=2)
    if len(parts) < 2:
        await turn.say("late.usage")
        return False
    target, day_text = parts[0], parts[1]
    reason = " ".join(parts[2].split()) if len(parts) > 2 else ""
    if not PROXY_QUERY.fullmatch(target):
        await turn.say("proxy.bad_userid")
        return False
    day = parse_day(day_text, turn.today)
    if day is None:
        await turn.say("late.bad_date", value=day_text[:20])
        return False
    if not reason:
        await turn.say("late.reason_required")
        return False
    if len(reason) > 200:
        await turn.say("late.reason_too_long", max=200)
        return False
    if day >= turn.today:
        await turn.say("late.not_past", today=turn.today.isoformat())
        return False
    if (turn.today - day).days > LATE_MAX_DAYS:
        await turn.say("late.too_old", days=LATE_MAX_DAYS)
        return False
    subject = await find_subject(turn, reviewer, target)
    if subject is None:
        return False
    if subject.userid == reviewer.userid:
        await turn.say("late.not_self")
        return False
    existing = await forms.report_on(turn, subject.userid, day)
    if existing is not None:
        filler = await members.get(turn.session, existing.filled_by)
        await turn.say("late.already", name=subject.name, date=day.isoformat(),
                       by=filler.name if filler else existing.filled_by,
                       receipt=existing.receipt)
        return False
    # The form's own intro says 补报, the member, the day and the reason; a paused own form
    # is said in the same message.
    lead = [await forms.pause_own_form(turn, conv)] if conv is not None else None
    await forms.start_form(turn, DAILY, subject=subject, late=(day, reason), lead=lead)
    return True


# ------------------------------------------------------------------ 免报


async def cmd_exempt(turn: Turn, command: Command, conv: Conversation | None) -> None:
    """免报 <学工号 | USERID | 姓名> FROM TO REASON: the member need not report from FROM to TO."""
    reviewer = _reviewer(turn)
    if reviewer is None:
        await turn.say("exempt.not_reviewer")
    else:
        await _exempt(turn, reviewer, command.argument)
    await forms.note_open_form(turn, conv)


async def _exempt(turn: Turn, reviewer: Member, argument: str) -> None:
    parts = argument.split(maxsplit=3)
    if len(parts) < 3:
        await turn.say("exempt.usage")
        return
    target = parts[0]
    if not PROXY_QUERY.fullmatch(target):
        await turn.say("proxy.bad_userid")
        return
    days = [parse_day(p, turn.today) for p in parts[1:3]]
    for text, day in zip(parts[1:3], days, strict=True):
        if day is None:
            await turn.say("late.bad_date", value=text[:20])
            return
    start, end = days
    assert start is not None and end is not None
    if end < turn.today:
        await turn.say("exempt.past", today=turn.today.isoformat())
        return
    subject = await find_subject(turn, reviewer, target)
    if subject is None:
        return
    try:
        exemption = await add_exemption(turn.session, actor=reviewer, subject=subject,
                                        start=start, end=end,
                                        reason=parts[3] if len(parts) > 3 else "",
                                        now=turn.now)
    except ExemptionError as exc:
        await turn.say(exc.key, **exc.params)
        return
    await turn.say("exempt.done", name=subject.name, userid=subject.userid,
                   start=start.isoformat(), end=end.isoformat(), reason=exemption.reason)
    await turn.say("exempt.told", touser=subject, by=reviewer.name, start=start.isoformat(),
                   end=end.isoformat(), reason=exemption.reason)


# ------------------------------------------------------------------ 提醒


async def cmd_remind(turn: Turn, command: Command, conv: Conversation | None) -> None:
    """提醒: remind the non-reporters of the reviewer's units now."""
    reviewer = _reviewer(turn)
    if reviewer is None:
        await turn.say("remind.not_reviewer")
    else:
        done = await remind_units_now(turn, reviewer)
        if done is None:
            await turn.say("stats.not_reviewer")
        elif not done.due:
            await turn.say("remind.now_nobody", date=turn.today.isoformat())
        elif done.no_info:
            await turn.say("remind.now_done_no_info", count=done.reminded,
                           no_info=done.no_info, recent=done.recent,
                           time=local_time_text(turn.deps.clock, turn.now))
        else:
            await turn.say("remind.now_done", count=done.reminded, recent=done.recent,
                           time=local_time_text(turn.deps.clock, turn.now))
        if done is not None:
            await say_own_due(turn, reviewer)  # and whether they themself still have to
    await forms.note_open_form(turn, conv)


@dataclass(frozen=True)
class Reminded:
    """What one "remind now" did: `due` members had not reported; `reminded` of them were
    queued now, `recent` skipped (reminded within REMIND_EVERY); `no_info` of the reminded
    have no basic information yet (their reminder says it comes first)."""

    due: int
    reminded: int
    recent: int
    no_info: int = 0


async def remind_units_now(turn: Turn, reviewer: Member, *, only: set[str] | None = None,
                           via: str = "chat") -> Reminded | None:
    """Remind now, at once, every following member of the reviewer's units who has not
    reported today and is not exempt (`only`: just those userids among them) — the chat's
    提醒 and the dashboard's button alike. A member is reminded at most once per REMIND_EVERY,
    counting the scheduled reminders; the messages go through the outbox, batched and paced
    like the scheduled reminders, and are dropped if the member reports first. Audited.
    None when the reviewer reviews no unit."""
    units = await reviewed_units(turn.session, reviewer)
    if units is not None and not units:
        return None
    unreported = [(m, has_info)
                  for m, has_info in await unreported_in_units(turn.session, turn.today, units)
                  if m.userid != reviewer.userid and (only is None or m.userid in only)]
    recent = await reminded_since(turn.session, (m.userid for m, _ in unreported),
                                  turn.now - REMIND_EVERY)
    due = [(m, has_info) for m, has_info in unreported if m.userid not in recent]
    # Worded like the scheduled reminders: without basic information, it comes first.
    groups: dict[tuple[str, str, bool], list[Member]] = defaultdict(list)
    for member, has_info in due:
        groups[(lang_of(member, turn.settings), rendering_of(member, turn.settings), has_info)
               ].append(member)
    hour = turn.now.strftime("%Y%m%d%H")
    rows = []
    for (lang, rendering, has_info), group in sorted(groups.items()):
        for start in range(0, len(group), BATCH):
            chunk = group[start:start + BATCH]
            message = _remind_now_message(turn, reviewer, lang, rendering, has_info, hour)
            rows.extend(outbox_values(dedupe_key=f"remindnow:{m.userid}:{hour}",
                                      touser=m.userid, message=message, now=turn.now,
                                      skip_if_reported=turn.today) for m in chunk)
    sent = await enqueue_many(turn.session, rows)
    # `sent` falls short of `due` only if another instance queued some of them this instant.
    done = Reminded(due=len(unreported), reminded=sent, recent=len(unreported) - sent,
                    no_info=min(sent, sum(1 for _, has_info in due if not has_info)))
    audit.record(turn.session, at=turn.now, actor=reviewer.userid,
                 action=audit.AuditAction.REMIND_NOW if via == "chat"
                 else audit.AuditAction.WEB_REMIND, target=turn.today.isoformat(),
                 detail={"reminded": done.reminded, "recently": done.recent,
                         "no_info": done.no_info})
    return done


def _remind_now_message(turn: Turn, reviewer: Member, lang: str, rendering: str,
                        has_info: bool, hour: str) -> dict[str, Any]:
    """One chunk's reminder: a card with 立即上报, or text; for members without basic
    information, the wording that says it comes first (as the scheduled reminders do)."""
    params = {"by": reviewer.name, "date": turn.today.isoformat()}
    if rendering == "cards":
        task_id = f"remindnow_{hour}_{new_id(12)}"
        cards.add(turn.session, task_id=task_id, userid="*", purpose=CardPurpose.REMIND,
                  ref=f"remindnow:{turn.today}", now=turn.now)
        key = "remind.now.card" if has_info else "remind.now_no_info.card"
        return render.card_message(render.button_card(
            task_id=task_id, title=catalog.slashed("remind.card_title", lang),
            subtitle=catalog.stacked(key, lang, **params), lang=lang,
            buttons=[("report", catalog.side_by_side("remind.button_report", lang), 1)]))
    key = "remind.now" if has_info else "remind.now_no_info"
    return text_message(catalog.stacked(key, lang, **params))


COMMANDS = {"late": cmd_late, "exempt": cmd_exempt, "remind": cmd_remind}


# ------------------------------------------------------------------ 补报 from the command line


class LateError(ValueError):
    """The late report cannot be filed as asked; nothing was changed."""


async def file_late_copy(session: AsyncSession, settings: Settings, clock: Clock, *,
                         reviewer: Member, subject: Member, day: date, reason: str,
                         same_as: date | None, now: datetime, today: date,
                         receipt: str) -> DailyReport:
    """补报 from the command line: file `day` for `subject` with the answers of the member's
    report of `same_as` (default: their latest report before `day`), as a reviewer of their
    units; marked late, audited, and the member is told. LateError changes nothing."""
    reason = " ".join(reason.split())
    if not reason:
        raise LateError("a reason is required (--reason)")
    if len(reason) > 200:
        raise LateError("the reason is longer than 200 characters")
    if reviewer.role not in ("reviewer", "admin") or not reviewer.active:
        raise LateError(f"{reviewer.userid} is not a reviewer")
    if subject.userid == reviewer.userid:
        raise LateError("a reviewer cannot file a past day for themself")
    if not await may_act_on(session, reviewer, subject):
        raise LateError(f"{subject.userid} is not in a unit {reviewer.userid} reviews")
    if day >= today:
        raise LateError(f"{day.isoformat()} is not a past day (today is {today.isoformat()})")
    if (today - day).days > LATE_MAX_DAYS:
        raise LateError(f"only the last {LATE_MAX_DAYS} days can be filed late")
    if await reports.report_of_day(session, subject.userid, day) is not None:
        raise LateError(f"{subject.userid} already has a report for {day.isoformat()}")
    previous = await reports.last_report_before(session, subject.userid, day)
    source = await reports.report_of_day(session, subject.userid, same_as) if same_as \
        else previous
    if source is None:
        raise LateError(f"{subject.userid} has no report "
                        f"{'on ' + same_as.isoformat() if same_as else 'before that day'} "
                        "to copy the answers from")
    ctx = SimpleNamespace(
        fever_threshold=settings.bot.fever_threshold,
        previous_city=(previous.city or previous.country) if previous else None,
        yesterday=dict(previous.answers) if previous and
        previous.report_date == day - timedelta(days=1) else None)
    answers = {k: v for k, v in source.answers.items() if k not in ("date", "userid")}
    answers["date"] = day.isoformat()
    # The copied answers are of the source's version: its questions and its abnormal rules.
    form = (await form_versions.by_version(session, DAILY, source.form_version)
            or await form_versions.current(session, DAILY, day))
    reasons = form.abnormal_reasons(answers, ctx)
    report = DailyReport(
        receipt=receipt, userid=subject.userid, report_date=day,
        form_version=source.form_version, answers=answers, temperature=source.temperature,
        abnormal=bool(reasons), abnormal_reasons=list(reasons),
        location_kind=source.location_kind, province=source.province, city=source.city,
        district=source.district, country=source.country, filled_by=reviewer.userid,
        proxy_reason=None, late=True, late_reason=reason, submitted_at=now)
    if not await reports.add_report_once(session, report):
        raise LateError(f"{subject.userid} already has a report for {day.isoformat()}, or "
                        "the receipt collided; try again")
    await session.flush()
    audit.record(session, at=now, actor=reviewer.userid, action=audit.AuditAction.LATE_REPORT,
                 target=subject.userid,
                 detail={"report": report.id, "receipt": receipt, "day": day.isoformat(),
                         "late_reason": reason, "copied_from": source.receipt, "via": "cli"})
    lang = lang_of(subject, settings)
    content = "\n".join([catalog.stacked(
        "late.filed_for_you", lang, by=reviewer.name, date=day.isoformat(),
        time=local_time_text(clock, now), receipt=receipt, reason=reason),
        *engine.summary_lines(form.form, answers, lang)])
    await enqueue(session, dedupe_key=f"late:{subject.userid}:{day}", touser=subject.userid,
                  message=text_message(fit_text(content)), now=now)
    return report

