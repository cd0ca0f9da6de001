"""WeCom's web sign-in, emulated: the OAuth2 authorize page and the APIs behind it.

Real WeCom, opened inside its client at
``https://open.weixin.qq.com/connect/oauth2/authorize?appid=CORPID&redirect_uri=URI
&response_type=code&scope=snsapi_base&state=STATE&agentid=AGENTID#wechat_redirect``,
silently redirects to ``URI?code=CODE&state=STATE``; the app then calls
``/cgi-bin/auth/getuserinfo?access_token=…&code=CODE`` and learns ``{"userid": …}`` for a
member of the corp or ``{"openid": …}`` for anyone else. A code works once and for 5 minutes.

Here the authorize page lets the tester pick who is signing in (every member, plus "someone
outside the corp"), then redirects exactly like WeCom. Wrong parameters get WeCom's error page
text. The jsapi tickets (``get_jsapi_ticket``, ``ticket/get?type=agent_config``) are issued so
the page's JS-SDK signature can be computed and checked.
"""

from __future__ import annotations

import html
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web
from yarl import URL

if TYPE_CHECKING:
    from app.emulator.api import WeComEmulator

CODE_LIFETIME = 300
TICKET_LIFETIME = 7200
SCOPES = frozenset({"snsapi_base", "snsapi_privateinfo"})


class OAuthSide:
    """Mixed into WeComEmulator: sign-in codes and tickets."""

    #: code -> (userid or "", openid or "", issued at)
    _oauth_codes: dict[str, tuple[str, str, float]]
    #: host names allowed in redirect_uri (WeCom's 可信域名); None accepts any host
    trusted_domain: str | None = None

    def _oauth_init(self) -> None:
        self._oauth_codes = {}
        self.tickets: dict[str, str] = {}

    # ---------------------------------------------------------------- the browser side

    def _authorize_error(self: WeComEmulator, params: dict[str, str]) -> str | None:
        if params.get("appid") != self.corp_id:
            return "appid 参数错误 (invalid appid)"
        if params.get("response_type") != "code":
            return "response_type 参数错误"
        if params.get("scope") not in SCOPES:
            return "scope 参数错误"
        if params.get("scope") == "snsapi_privateinfo" or params.get("agentid"):
            try:
                self._check_agent(params.get("agentid"))
            except Exception:  # noqa: BLE001 - ApiError: shown as WeCom's page text
                return "agentid 参数错误 (invalid agentid)"
        uri = params.get("redirect_uri") or ""
        try:
            target = URL(uri)
        except ValueError:
            return "redirect_uri 参数错误"
        if target.scheme not in ("http", "https") or not target.host:
            return "redirect_uri 参数错误"
        if self.trusted_domain and target.host != self.trusted_domain:
            return "redirect_uri 需使用应用可信域名 (redirect_uri is not in the trusted domain)"
        return None

    def issue_oauth_code(self: WeComEmulator, userid: str = "", openid: str = "") -> str:
        code = secrets.token_hex(16)
        self._oauth_codes[code] = (userid, openid, self.now())
        return code

    async def _oauth_authorize(self: WeComEmulator, request: web.Request) -> web.Response:
        params = dict(request.query)
        self.calls.append(("connect/oauth2/authorize",
                           {k: v for k, v in params.items() if k != "state"}))
        error = self._authorize_error(params)
        if error is not None:
            return web.Response(status=400, text=f"<h1>{html.escape(error)}</h1>",
                                content_type="text/html", charset="utf-8")
        pick = params.pop("pick_userid", None)
        outsider = params.pop("pick_openid", None)
        if pick is not None or outsider is not None:
            if pick is not None and self.member(pick) is None:
                return web.Response(status=400, text="unknown member", content_type="text/html")
            code = self.issue_oauth_code(userid=pick or "",
                                         openid="" if pick else (outsider or "o_outsider"))
            query = {"code": code}
            if "state" in params:
                query["state"] = params["state"]
            target = URL(params["redirect_uri"])
            raise web.HTTPFound(str(target.update_query(query)))
        rows = []
        for member in self.members:
            link = "?" + urlencode({**params, "pick_userid": member.userid})
            rows.append(f'<li><a id="pick-{html.escape(member.userid)}" '
                        f'href="{html.escape(link)}">{html.escape(member.name)} '
                        f'({html.escape(member.userid)})</a></li>')
        outside = "?" + urlencode({**params, "pick_openid": "o_" + secrets.token_hex(6)})
        rows.append(f'<li><a id="pick-outsider" href="{html.escape(outside)}">'
                    f'企业外的微信用户 (someone outside the corp)</a></li>')
        page = ("<!doctype html><html lang=zh><head><meta charset=utf-8>"
                "<meta name=viewport content='width=device-width,initial-scale=1'>"
                "<title>企业微信登录 (emulator)</title></head><body>"
                "<h1>企业微信 · 模拟登录</h1><p>Emulator: who is signing in?</p>"
                f"<ul>{''.join(rows)}</ul></body></html>")
        return web.Response(text=page, content_type="text/html", charset="utf-8")

    # ---------------------------------------------------------------- the APIs

    def _api_auth_getuserinfo(self: WeComEmulator, params: dict[str, str],
                              body: dict[str, Any]) -> dict[str, Any]:
        from app.emulator.api import ApiError

        code = params.get("code") or ""
        entry = self._oauth_codes.pop(code, None)  # a code works once
        if entry is None or self.now() - entry[2] > CODE_LIFETIME:
            raise ApiError(40029, "invalid code")
        userid, openid, _issued = entry
        if userid:
            return {"userid": userid, "user_ticket": "", "expires_in": 1800}
        return {"openid": openid}

    def _issue_ticket(self: WeComEmulator, kind: str) -> dict[str, Any]:
        ticket = secrets.token_urlsafe(48)
        self.tickets[kind] = ticket
        return {"ticket": ticket, "expires_in": TICKET_LIFETIME}

    def _api_get_jsapi_ticket(self: WeComEmulator, params: dict[str, str],
                              body: dict[str, Any]) -> dict[str, Any]:
        return self._issue_ticket("jsapi")

    def _api_ticket_get(self: WeComEmulator, params: dict[str, str],
                        body: dict[str, Any]) -> dict[str, Any]:
        from app.emulator.api import ApiError

        if params.get("type") != "agent_config":
            raise ApiError(40004, "invalid type")
        return self._issue_ticket("agent_config")
