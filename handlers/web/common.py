"""What every page shares: who is signed in, the CSRF check, rendering with the catalog."""

from __future__ import annotations

import functools
import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
from aiohttp import web
from markupsafe import Markup, escape

from bot import catalog
from handlers.keys import DEPS, SENDER
from bot.settings import Settings
from handlers.context import Deps, lang_of
from handlers.web.session import Signer, WebSession, new_state, read_session
from storage.models import Member
from storage import members

SIGNER: web.AppKey[Signer] = web.AppKey("web_signer")
MEMBER: web.RequestKey[Member] = web.RequestKey("web_member", Member)
SESSION: web.RequestKey[WebSession] = web.RequestKey("web_session", WebSession)
CSRF_FIELD = "_csrf"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def deps_of(request: web.Request) -> Deps:
    return request.app[DEPS]


def settings_of(request: web.Request) -> Settings:
    return request.app[DEPS].settings


def now_of(request: web.Request) -> datetime:
    return request.app[DEPS].clock.now()


def wake_sender(request: web.Request) -> None:
    sender = request.app.get(SENDER)
    if sender is not None:
        sender.wake()


def oauth_url(settings: Settings, state: str) -> str:
    """WeCom's authorize URL, exactly as the admin console documents it."""
    redirect = quote(f"{settings.web.public_url}/oauth/callback", safe="")
    return (f"{settings.web.oauth_base}/connect/oauth2/authorize?appid={settings.wecom.corp_id}"
            f"&redirect_uri={redirect}&response_type=code&scope=snsapi_base&state={state}"
            f"&agentid={settings.wecom.agent_id}#wechat_redirect")


def sign_in_redirect(request: web.Request) -> web.HTTPFound:
    settings = settings_of(request)
    response = web.HTTPFound("/")  # location set below, once the state exists
    state = new_state(response, request.app[SIGNER], settings.web, request.path_qs,
                      now_of(request))
    response.headers["Location"] = oauth_url(settings, state)
    return response


def page(request: web.Request, template: str, context: dict[str, Any], *,
         status: int = 200, lang: str | None = None) -> web.Response:
    member: Member | None = request.get(MEMBER)
    settings = settings_of(request)
    lang = lang or lang_of(member, settings)
    session: WebSession | None = request.get(SESSION)
    base = {
        "lang": lang, "member": member,
        "csrf": request.app[SIGNER].csrf(session.sid) if session else "",
        # Chinese first with English alongside (English only for "en"), as in the chat; the
        # halves' line break is kept as <br> (HTML would fold it into a bare space).
        "t": lambda key, **p: html_lines(catalog.stacked(key, lang, **p)),
        "ts": lambda key, **p: catalog.slashed(key, lang, **p),  # one line: titles
        "tz": lambda key, **p: catalog.lang_only(key, lang, **p),
        "tl": lambda key: catalog.side_by_side(key, lang),
    }
    response = aiohttp_jinja2.render_template(template, request, {**base, **context},
                                              status=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def html_lines(text: str) -> Markup:
    """Catalog text for a page: escaped, each line break a <br>."""
    return Markup("<br>").join(escape(line) for line in text.split("\n"))


def message_page(request: web.Request, key: str, *, status: int, lang: str | None = None,
                 retry: bool = False, **params: Any) -> web.Response:
    return page(request, "message.html", {"key": key, "params": params, "retry": retry},
                status=status, lang=lang)


def signed_in(handler: Handler) -> Handler:
    """Pages for a signed-in roster member. GET without a session goes to WeCom's sign-in;
    a POST must carry the session's CSRF token, or nothing happens."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        settings = settings_of(request)
        session = read_session(request, request.app[SIGNER], settings.web, now_of(request))
        if session is None:
            if request.method == "GET":
                raise sign_in_redirect(request)
            return message_page(request, "web.csrf", status=403, retry=True)
        request[SESSION] = session
        async with deps_of(request).db.session() as db:
            member = await members.get(db, session.userid)
        if member is None or not member.active:
            return message_page(request, "roster.not_found", status=403,
                                userid=session.userid)
        request[MEMBER] = member
        if request.method == "POST":
            post = await request.post()
            token = str(post.get(CSRF_FIELD, "")) or request.headers.get("X-CSRF-Token", "")
            expected = request.app[SIGNER].csrf(session.sid)
            if not hmac.compare_digest(token.encode(), expected.encode()):
                return message_page(request, "web.csrf", status=403)
        return await handler(request)

    return wrapped


def ephemeral_secret() -> bytes:
    return secrets.token_bytes(32)
