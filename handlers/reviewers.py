"""Reviewers' side of a member's report: abnormal-report alerts and proxy requests.

An alert is a row with a unique report id, so a re-sent callback or a second code path cannot
alert twice. Reviewers on the WeCom client get a card with an acknowledge button; the others
get text and acknowledge by replying `确认 <number>`.
"""

from __future__ import annotations

from typing import Any

from bot import catalog
from bot.clock import local_time_text
from bot.conversation import engine, render
from bot.conversation.form_files import reason_labels
from handlers.context import Turn, lang_of, rendering_of
from storage import alerts, audit, members, reports
from storage.cards import CardPurpose, retire
from storage.models import DailyReport, Member
from storage.units import get_unit, may_act_on, responsible_for

ACK_KEY = "ack"
PROXY_KEY = "proxy"  # the 代报 button of a member's 请老师代填 card: "proxy:<userid>"


async def notify_abnormal(turn: Turn, subject: Member, report: DailyReport) -> None:
    """Push one alert for an abnormal report to the reviewers of the member's unit and of the
    units above it, or the admins where there are none (never to the member themself)."""
    await turn.session.flush()
    assert report.id is not None
    alert = await alerts.raise_once(turn.session, report_id=report.id,
                                    reasons=list(report.abnormal_reasons), now=turn.now)
    if alert is None:
        return
    unit = await get_unit(turn.session, subject.unit_id)
    # The report's own version of the form: its questions and its abnormal rules' labels.
    form = await turn.deps.forms.for_record(turn.session, "daily_report", report.form_version,
                                            report.report_date, turn.now)
    reasons = reason_labels(list(report.abnormal_reasons), form)
    for reviewer in await responsible_for(turn.session, subject.unit_id):
        if reviewer.userid == subject.userid:
            continue  # a reviewer's own report goes to the reviewers above, who may acknowledge
        lang = lang_of(reviewer, turn.settings)
        if rendering_of(reviewer, turn.settings) == "cards":
            task_id = f"alert_{alert.id}_{turn.deps.new_id()}"
            body = catalog.stacked("alert.card_body", lang, number=alert.id, name=subject.name,
                               userid=subject.userid, unit=unit.name if unit else "-",
                               reasons=reasons,
                               time=local_time_text(turn.deps.clock, report.submitted_at))
            card = render.card_message(render.button_card(
                task_id=task_id, title=catalog.slashed("alert.title", lang), subtitle=body,
                lang=lang, buttons=[(f"{ACK_KEY}:{alert.id}",
                                     catalog.side_by_side("alert.ack_button", lang), 1)]))
            await turn.send(card, touser=reviewer.userid,
                            task=(task_id, CardPurpose.ALERT_ACK, str(alert.id)))
        else:
            lines = engine.summary_lines(form.form, report.answers, lang)
            lines.append(catalog.stacked("alert.text_ack", lang, number=alert.id))
            await turn.say_lines("alert.abnormal", lines, touser=reviewer, name=subject.name,
                                 userid=subject.userid, date=report.report_date.isoformat(),
                                 reasons=reasons)


async def notify_proxy_request(turn: Turn, subject: Member, data: dict[str, Any]) -> None:
    """The member cannot locate: tell their reviewers, and tell the member who was told."""
    reviewers = await responsible_for(turn.session, subject.unit_id)
    day = str(data.get("date") or turn.today)
    for reviewer in reviewers:
        # Says how to act on it: reply "代报 <userid>", or on cards tap 代报 (PROXY_KEY).
        lang = lang_of(reviewer, turn.settings)
        if rendering_of(reviewer, turn.settings) == "cards":
            task_id = f"proxyreq_{turn.deps.new_id()}"
            card = render.card_message(render.button_card(
                task_id=task_id, title=catalog.slashed("proxy.request_card_title", lang),
                subtitle=catalog.stacked("proxy.request_card_body", lang, name=subject.name,
                                         userid=subject.userid, date=day),
                lang=lang, buttons=[(f"{PROXY_KEY}:{subject.userid}",
                                     catalog.side_by_side("proxy.request_button", lang), 1)]))
            await turn.send(card, touser=reviewer.userid,
                            task=(task_id, CardPurpose.PROXY_REQUEST, subject.userid))
        else:
            await turn.say("proxy.request_to_reviewer", touser=reviewer, name=subject.name,
                           userid=subject.userid, date=day)
    if reviewers:
        await turn.say("proxy.notified", reviewer="、".join(r.name for r in reviewers[:3]))
    else:
        await turn.say("proxy.no_reviewer")
    audit.record_proxy_request(turn.session, userid=subject.userid, day=turn.today,
                               told=[r.userid for r in reviewers], now=turn.now)


async def close_proxy_request(turn: Turn, subject: Member) -> None:
    """A report for `subject` today was stored: close their help request, telling the other
    reviewers who were asked that it is done (the filler knows)."""
    told = await audit.close_proxy_request(turn.session, userid=subject.userid, day=turn.today,
                                           by=turn.inbound.userid, now=turn.now)
    filler = turn.member.name if turn.member is not None else turn.inbound.userid
    for userid in told:
        if userid == turn.inbound.userid:
            continue
        reviewer = await members.get(turn.session, userid)
        if reviewer is not None:
            await turn.say("proxy.request_done", touser=reviewer, name=subject.name,
                           userid=subject.userid, by=filler)


async def acknowledge(turn: Turn, alert_id: int, *, response_code: str | None = None) -> None:
    """Record who acknowledged an alert: a reviewer of the member's units (or of a unit above
    them) or an admin, never the member themself."""
    reviewer = turn.member
    assert reviewer is not None
    alert = await alerts.get(turn.session, alert_id)
    report = await reports.get_report(turn.session, alert.report_id) if alert else None
    subject = await members.get(turn.session, report.userid) if report else None
    allowed = (subject is not None and subject.userid != reviewer.userid
               and await may_act_on(turn.session, reviewer, subject))
    if alert is None or not allowed:
        await turn.say("alert.unknown", number=alert_id)
        return
    if alerts.status_of(alert) is alerts.AlertStatus.OPEN:
        alerts.acknowledge(turn.session, alert, by=reviewer.userid, at=turn.now)
        audit.record(turn.session, at=turn.now, actor=reviewer.userid,
                     action=audit.AuditAction.ALERT_ACK, target=str(alert_id),
                     detail={"report": alert.report_id})
        await turn.say("alert.acknowledged", number=alert_id, name=subject.name)
    else:
        by = await members.get(turn.session, alert.acknowledged_by)
        await turn.say("alert.already_acknowledged", number=alert_id,
                       by=by.name if by else alert.acknowledged_by,
                       time=local_time_text(turn.deps.clock, alert.acknowledged_at or turn.now))
    if response_code:
        await turn.send({"response_code": response_code, "button": {
            "replace_name": catalog.side_by_side("alert.ack_done_button", turn.lang)[:10]}},
            kind="update_card")
        await retire(turn.session, userid=reviewer.userid, purpose=CardPurpose.ALERT_ACK,
                     ref=str(alert_id))
