"""`统计` / `stats`: today's summary of the units a reviewer reviews (all units for an admin),
and the line that tells a reviewer who has not reported today themself (统计, 提醒, the
dashboard)."""

from __future__ import annotations

from bot import catalog
from bot.conversation.render import text_message
from bot.text import PAGE_BYTES, byte_len, number_pages, pack
from handlers.context import Turn
from storage import audit
from storage.models import Member
from storage.reminders import OwnDue, own_due
from storage.summary import UnitDay, unit_summaries
from storage.units import reviewed_units

# A list of names is cut, between two names, into lines of about this many bytes, so a page
# break never falls inside a name and every name is shown.
NAME_LINE_BYTES = 600
_SEPARATOR = "、"


def _names(key: str, lang: str, names: list[str]) -> list[str]:
    label = f"{catalog.side_by_side(key, lang)}："
    return [label + chunk for chunk in pack(names, limit=NAME_LINE_BYTES - byte_len(label),
                                            sep=_SEPARATOR)]


def compare_line(s: UnitDay, before: UnitDay | None, lang: str) -> str | None:
    """Whether the unit did better or worse than the day before (by the share of members due
    who reported), or None when either day had nobody due."""
    if before is None or s.rate is None or before.rate is None:
        return None
    now, then = round(s.rate * 100), round(before.rate * 100)
    key = "stats.better" if now > then else "stats.worse" if now < then else "stats.same"
    return catalog.stacked(key, lang, rate=now, previous=then)


def unit_lines(s: UnitDay, lang: str, before: UnitDay | None = None) -> list[str]:
    """One unit: its counts, then the names of who is missing, abnormal, ..."""
    lines = [catalog.stacked(
        "stats.unit", lang, unit=s.unit_name, total=s.total, reported=s.reported,
        self_count=s.reported_self, proxy_count=s.reported_proxy,
        missing=len(s.missing), abnormal=len(s.abnormal), unfollowed=len(s.unfollowed),
        no_info=len(s.no_basic_info))]
    if s.reported_late or s.exempt:
        lines.append(catalog.stacked("stats.late_exempt", lang, late_count=s.reported_late,
                                  exempt=len(s.exempt)))
    compared = compare_line(s, before, lang)
    if compared:
        lines.append(compared)
    for key, names in (("stats.missing_names", [name for _uid, name in s.missing]),
                       ("stats.abnormal_names", [name for name, _r in s.abnormal]),
                       ("stats.exempt_names", s.exempt),
                       ("stats.unfollowed_names", s.unfollowed),
                       ("stats.no_info_names", s.no_basic_info)):
        lines.extend(_names(key, lang, names))
    return lines


def summary_pages(summaries: list[UnitDay], lang: str, day: str, *, limit: int = PAGE_BYTES,
                  previous: dict[str, UnitDay] | None = None,
                  lead: list[str] | None = None) -> list[str]:
    """The summary (`统计` and the scheduled reviewer digest) as text messages of whole
    lines, grouped by unit: a unit that runs on to the next page is named again at its top;
    several pages are numbered "(i/n)". `previous` (the day before, by unit id) adds whether
    each unit did better or worse; `lead` lines come right under the header."""
    pages: list[str] = []
    current = [catalog.stacked("stats.header", lang, date=day), *(lead or ())]
    size = byte_len("\n".join(current))
    for s in summaries:
        before = previous.get(s.unit_id) if previous is not None else None
        for n, line in enumerate(unit_lines(s, lang, before)):
            if size + 1 + byte_len(line) > limit:
                pages.append("\n".join(current))
                current = [catalog.stacked("stats.unit_continued", lang, unit=s.unit_name)] \
                    if n else []
                size = byte_len("\n".join(current)) - (0 if current else 1)
            current.append(line)
            size += 1 + byte_len(line)
    pages.append("\n".join(current))
    return number_pages(pages)


async def send_unit_summary(turn: Turn) -> None:
    actor = turn.member
    assert actor is not None
    units = await reviewed_units(turn.session, actor)
    if units is not None and not units:
        await turn.say("stats.not_reviewer")
        return
    summaries = await unit_summaries(turn.session, turn.today, units,
                                     tz=turn.deps.clock.tz)
    audit.record(turn.session, at=turn.now, actor=actor.userid, action=audit.AuditAction.STATS,
                 target=turn.today.isoformat(), detail={"units": len(summaries)})
    own = await own_due_line(turn, actor)
    if not summaries:
        await turn.say("stats.empty")
        if own is not None:
            await turn.send(text_message(own))
        return
    for page in summary_pages(summaries, turn.lang, turn.today.isoformat(),
                              lead=[own] if own is not None else None):
        await turn.send(text_message(page))


#: What a reviewer who must still report today is told (see `own_due`).
OWN_DUE_KEYS = {OwnDue.REPORT: "reviewer.own_due", OwnDue.BASIC_INFO: "reviewer.own_due_no_info"}


async def own_due_line(turn: Turn, reviewer: Member) -> str | None:
    """The line that tells a reviewer (at 统计 and 提醒; the dashboard shows the same text)
    that they themself have not reported today — and that basic information comes first, if
    it does — or None when they have reported, are exempt or are not counted as a member."""
    due = await own_due(turn.session, reviewer, turn.today)
    if due is None:
        return None
    return catalog.stacked(OWN_DUE_KEYS[due], turn.lang, date=turn.today.isoformat())


async def say_own_due(turn: Turn, reviewer: Member) -> None:
    """The own-due line as its own text (joined to the answer before it when both fit)."""
    line = await own_due_line(turn, reviewer)
    if line is not None:
        await turn.send(text_message(line))
