"""`统计` / `stats`: today's summary of the units a reviewer reviews (all units for an admin)."""

from __future__ import annotations

from bot import catalog
from bot.paging import paginate
from handlers.context import Turn, text_message
from storage.models import AuditLog
from storage.summary import UnitDay, unit_summaries
from storage.units import reviewed_units

MAX_NAMES = 200


def _names(key: str, lang: str, names: list[str]) -> str:
    shown = "、".join(names[:MAX_NAMES])
    more = f" …(+{len(names) - MAX_NAMES})" if len(names) > MAX_NAMES else ""
    return f"{catalog.label(key, lang)}：{shown}{more}"


def summary_lines(summaries: list[UnitDay], lang: str, day: str) -> list[str]:
    """The lines of a unit summary; also used by the scheduled reviewer digest."""
    lines = [catalog.text("stats.header", lang, date=day)]
    for s in summaries:
        lines.append(catalog.text(
            "stats.unit", lang, unit=s.unit_name, total=s.total, reported=s.reported,
            self_count=s.reported_self, proxy_count=s.reported_proxy,
            missing=len(s.missing), abnormal=len(s.abnormal), unfollowed=len(s.unfollowed),
            no_info=len(s.no_basic_info)))
        for key, names in (("stats.missing_names", [name for _uid, name in s.missing]),
                           ("stats.abnormal_names", [name for name, _r in s.abnormal]),
                           ("stats.unfollowed_names", s.unfollowed),
                           ("stats.no_info_names", s.no_basic_info)):
            if names:
                lines.append(_names(key, lang, names))
    return lines


async def send_unit_summary(turn: Turn) -> None:
    actor = turn.member
    assert actor is not None
    units = await reviewed_units(turn.session, actor)
    if units is not None and not units:
        await turn.say("stats.not_reviewer")
        return
    summaries = await unit_summaries(turn.session, turn.today, units)
    turn.session.add(AuditLog(at=turn.now, actor=actor.userid, action="stats",
                              target=turn.today.isoformat(),
                              detail={"units": len(summaries)}))
    if not summaries:
        await turn.say("stats.empty")
        return
    for page in paginate(summary_lines(summaries, turn.lang, turn.today.isoformat())):
        await turn.send(text_message(page))
