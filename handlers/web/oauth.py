"""`GET /oauth/callback`: WeCom sends the browser back with `code` and `state`.

The state must be the one this browser was given (its signed cookie), fresh, and never used
before (claimed once in the database, so a replayed URL is refused even within its ten
minutes). The code is exchanged with `auth/getuserinfo`: a corp member's userid signs in, an
outsider's openid gets a 403 page, a userid that is not in the roster gets the chat's "not in
the roster" explanation.
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from handlers.keys import CLIENT
from bot.wecom.errors import WeComError
from handlers.web.common import SIGNER, deps_of, message_page, now_of, settings_of
from handlers.web.session import STATE_COOKIE, pending_state, start_session
from storage import audit, inbound, members
from storage.audit import AuditAction

log = logging.getLogger("handlers.web")

_SAFE_NEXT = ("/h5/", "/dashboard/")


def _safe_next(path: str) -> str:
    """Only our own pages: never an open redirect."""
    if path.startswith(_SAFE_NEXT) and not path.startswith("//") and "\\" not in path:
        return path
    return "/h5/"


async def callback(request: web.Request) -> web.StreamResponse:
    settings, now = settings_of(request), now_of(request)
    code = request.query.get("code", "")
    state = request.query.get("state", "")
    pending = pending_state(request, request.app[SIGNER], now)
    if (pending is None or not state or not code
            or not hmac.compare_digest(state.encode(), pending[0].encode())):
        return message_page(request, "web.state_refused", status=400, retry=True,
                            lang=settings.bot.default_language)
    db = deps_of(request).db
    async with db.transaction() as session:
        # The callbacks' dedupe table makes the state one-time (and housekeeping prunes it).
        fresh = await inbound.accept_once(session, dedupe_key=f"web:oauth-state:{state}",
                                          userid="", kind="web.oauth_state", now=now)
    if not fresh:
        return message_page(request, "web.state_refused", status=400, retry=True,
                            lang=settings.bot.default_language)
    try:
        info = await request.app[CLIENT].get_user_info(code)
    except WeComError as exc:
        log.info("web sign-in: getuserinfo refused the code (errcode %s)", exc.errcode)
        return message_page(request, "web.code_refused", status=400, retry=True,
                            lang=settings.bot.default_language)
    userid = str(info.get("userid") or info.get("UserId") or "")
    if not userid:
        return message_page(request, "web.not_member", status=403,
                            lang=settings.bot.default_language)
    async with db.transaction() as session:
        member = await members.get(session, userid)
        if member is not None and member.active:
            audit.record(session, at=now, actor=userid, action=AuditAction.WEB_SIGN_IN,
                         target=userid)
    if member is None or not member.active:
        return message_page(request, "roster.not_found", status=403, userid=userid,
                            lang=settings.bot.default_language)
    response = web.HTTPSeeOther(_safe_next(pending[1]))
    start_session(response, request.app[SIGNER], settings.web, userid, now)
    response.del_cookie(STATE_COOKIE, path="/oauth/")
    raise response
