"""WeCom JS-SDK configuration, signed on the server (the ticket never reaches the browser).

Inside the WeCom client the page calls `wx.config` (corp jsapi_ticket) and `wx.agentConfig`
(the app's agent_config ticket) and then `wx.getLocation`. The signature is WeCom's:
sha1("jsapi_ticket=T&noncestr=N&timestamp=S&url=U") with the page URL without its #fragment.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from typing import Any

from aiohttp import web

from handlers.keys import CLIENT
from bot.wecom.errors import WeComError
from handlers.web.common import now_of, settings_of

log = logging.getLogger("handlers.web")


def signature(ticket: str, noncestr: str, timestamp: int, url: str) -> str:
    plain = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(plain.encode("utf-8")).hexdigest()


def in_wecom(request: web.Request) -> bool:
    return "wxwork" in request.headers.get("User-Agent", "").lower()


async def config_for(request: web.Request) -> dict[str, Any] | None:
    """Signed `wx.config` + `wx.agentConfig` parameters for this page, or None outside WeCom
    (the page then uses the browser's Geolocation API) or when WeCom refuses a ticket."""
    if not in_wecom(request):
        return None
    settings = settings_of(request)
    url = f"{settings.web.public_url}{request.path_qs}".split("#", 1)[0]
    timestamp = int(now_of(request).timestamp())
    client = request.app[CLIENT]
    try:
        corp, agent = await client.jsapi_ticket("corp"), await client.jsapi_ticket("agent")
    except WeComError as exc:
        log.warning("JS-SDK ticket refused (errcode %s); the page falls back to the browser",
                    exc.errcode)
        return None
    nonce, agent_nonce = secrets.token_hex(8), secrets.token_hex(8)
    return {
        "config": {"beta": True, "debug": False, "appId": settings.wecom.corp_id,
                   "timestamp": timestamp, "nonceStr": nonce,
                   "signature": signature(corp, nonce, timestamp, url),
                   "jsApiList": ["getLocation"]},
        "agentConfig": {"corpid": settings.wecom.corp_id, "agentid": settings.wecom.agent_id,
                        "timestamp": timestamp, "nonceStr": agent_nonce,
                        "signature": signature(agent, agent_nonce, timestamp, url),
                        "jsApiList": ["getLocation"]},
    }
