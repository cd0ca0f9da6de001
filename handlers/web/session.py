"""Signed session cookies, the OAuth `state` cookie and CSRF tokens.

Why hand-written (≈60 lines) rather than aiohttp-session or itsdangerous: the cookie holds
three values (userid, issue time, a random session id), the expiry must follow the injected
clock (tests move time; itsdangerous and aiohttp-session read the wall clock), and the CSRF
token is an HMAC of the session id, so no server-side session table is needed.

Cookies: HttpOnly, SameSite=Lax (the OAuth redirect back is a top-level GET, which Lax
allows), Secure when `[web] public_url` is https. A session lasts `[web] session_hours`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web

from bot.settings import WebSettings

SESSION_COOKIE = "yqt_session"
STATE_COOKIE = "yqt_oauth"
STATE_SECONDS = 600  # a sign-in must come back from WeCom within ten minutes


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """HMAC-SHA256 over a compact JSON payload; `load` returns None for anything not ours."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, purpose: str, payload: str) -> str:
        return _b64(hmac.new(self._secret, f"{purpose}|{payload}".encode(),
                             hashlib.sha256).digest())

    def dump(self, purpose: str, data: dict[str, Any]) -> str:
        payload = _b64(json.dumps(data, separators=(",", ":")).encode())
        return f"{payload}.{self._mac(purpose, payload)}"

    def load(self, purpose: str, value: str | None) -> dict[str, Any] | None:
        if not value or value.count(".") != 1:
            return None
        payload, mac = value.split(".")
        if not hmac.compare_digest(mac, self._mac(purpose, payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def csrf(self, sid: str) -> str:
        return self._mac("csrf", sid)[:32]


@dataclass(frozen=True)
class WebSession:
    userid: str
    issued_at: int
    sid: str


def read_session(request: web.Request, signer: Signer, settings: WebSettings,
                 now: datetime) -> WebSession | None:
    data = signer.load("session", request.cookies.get(SESSION_COOKIE))
    if data is None:
        return None
    try:
        session = WebSession(str(data["u"]), int(data["t"]), str(data["s"]))
    except (KeyError, TypeError, ValueError):
        return None
    age = now.timestamp() - session.issued_at
    if age < 0 or age > settings.session_hours * 3600:
        return None
    return session


def _cookie_args(settings: WebSettings, max_age: int, path: str = "/") -> dict[str, Any]:
    return {"max_age": max_age, "path": path, "httponly": True, "samesite": "Lax",
            "secure": settings.secure_cookies}


def start_session(response: web.StreamResponse, signer: Signer, settings: WebSettings,
                  userid: str, now: datetime) -> None:
    value = signer.dump("session", {"u": userid, "t": int(now.timestamp()),
                                    "s": secrets.token_urlsafe(12)})
    response.set_cookie(SESSION_COOKIE, value,
                        **_cookie_args(settings, int(settings.session_hours * 3600)))


def end_session(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")


def new_state(response: web.StreamResponse, signer: Signer, settings: WebSettings,
              next_path: str, now: datetime) -> str:
    """A fresh random `state`, remembered in this browser only (a signed, short cookie)."""
    state = secrets.token_urlsafe(24)
    value = signer.dump("state", {"st": state, "n": next_path, "t": int(now.timestamp())})
    response.set_cookie(STATE_COOKIE, value,
                        **_cookie_args(settings, STATE_SECONDS, path="/oauth/"))
    return state


def pending_state(request: web.Request, signer: Signer, now: datetime
                  ) -> tuple[str, str] | None:
    """(state, next path) this browser started, if it is still fresh."""
    data = signer.load("state", request.cookies.get(STATE_COOKIE))
    if data is None:
        return None
    try:
        state, next_path, issued = str(data["st"]), str(data["n"]), int(data["t"])
    except (KeyError, TypeError, ValueError):
        return None
    if not 0 <= now.timestamp() - issued <= STATE_SECONDS:
        return None
    return state, next_path
