"""The WeCom callback endpoint: verify, decrypt, parse, process, commit, then answer 200
(empty, or with the encrypted passive reply).

Everything before `process` is pure and cheap; a bad request is answered with a 4xx and leaves
no trace. WeCom re-sends anything not answered 200 within 5 s, so the effect of a callback is
committed before we answer and a re-sent callback is recognised by its dedupe key.
"""

from __future__ import annotations

import logging
import re
import time

from aiohttp import web

from bot import logs
from bot.clock import Clock
from bot.wecom.crypto import CallbackRejected
from bot.wecom.inbound import Inbound, parse_envelope, parse_plaintext
from bot.wecom.reply import passive_reply_xml
from handlers.context import Turn
from handlers.keys import CLOCK, CRYPTO, LIMITER, METRICS, PROCESSOR, SETTINGS
from handlers.ratelimit import Verdict

log = logging.getLogger("handlers.callback")

#: What WeCom's URL check encrypts: a short random token (in practice a number). Anything else
#: under a valid signature is a captured message being fed back to us to decrypt.
ECHOSTR_RE = re.compile(r"[0-9A-Za-z_-]{1,64}")


def _query(request: web.Request, *names: str) -> list[str]:
    values = []
    for name in names:
        value = request.query.get(name)
        if not value or len(value) > 4096:
            raise CallbackRejected(f"missing or oversize query parameter {name}")
        values.append(value)
    return values


def _check_fresh(timestamp: str, window: int, clock: Clock) -> None:
    """Refuse replays of old callbacks (WeCom's docs leave the window to us)."""
    try:
        sent = int(timestamp)
    except ValueError:
        raise CallbackRejected("timestamp is not a number") from None
    if window > 0 and abs(clock.now().timestamp() - sent) > window:
        raise CallbackRejected("timestamp outside the freshness window", status=403)


async def verify_url(request: web.Request) -> web.Response:
    """GET: WeCom checks the URL; answer the decrypted echostr exactly (within 1 s)."""
    try:
        signature, timestamp, nonce, echostr = _query(
            request, "msg_signature", "timestamp", "nonce", "echostr")
        settings = request.app[SETTINGS]
        _check_fresh(timestamp, settings.server.timestamp_window_seconds, request.app[CLOCK])
        plaintext = request.app[CRYPTO].decrypt(signature, timestamp, nonce, echostr)
        if not ECHOSTR_RE.fullmatch(plaintext):
            # Never answer a decrypted message: GET must not be a decryption oracle.
            raise CallbackRejected("echostr is not a verification token", status=403)
    except CallbackRejected as exc:
        log.warning("URL verification refused: %s", exc.reason)
        return web.Response(status=exc.status, text=exc.reason)
    return web.Response(body=plaintext.encode("utf-8"), content_type="text/plain")


async def receive(request: web.Request) -> web.Response:
    """POST: one message or event from WeCom (timed, counted, and tagged with a callback id
    that every log line written while handling it carries)."""
    token = logs.callback_id.set(logs.new_callback_id())
    started = time.monotonic()
    kind = "unknown"
    result = "error"
    try:
        response, kind, result = await _receive(request)
        return response
    finally:
        request.app[METRICS].callback(kind, result, time.monotonic() - started)
        logs.callback_id.reset(token)


async def _receive(request: web.Request) -> tuple[web.Response, str, str]:
    settings = request.app[SETTINGS]
    limit = settings.server.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        return web.Response(status=413, text="body too large"), "unknown", "rejected"
    try:
        signature, timestamp, nonce = _query(request, "msg_signature", "timestamp", "nonce")
        _check_fresh(timestamp, settings.server.timestamp_window_seconds, request.app[CLOCK])
        body = await request.content.read(limit + 1)
        if len(body) > limit:
            return web.Response(status=413, text="body too large"), "unknown", "rejected"
        encrypted, _to_user = parse_envelope(body)
        plaintext = request.app[CRYPTO].decrypt(signature, timestamp, nonce, encrypted)
        inbound = parse_plaintext(plaintext)
    except CallbackRejected as exc:
        log.warning("callback refused (%d): %s", exc.status, exc.reason)
        return web.Response(status=exc.status, text=exc.reason), "unknown", "rejected"
    verdict = request.app[LIMITER].check(inbound.userid, request.app[CLOCK].now())
    if verdict is Verdict.OVER:
        return web.Response(status=200, text=""), inbound.kind, "limited"
    if verdict is Verdict.FIRST_OVER:
        log.warning("a member exceeded %d callbacks a minute; ignoring them for a minute",
                    settings.server.member_callbacks_per_minute)
        outcome = await request.app[PROCESSOR].process(inbound, dispatch=slow_down)
        return _answer(request, inbound, outcome.reply, nonce), inbound.kind, "limited"
    outcome = await request.app[PROCESSOR].process(inbound)
    return (_answer(request, inbound, outcome.reply, nonce), inbound.kind,
            "ok" if outcome.applied else "duplicate")


def _answer(request: web.Request, inbound: Inbound, reply: str | None, nonce: str
            ) -> web.Response:
    """200, empty or carrying the encrypted passive reply (DOC-90241 text in the DOC-90238
    envelope); a re-sent callback gets the same text, stored with its dedupe row."""
    if reply is None:
        return web.Response(status=200, text="")
    body = passive_reply_xml(request.app[CRYPTO], inbound.userid,
                             request.app[SETTINGS].wecom.corp_id, reply, nonce,
                             int(request.app[CLOCK].now().timestamp()))
    return web.Response(body=body, content_type="text/xml")


async def slow_down(turn: Turn) -> None:
    """The one answer a member over the inbound limit gets."""
    if turn.member is not None:
        await turn.say("limit.slow_down")
