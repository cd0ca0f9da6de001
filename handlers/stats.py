"""`统计` / `stats`: today's summary of the units a reviewer reviews (all units for an admin)."""

from __future__ import annotations

from bot import catalog
from bot.paging import paginate
from handlers.context import Turn, text_message
from storage.models import AuditLog
from storage.summary import UnitDay, unit_summaries
from storage.units import reviewed_units

MAX_NAMES = 200


def summary_lines(summaries: list[UnitDay], lang: str, day: str) -> list[str]:
    """The lines of a unit summary; also used by the scheduled reviewer digest."""
    lines = [catalog.text("stats_header", lang, date=day)]
    for s in summaries:
        lines.append(catalog.text(
            "stats_unit", lang, unit=s.unit_name, total=s.total, reported=s.reported,
            self_count=s.reported_self, proxy_count=s.reported_proxy,
            missing=len(s.missing), abnormal=len(s.abnormal), unfollowed=len(s.unfollowed),
            no_info=len(s.no_basic_info)))
        if s.missing:
            names = "、".join(name for _uid, name in s.missing[:MAX_NAMES])
            more = f" …(+{len(s.missing) - MAX_NAMES})" if len(s.missing) > MAX_NAMES else ""
            lines.append(catalog.text("stats_missing_names", lang, names=names + more))
        if s.abnormal:
            lines.append(catalog.text("stats_abnormal_names", lang, names="、".join(
                name for name, _reasons in s.abnormal[:MAX_NAMES])))
        if s.unfollowed:
            lines.append(catalog.text("stats_unfollowed_names", lang,
                                      names="、".join(s.unfollowed[:MAX_NAMES])))
        if s.no_basic_info:
            lines.append(catalog.text("stats_no_info_names", lang,
                                      names="、".join(s.no_basic_info[:MAX_NAMES])))
    return lines


async def send_unit_summary(turn: Turn) -> None:
    actor = turn.member
    assert actor is not None
    units = await reviewed_units(turn.session, actor)
    if units is not None and not units:
        await turn.say("stats_not_reviewer")
        return
    summaries = await unit_summaries(turn.session, turn.today, units)
    turn.session.add(AuditLog(at=turn.now, actor=actor.userid, action="stats",
                              target=turn.today.isoformat(),
                              detail={"units": len(summaries)}))
    if not summaries:
        await turn.say("stats_empty")
        return
    for page in paginate(summary_lines(summaries, turn.lang, turn.today.isoformat())):
        await turn.send(text_message(page))
