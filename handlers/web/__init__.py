"""The web: the member page (/h5/), the reviewers' dashboard (/dashboard/), WeCom sign-in.

`setup_web(app, settings)` is called by the app factory; it registers the routes, the Jinja2
templates and the static files (all shipped as package data of `handlers.web`).
"""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot.settings import Settings
from handlers.web import dashboard, member, oauth
from handlers.web.common import SIGNER, ephemeral_secret
from handlers.web.session import Signer

log = logging.getLogger("handlers.web")

STATIC = Path(__file__).parent / "static"


async def _home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/h5/")


def setup_web(app: web.Application, settings: Settings) -> None:
    if not settings.web.enabled:
        return
    secret = settings.web.secret.get_secret_value()
    if not secret:
        log.warning("[web] secret is not set (YQT_WEB__SECRET): sessions are signed with a "
                    "random key and end when this instance restarts; several instances need "
                    "the same secret")
    app[SIGNER] = Signer(secret.encode() if secret else ephemeral_secret())
    aiohttp_jinja2.setup(app, loader=jinja2.PackageLoader("handlers.web", "templates"),
                         autoescape=jinja2.select_autoescape(("html",)),
                         undefined=jinja2.StrictUndefined)
    r = app.router
    r.add_get("/", _home)
    r.add_get("/oauth/callback", oauth.callback)
    r.add_get("/h5/", member.h5_page)
    r.add_post("/h5/info", member.submit_info)
    r.add_post("/h5/daily", member.submit_daily)
    r.add_post("/h5/applicable", member.applicable)
    r.add_post("/h5/lang", member.switch_language)
    r.add_post("/h5/privacy", member.accept_privacy)
    r.add_get("/dashboard/", dashboard.dashboard)
    r.add_post("/dashboard/remind", dashboard.remind)
    r.add_post("/dashboard/ack/{alert_id}", dashboard.ack)
    r.add_get("/dashboard/member/{userid}", dashboard.member_history)
    r.add_get("/dashboard/export", dashboard.export)
    r.add_route("GET", "/dashboard/proxy/{userid}", dashboard.proxy_form)
    r.add_route("POST", "/dashboard/proxy/{userid}", dashboard.proxy_form)
    r.add_static("/static/", STATIC, name="static", append_version=True)
