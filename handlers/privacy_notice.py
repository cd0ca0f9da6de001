"""The privacy notice: shown on first contact and accepted before any personal data is taken.

`gate(turn)` runs before the router's handlers. A member who has not accepted the current
notice version (`[privacy] notice_version`) gets the notice instead of an answer, until they
reply 同意/agree; then the acceptance and the version are stored and, if their basic
information is missing, it starts. A new notice version is shown (and accepted) again once.
Location events from a member who has not accepted are dropped, not stored.
"""

from __future__ import annotations

import logging
import unicodedata

from bot.wecom.inbound import (
    CardEventIn,
    EnterAgentIn,
    LocationEventIn,
    LocationMessageIn,
    MenuClickIn,
    SubscribeIn,
    TextIn,
    UnsubscribeIn,
)
from handlers import forms
from handlers.context import Turn
from handlers.form_registry import BASIC
from storage import members, reports

log = logging.getLogger("handlers.privacy")

ACCEPT_WORDS = frozenset({"同意", "我同意", "接受", "agree", "i agree", "accept", "yes, i agree"})


def accepts(text: str) -> bool:
    return unicodedata.normalize("NFKC", text).strip().strip("。.!！").lower() in ACCEPT_WORDS


async def gate(turn: Turn) -> bool:
    """True when the callback was handled here (the notice, or its acceptance)."""
    member = turn.member
    if member is None:
        return False
    version = turn.settings.privacy.notice_version
    if member.privacy_version is not None and member.privacy_version >= version:
        return False
    inbound = turn.inbound
    if isinstance(inbound, UnsubscribeIn):
        return False  # leaving needs no consent
    if isinstance(inbound, LocationEventIn | LocationMessageIn):
        log.info("location dropped: privacy notice not accepted yet")
        return True
    if isinstance(inbound, TextIn) and accepts(inbound.content):
        members.accept_privacy(turn.session, member, version, turn.now)
        log.info("privacy notice version %d accepted", version)
        await turn.say("privacy.accepted")
        if await reports.basic_info(turn.session, member.userid) is None:
            await forms.start_form(turn, BASIC)
        return True
    if isinstance(inbound, TextIn | MenuClickIn | CardEventIn | SubscribeIn | EnterAgentIn):
        await turn.say("privacy.notice", version=version,
                       days=turn.settings.privacy.raw_location_days)
    return True
