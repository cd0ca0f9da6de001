"""The one async WeCom server-API client.

wechatpy's client is synchronous, keeps its token per process, retries token errors without a cap
and has no timeout (protocol doc §6.4). This client is native aiohttp with per-call timeouts, a
token shared through a `TokenStore` (so several instances call gettoken once, not once each), an
asyncio.Lock so concurrent callers refresh once, exactly one refresh-and-retry on a token error,
and typed errors by errcode (`bot.wecom.errors`). It never retries anything else: backoff and
redelivery belong to the outbox. It never logs the secret or a whole access token.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiohttp

from bot.clock import Clock
from bot.settings import WeComSettings
from bot.wecom.errors import (
    ConfigurationError,
    TokenExpiredError,
    TransientError,
    error_for,
)

log = logging.getLogger("bot.wecom")

#: A cached token is treated as stale this long before WeCom says it expires.
TOKEN_SAFETY_MARGIN = timedelta(minutes=5)
#: message/send accepts at most this many UserIDs in `touser`.
MAX_TOUSER = 1000


class TokenStore(Protocol):
    """Where access tokens live, keyed by f"{corp_id}:{agent_id}"."""

    async def get(self, key: str) -> tuple[str, datetime] | None:
        """The stored (token, expires_at), or None."""
        ...

    async def put(self, key: str, token: str, expires_at: datetime) -> None:
        """Store (upsert) the token."""
        ...

    async def invalidate(self, key: str, token: str) -> None:
        """Forget the token, but only if it is still `token` (another caller may have
        already stored a fresh one)."""
        ...


class MemoryTokenStore:
    """A per-process token store (one instance, or tests)."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, datetime]] = {}

    async def get(self, key: str) -> tuple[str, datetime] | None:
        return self._tokens.get(key)

    async def put(self, key: str, token: str, expires_at: datetime) -> None:
        self._tokens[key] = (token, expires_at)

    async def invalidate(self, key: str, token: str) -> None:
        current = self._tokens.get(key)
        if current is not None and current[0] == token:
            del self._tokens[key]


@dataclass(frozen=True)
class SendResult:
    """What message/send answered with errcode 0 (partial failures included)."""

    msgid: str
    response_code: str | None
    invalid_users: tuple[str, ...] = ()
    unlicensed_users: tuple[str, ...] = ()
    invalid_parties: tuple[str, ...] = ()
    invalid_tags: tuple[str, ...] = ()


def token_fingerprint(token: str) -> str:
    """A short, non-reversible name for a token, safe to log."""
    return hashlib.sha256(token.encode()).hexdigest()[:8]


def _split(value: Any) -> tuple[str, ...]:
    """WeCom answers "a|b" in message/send and ["a","b"] elsewhere; accept both."""
    if not value:
        return ()
    if isinstance(value, str):
        return tuple(part for part in value.split("|") if part)
    return tuple(str(part) for part in value)


class WeComClient:
    """Calls WeCom's server API for one self-built app (corp_id + agent_id + secret)."""

    def __init__(self, http: aiohttp.ClientSession, settings: WeComSettings,
                 tokens: TokenStore, clock: Clock) -> None:
        self._http = http
        self._settings = settings
        self._tokens = tokens
        self._clock = clock
        self._base = settings.api_base.rstrip("/") + "/cgi-bin/"
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout_seconds)
        self._refresh_lock = asyncio.Lock()
        #: The token this process last read or fetched: used while fresh, without a trip to
        #: the shared store on every call. A token WeCom refuses is dropped from it and from
        #: the store, and the next call reads the store (another instance may have refreshed).
        self._held: tuple[str, datetime] | None = None

    @property
    def token_key(self) -> str:
        return f"{self._settings.corp_id}:{self._settings.agent_id}"

    @property
    def agent_id(self) -> int:
        return self._settings.agent_id

    # ----------------------------------------------------------------------------- tokens

    async def gettoken(self) -> str:
        """Fetch a new access token from WeCom and store it (callers normally want
        `access_token()`, which uses the cache)."""
        data = await self._request("GET", "gettoken", params={
            "corpid": self._settings.corp_id,
            "corpsecret": self._settings.secret.get_secret_value(),
        })
        token = data.get("access_token")
        if not isinstance(token, str) or not token:
            raise TransientError(-1, "gettoken answered without an access_token", api="gettoken")
        expires_in = int(data.get("expires_in") or 7200)
        expires_at = self._clock.now() + timedelta(seconds=expires_in)
        await self._tokens.put(self.token_key, token, expires_at)
        self._held = (token, expires_at)
        log.info("fetched access token %s for %s, expires in %d s",
                 token_fingerprint(token), self.token_key, expires_in)
        return token

    def _fresh(self, expires_at: datetime) -> bool:
        return self._clock.now() < expires_at - TOKEN_SAFETY_MARGIN

    async def access_token(self) -> str:
        """A valid token: the one this process holds, the shared cached one, or a new one
        fetched by exactly one caller."""
        if self._held is not None and self._fresh(self._held[1]):
            return self._held[0]
        cached = await self._tokens.get(self.token_key)
        if cached is not None and self._fresh(cached[1]):
            self._held = cached
            return cached[0]
        async with self._refresh_lock:
            cached = await self._tokens.get(self.token_key)
            if cached is not None and self._fresh(cached[1]):
                self._held = cached
                return cached[0]
            return await self.gettoken()

    # ------------------------------------------------------------------------- transport

    async def _request(self, method: str, api: str, *, params: dict[str, Any] | None = None,
                       body: dict[str, Any] | None = None) -> dict[str, Any]:
        """One HTTP round trip; returns the JSON of an errcode-0 answer or raises."""
        data_bytes = None
        headers = None
        if body is not None:
            data_bytes = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers = {"Content-Type": "application/json; charset=utf-8"}
        started = time.monotonic()
        try:
            async with self._http.request(method, self._base + api, params=params,
                                          data=data_bytes, headers=headers,
                                          timeout=self._timeout) as resp:
                status = resp.status
                raw = await resp.read()
                retry_after = _retry_after(resp.headers.get("Retry-After"))
        except (TimeoutError, aiohttp.ClientError) as exc:
            # str(exc) may quote the URL, which carries the token or the secret: name the type.
            log.warning("WeCom %s failed: %s", api, type(exc).__name__)
            raise TransientError(-1, f"network error: {type(exc).__name__}",
                                 api=api) from None
        elapsed = time.monotonic() - started
        if status != 200:
            # WeCom answers its errors as errcodes in a 200; another status comes from the
            # network between us (a proxy, a gateway, a rate limiter): 429, 5xx and the rest
            # are all worth retrying later. Only an errcode can make a failure permanent.
            raise TransientError(-1, f"HTTP {status}", api=api, http_status=status,
                                 retry_after=retry_after)
        try:
            data = json.loads(raw)
        except ValueError:
            raise TransientError(-1, "answer is not JSON", api=api, http_status=status) from None
        if not isinstance(data, dict):
            raise TransientError(-1, "answer is not a JSON object", api=api, http_status=status)
        try:
            errcode = int(data.get("errcode") or 0)
        except (TypeError, ValueError):
            raise TransientError(-1, "answer has a malformed errcode", api=api) from None
        log.debug("WeCom %s -> errcode %d in %.3f s", api, errcode, elapsed)
        if errcode == 0:
            return data
        error = error_for(errcode, str(data.get("errmsg", "")), api=api)
        if isinstance(error, ConfigurationError):
            log.error("WeCom configuration error on %s: errcode %d (%s); fix the settings, "
                      "this call is not retried", api, errcode, error.errmsg)
        raise error

    async def _call(self, method: str, api: str, *, params: dict[str, Any] | None = None,
                    body: dict[str, Any] | None = None) -> dict[str, Any]:
        """An authenticated call: on a token errcode, invalidate, refresh once, retry once."""
        token = await self.access_token()
        try:
            return await self._request(method, api, params={**(params or {}),
                                                            "access_token": token}, body=body)
        except TokenExpiredError as exc:
            log.warning("WeCom %s: token %s refused (errcode %d); refreshing once",
                        api, token_fingerprint(token), exc.errcode)
            if self._held is not None and self._held[0] == token:
                self._held = None
            await self._tokens.invalidate(self.token_key, token)
        token = await self.access_token()
        return await self._request(method, api, params={**(params or {}),
                                                        "access_token": token}, body=body)

    # ------------------------------------------------------------------------------ APIs

    async def send_message(self, touser: list[str], message: dict[str, Any]) -> SendResult:
        """message/send to up to 1000 members; `message` is the body without touser/agentid,
        e.g. {"msgtype": "text", "text": {"content": "…"}}."""
        if isinstance(touser, str):
            raise TypeError("touser must be a list of UserIDs, not a '|'-joined string")
        if not touser:
            raise ValueError("touser is empty")
        if len(touser) > MAX_TOUSER:
            raise ValueError(f"touser has {len(touser)} UserIDs; WeCom accepts at most "
                             f"{MAX_TOUSER} per call")
        if "msgtype" not in message:
            raise ValueError("message needs a msgtype")
        body = {**message, "touser": "|".join(touser), "agentid": self._settings.agent_id}
        data = await self._call("POST", "message/send", body=body)
        return SendResult(
            msgid=str(data.get("msgid", "")),
            response_code=data.get("response_code") or None,
            invalid_users=_split(data.get("invaliduser")),
            unlicensed_users=_split(data.get("unlicenseduser")),
            invalid_parties=_split(data.get("invalidparty")),
            invalid_tags=_split(data.get("invalidtag")),
        )

    async def update_template_card(self, userids: list[str], response_code: str, *,
                                   template_card: dict[str, Any] | None = None,
                                   button: dict[str, Any] | str | None = None
                                   ) -> dict[str, Any]:
        """message/update_template_card: `button` ({"replace_name": …} or just the name)
        greys the buttons out; `template_card` replaces the whole card. Exactly one."""
        if (template_card is None) == (button is None):
            raise ValueError("give exactly one of template_card or button")
        body: dict[str, Any] = {"userids": list(userids), "agentid": self._settings.agent_id,
                                "response_code": response_code}
        if button is not None:
            body["button"] = {"replace_name": button} if isinstance(button, str) else button
        else:
            body["template_card"] = template_card
        return await self._call("POST", "message/update_template_card", body=body)

    async def list_departments(self, department_id: int | None = None) -> list[dict[str, Any]]:
        """department/list: the department and every department below it (all if None)."""
        params = {} if department_id is None else {"id": department_id}
        data = await self._call("GET", "department/list", params=params)
        return list(data.get("department", []))

    async def list_users(self, department_id: int, fetch_child: bool = True
                         ) -> list[dict[str, Any]]:
        """user/list: the members of a department (and of its children)."""
        data = await self._call("GET", "user/list", params={
            "department_id": department_id, "fetch_child": 1 if fetch_child else 0})
        return list(data.get("userlist", []))

    async def create_menu(self, menu: dict[str, Any]) -> None:
        """menu/create for this app ({"button": [...]})."""
        await self._call("POST", "menu/create", params={"agentid": self._settings.agent_id},
                         body=menu)

    async def get_user_info(self, code: str) -> dict[str, Any]:
        """auth/getuserinfo: who signed in through OAuth2 ({"userid"} for a member of the
        corp, {"openid"} for anyone else). A code is valid once, for five minutes."""
        return await self._call("GET", "auth/getuserinfo", params={"code": code})

    async def jsapi_ticket(self, kind: str = "corp") -> str:
        """A JS-SDK ticket, cached in the token store like the access token (WeCom allows
        few fetches a day): "corp" (get_jsapi_ticket, for `wx.config`) or "agent"
        (ticket/get?type=agent_config, for `wx.agentConfig`)."""
        key = f"{self.token_key}:ticket:{kind}"
        cached = await self._tokens.get(key)
        if cached is not None and self._fresh(cached[1]):
            return cached[0]
        if kind == "agent":
            api, params = "ticket/get", {"type": "agent_config"}
        else:
            api, params = "get_jsapi_ticket", {}
        data = await self._call("GET", api, params=params)
        ticket = data.get("ticket")
        if not isinstance(ticket, str) or not ticket:
            raise TransientError(-1, f"{api} answered without a ticket", api=api)
        expires_at = self._clock.now() + timedelta(seconds=int(data.get("expires_in") or 7200))
        await self._tokens.put(key, ticket, expires_at)
        return ticket


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is ignored), capped at a day."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), 86400.0)
