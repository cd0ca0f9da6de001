"""A faithful WeCom server: the /cgi-bin/ API plus the corp's members and their inboxes.

The bot is tested, demoed and benchmarked against this instead of a real corp, so it enforces
WeCom's rules rather than accepting anything: token lifecycle (41001/40014/42001), agent id
(40056), recipient rules (invaliduser partial success, 81013, 82001), content limits, the
template_card rules (task_id unique forever, 42014; button/option limits), single-use 72-hour
response codes (60140), 24-hour recall (42052) and `enable_duplicate_check` (the same message
to the same member inside `duplicate_check_interval` is silently not delivered). Faults, latency and dropped connections can
be injected per API, and every call is recorded, so tests can prove the bot copes.

Choices where WeCom is vague: text over 2048 bytes is truncated (WeCom truncates) and the
delivery is marked `truncated`; markdown over 2048 bytes is refused with 45002; gettoken issues a
new token each call and earlier tokens stay valid until they expire (7200 s).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import SecretStr

from app.emulator.cards import (
    INTERACTIVE_TYPES,
    CardRejected,
    validate_template_card,
)
from app.emulator.member import MemberSide
from app.emulator.oauth import OAuthSide
from app.emulator.records import (
    HIDDEN_IN_PLUGIN,
    CardView,
    ClientKind,
    Delivered,
    Department,
    Member,
)
from bot.settings import WeComSettings
from bot.text import cut

log = logging.getLogger("app.emulator")

TOKEN_LIFETIME = 7200
RESPONSE_CODE_LIFETIME = 72 * 3600
RECALL_WINDOW = 24 * 3600
TEXT_MAX_BYTES = 2048
MARKDOWN_MAX_BYTES = 2048
MAX_TOUSER = 1000
MAX_TOPARTY = 100

DEFAULT_SECRET = "emulated-app-secret"
DEFAULT_TOKEN = "EmulatorToken2024"
DEFAULT_AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

KNOWN_MSGTYPES = frozenset({"text", "image", "voice", "video", "file", "textcard", "news",
                            "mpnews", "markdown", "miniprogram_notice", "template_card"})
MENU_TYPES = frozenset({"click", "view", "scancode_push", "scancode_waitmsg", "pic_sysphoto",
                        "pic_photo_or_album", "pic_weixin", "location_select",
                        "view_miniprogram"})

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈"  # noqa: E501
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力鹏宇浩然子涵欣怡梓轩雨"


class ApiError(Exception):
    """An errcode answer from an emulated API."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errcode, errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass
class ResponseCode:
    task_id: str
    issued_at: float
    userid: str | None  # None: from message/send (any recipient)
    used: bool = False


@dataclass
class SentMessage:
    msgid: str
    sent_at: float
    msgtype: str
    deliveries: list[Delivered] = field(default_factory=list)
    recalled: bool = False


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8"))


class WeComEmulator(MemberSide, OAuthSide):
    """One emulated corp with one self-built app; see the module docstring."""

    def __init__(self, corp_id: str = "ww_emulated_corp", agent_id: int = 1000002,
                 secret: str = DEFAULT_SECRET, token: str = DEFAULT_TOKEN,
                 encoding_aes_key: str = DEFAULT_AES_KEY, callback_url: str | None = None,
                 *, clock: Any = None, corp_name: str = "Emulated University",
                 callback_timeout: float = 5.0) -> None:
        self.corp_id = corp_id
        self.agent_id = agent_id
        self.secret = secret
        self.token = token
        self.encoding_aes_key = encoding_aes_key
        self.callback_url = callback_url
        self.callback_timeout = callback_timeout
        self._clock = clock
        self.base_url: str | None = None

        self._members: dict[str, Member] = {}
        self._departments: dict[int, Department] = {1: Department(1, corp_name, 0)}
        self._tokens: dict[str, float] = {}
        self._expired_tokens: set[str] = set()
        self._used_task_ids: set[str] = set()
        self._cards: dict[str, dict[str, CardView]] = {}
        self._response_codes: dict[str, ResponseCode] = {}
        self._messages: dict[str, SentMessage] = {}
        self._inbox: dict[str, list[Delivered]] = {}
        #: Set on each delivery to the member; see wait_for_inbox.
        self._arrived: dict[str, asyncio.Event] = {}
        self._timeline: dict[str, list[tuple[str, Any]]] = {}
        self.menu: dict[str, Any] | None = None
        #: WeCom's per-member limits for message/send: beyond them messages are dropped
        #: silently (protocol doc §5.1). Passive replies are not message/send and not counted.
        self.per_member_per_minute = 30
        self.per_member_per_hour = 1000
        self._received_at: dict[str, deque[float]] = {}
        #: Messages WeCom dropped for a member's limit, as (userid, msgtype).
        self.dropped: list[tuple[str, str]] = []

        #: Every API call as (api path without /cgi-bin/, JSON body or query parameters).
        self.calls: list[tuple[str, dict[str, Any] | None]] = []
        #: Every callback plaintext the members produced, as (userid, xml).
        self.callback_log: list[tuple[str, str]] = []
        self.last_verify_status: int | None = None
        self._faults: dict[str, deque[int]] = {}
        #: (userid lower-cased, content key) -> when message/send last delivered it.
        self._recent: dict[tuple[str, str], float] = {}
        #: Deliveries that enable_duplicate_check suppressed, as (userid, msgtype).
        self.duplicates_dropped: list[tuple[str, str]] = []
        self._network_faults: dict[str, deque[str]] = {}
        self._latency = 0.0
        self._msgid_counter = random.SystemRandom().randrange(10**17, 2**62)

        self._oauth_init()

        self._app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self._callback_http: Any = None
        self._owns_callback_http = False

    # -------------------------------------------------------------------------- time

    def now(self) -> float:
        """Unix seconds by the emulator's clock (a Clock, a callable or wall time)."""
        clock = self._clock
        if clock is None:
            return time.time()
        value = clock.now() if hasattr(clock, "now") else clock()
        return value.timestamp() if isinstance(value, datetime) else float(value)

    # ------------------------------------------------------------------------ directory

    def add_department(self, id: int, name: str, parentid: int = 1, order: int = 0
                       ) -> Department:
        department = Department(id, name, parentid, order)
        self._departments[id] = department
        return department

    def add_member(self, userid: str, name: str, department: list[int] | None = None,
                   client: ClientKind = "wecom", *, licensed: bool = True,
                   position: str = "") -> Member:
        """Add (or replace) a member of the app's visible range."""
        if client not in ("wecom", "wechat_plugin"):
            raise ValueError("client must be 'wecom' or 'wechat_plugin'")
        member = Member(userid, name, list(department or [1]), client, licensed, position)
        self._members[userid.lower()] = member
        return member

    def remove_member(self, userid: str) -> None:
        self._members.pop(userid.lower(), None)

    def generate_directory(self, n_members: int, n_departments: int = 10, *,
                           plugin_share: float = 0.0, seed: int = 0) -> list[str]:
        """A deterministic corp of `n_departments` (a tree under the root) and `n_members`
        members named user00001…; returns their userids."""
        rng = random.Random(seed)
        first = max(self._departments) + 1
        ids = list(range(first, first + n_departments))
        for n, dept_id in enumerate(ids):
            parent = 1 if n < max(1, n_departments // 5) else rng.choice(ids[:n])
            self.add_department(dept_id, f"部门{dept_id}", parent, order=n)
        userids = []
        for i in range(1, n_members + 1):
            userid = f"user{i:05d}"
            name = rng.choice(_SURNAMES) + "".join(rng.choices(_GIVEN, k=rng.choice((1, 2))))
            dept = ids[(i - 1) % len(ids)] if ids else 1
            client: ClientKind = "wechat_plugin" if rng.random() < plugin_share else "wecom"
            self.add_member(userid, name, [dept], client)
            userids.append(userid)
        return userids

    @property
    def members(self) -> list[Member]:
        return list(self._members.values())

    def member(self, userid: str) -> Member | None:
        return self._members.get(userid.lower())

    def member_client(self, userid: str) -> ClientKind:
        member = self._members.get(userid.lower())
        return member.client if member else "wecom"

    def _descendants(self, dept_id: int) -> set[int]:
        children: dict[int, list[int]] = {}
        for dept in self._departments.values():
            children.setdefault(dept.parentid, []).append(dept.id)
        found, stack = {dept_id}, [dept_id]
        while stack:
            for child in children.get(stack.pop(), []):
                if child not in found:
                    found.add(child)
                    stack.append(child)
        return found

    # ------------------------------------------------------------------ what members see

    def inbox(self, userid: str) -> list[Delivered]:
        """Every message delivered to the member, including ones their client hides."""
        return list(self._inbox.get(userid.lower(), []))

    def transcript(self, userid: str, *, include_sent: bool = False) -> list[str]:
        """The texts the member can see, oldest first; with include_sent, what the member
        sent is interleaved as "> …" lines."""
        lines = []
        for kind, item in self._timeline.get(userid.lower(), []):
            if kind == "sent":
                if include_sent:
                    lines.append(f"> {item}")
            elif item.visible and not item.recalled:
                lines.append(item.text)
        return lines

    def last_text(self, userid: str) -> str | None:
        for delivered in reversed(self._inbox.get(userid.lower(), [])):
            if delivered.visible and not delivered.recalled:
                return delivered.text
        return None

    def card(self, task_id: str, userid: str | None = None) -> CardView:
        """The current state of a card (for `userid`, or its first recipient)."""
        views = self._cards[task_id]
        if userid is not None:
            return views[userid.lower()]
        return next(iter(views.values()))

    async def wait_for_inbox(self, userid: str, count: int = 1, *, timeout: float = 10.0
                             ) -> list[Delivered]:
        """The member's inbox once it holds at least `count` messages: woken by each delivery,
        never polling; TimeoutError after `timeout` seconds."""
        key = userid.lower()
        async with asyncio.timeout(timeout):
            while len(self._inbox.get(key, [])) < count:
                arrived = self._arrived.setdefault(key, asyncio.Event())
                arrived.clear()
                await arrived.wait()
        return self.inbox(userid)

    def _add_to_inbox(self, userid: str, delivered: Delivered) -> None:
        self._inbox.setdefault(userid.lower(), []).append(delivered)
        arrived = self._arrived.get(userid.lower())
        if arrived is not None:  # wake the member's waiters only (not every waiting member)
            arrived.set()
        self._timeline.setdefault(userid.lower(), []).append(("received", delivered))

    def _record_sent(self, userid: str, text: str) -> None:
        self._timeline.setdefault(userid.lower(), []).append(("sent", text))

    def _deliver_passive(self, userid: str, msgtype: str, body: dict[str, Any]) -> None:
        visible = not (self.member_client(userid) == "wechat_plugin"
                       and msgtype in HIDDEN_IN_PLUGIN)
        self._add_to_inbox(userid, Delivered(userid, msgtype, body, None, self.now(), visible,
                                             passive=True))

    def _issue_response_code(self, task_id: str, userid: str | None) -> str:
        code = secrets.token_urlsafe(32)
        self._response_codes[code] = ResponseCode(task_id, self.now(), userid)
        return code

    # ------------------------------------------------------------------------- faults

    def inject_fault(self, api: str, errcode: int, times: int = 1) -> None:
        """The next `times` calls of `api` (e.g. "message/send") answer `errcode`."""
        self._faults.setdefault(_api_name(api), deque()).extend([errcode] * times)

    def fail_network(self, api: str, times: int = 1,
                     mode: Literal["close", "502", "429"] = "close") -> None:
        """The next `times` calls of `api` lose their connection (or get HTTP 502, or HTTP 429
        with Retry-After: 1 — as a rate-limiting proxy in front of WeCom would answer)."""
        self._network_faults.setdefault(_api_name(api), deque()).extend([mode] * times)

    def clear_faults(self) -> None:
        self._faults.clear()
        self._network_faults.clear()
        self._latency = 0.0

    def set_latency(self, seconds: float) -> None:
        """Every API call waits this long before answering."""
        self._latency = max(0.0, seconds)

    def expire_tokens(self) -> None:
        """Every token issued so far now answers 42001."""
        self._expired_tokens.update(self._tokens)

    def api_call_count(self, path: str) -> int:
        name = _api_name(path)
        return sum(1 for api, _ in self.calls if api == name)

    def issue_token(self) -> str:
        """A valid access token, as gettoken would return (for tests that call raw HTTP)."""
        token = secrets.token_urlsafe(64)
        self._tokens[token] = self.now()
        return token

    # ------------------------------------------------------------------- aiohttp server

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/cgi-bin/{api:.+}", self._handle)
        app.router.add_get("/connect/oauth2/authorize", self._oauth_authorize)
        return app

    @property
    def app(self) -> web.Application:
        if self._app is None:
            self._app = self.make_app()
        return self._app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve the API on a real socket; returns the base URL (http://host:port)."""
        if self._runner is not None:
            raise RuntimeError("emulator already started")
        self._runner = web.AppRunner(self.app, shutdown_timeout=1.0, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self.base_url = f"http://{host}:{bound_port}"
        log.info("WeCom emulator listening on %s", self.base_url)
        return self.base_url

    async def stop(self) -> None:
        """Stop serving (if started) and close the callback HTTP session; state is kept."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
            self._app = None
            self.base_url = None
        if self._callback_http is not None and self._owns_callback_http:
            await self._callback_http.close()
        self._callback_http = None

    async def close(self) -> None:
        """Same as stop(): release the socket and the callback session."""
        await self.stop()

    async def __aenter__(self) -> WeComEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def wecom_settings(self, *, timeout_seconds: float = 5.0, **overrides: Any
                       ) -> WeComSettings:
        """Settings that point the real client at this (started) emulator."""
        if self.base_url is None:
            raise RuntimeError("start() the emulator first")
        values: dict[str, Any] = {
            "corp_id": self.corp_id, "agent_id": self.agent_id,
            "secret": SecretStr(self.secret), "token": SecretStr(self.token),
            "encoding_aes_key": SecretStr(self.encoding_aes_key),
            "api_base": self.base_url, "timeout_seconds": timeout_seconds}
        values.update(overrides)
        return WeComSettings(**values)

    def serve_env(self, db_url: str, **extra: str) -> dict[str, str]:
        """The environment of a `yiqingtong` command (serve, jobs, menu) pointed at this
        emulator, as an operator would set it: the caller's own YQT_* variables left out, the
        [wecom] section, the database, and the scheduler off (tests and benchmarks run jobs
        themselves); `extra` adds or overrides variables."""
        if self.base_url is None:
            raise RuntimeError("start() the emulator first")
        env = {k: v for k, v in os.environ.items() if not k.startswith("YQT_")}
        env.update({
            "YQT_WECOM__CORP_ID": self.corp_id, "YQT_WECOM__AGENT_ID": str(self.agent_id),
            "YQT_WECOM__SECRET": self.secret, "YQT_WECOM__TOKEN": self.token,
            "YQT_WECOM__ENCODING_AES_KEY": self.encoding_aes_key,
            "YQT_WECOM__API_BASE": self.base_url, "YQT_DATABASE__URL": db_url,
            "YQT_SCHEDULE__ENABLED": "false", **extra})
        return env

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        api = request.match_info["api"].strip("/")
        handler = _ROUTES.get(api)
        if handler is None:
            raise web.HTTPNotFound(text="unknown api")
        params = dict(request.query)
        body: Any = None
        parse_error = False
        if request.method == "POST":
            raw = await request.read()
            try:
                body = json.loads(raw) if raw.strip() else {}
            except ValueError:
                parse_error = True
            if not isinstance(body, dict):
                parse_error = True
        recorded = body if request.method == "POST" else {
            k: ("***" if k == "corpsecret" else v) for k, v in params.items()
            if k != "access_token"}
        self.calls.append((api, recorded if isinstance(recorded, dict) else None))

        if self._latency:
            await asyncio.sleep(self._latency)
        network = self._network_faults.get(api)
        if network:
            mode = network.popleft()
            if mode == "502":
                return web.Response(status=502, text="Bad Gateway")
            if mode == "429":
                return web.Response(status=429, text="Too Many Requests",
                                    headers={"Retry-After": "1"})
            if request.transport is not None:
                request.transport.close()
            raise web.HTTPBadGateway()  # never reaches the client: the socket is gone
        faults = self._faults.get(api)
        if faults:
            errcode = faults.popleft()
            return _json({"errcode": errcode, "errmsg": f"injected fault {errcode}"})
        try:
            if api != "gettoken":
                self._check_token(params)
            if parse_error:
                raise ApiError(47001, "data format error, Warning: wrong json format.")
            result = handler(self, params, body or {})
        except ApiError as exc:
            return _json({"errcode": exc.errcode, "errmsg": exc.errmsg})
        except CardRejected as exc:
            return _json({"errcode": exc.errcode, "errmsg": exc.errmsg})
        return _json({"errcode": 0, "errmsg": "ok", **result})

    # ----------------------------------------------------------------------- checks

    def _check_token(self, params: dict[str, str]) -> None:
        token = params.get("access_token")
        if not token:
            raise ApiError(41001, "access_token missing")
        issued = self._tokens.get(token)
        if issued is None:
            raise ApiError(40014, "invalid access_token")
        if token in self._expired_tokens or self.now() - issued >= TOKEN_LIFETIME:
            raise ApiError(42001, "access_token expired")

    def _check_agent(self, value: Any) -> None:
        if value is None or value == "":
            raise ApiError(41011, "missing agentid")
        try:
            agent = int(value)
        except (TypeError, ValueError):
            raise ApiError(40056, "invalid agentid") from None
        if agent != self.agent_id:
            raise ApiError(40056, "invalid agentid")

    # ------------------------------------------------------------------------- APIs

    def _api_gettoken(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        corpid = params.get("corpid")
        secret = params.get("corpsecret")
        if not corpid:
            raise ApiError(41002, "corpid missing")
        if corpid != self.corp_id:
            raise ApiError(40013, "invalid corpid")
        if not secret:
            raise ApiError(41004, "corpsecret missing")
        if not secrets.compare_digest(secret.encode(), self.secret.encode()):
            raise ApiError(40001, "invalid credential")
        return {"access_token": self.issue_token(), "expires_in": TOKEN_LIFETIME}

    def _check_content(self, msgtype: str, body: dict[str, Any], *, repeat: bool = False
                       ) -> tuple[dict[str, Any], bool]:
        """Validate one message body; returns (body as delivered, truncated)."""
        payload = body.get(msgtype)
        if msgtype in ("text", "markdown"):
            content = payload.get("content") if isinstance(payload, dict) else None
            if not isinstance(content, str) or not content:
                raise ApiError(44004, "empty content")
            if msgtype == "markdown":
                if _nbytes(content) > MARKDOWN_MAX_BYTES:
                    raise ApiError(45002, "content size out of limit")
                return {"content": content}, False
            if _nbytes(content) > TEXT_MAX_BYTES:
                return {"content": cut(content, TEXT_MAX_BYTES)}, True
            return {"content": content}, False
        if not isinstance(payload, dict):
            raise ApiError(40058, f"missing {msgtype}")
        if msgtype == "textcard":
            if not payload.get("title"):
                raise ApiError(41016, "missing title")
            if not payload.get("description"):
                raise ApiError(41033, "missing description")
            if not payload.get("url"):
                raise ApiError(41010, "missing url")
            if _nbytes(str(payload["title"])) > 128 or \
                    _nbytes(str(payload["description"])) > 512:
                raise ApiError(45002, "content size out of limit")
        elif msgtype == "news":
            articles = payload.get("articles")
            if not isinstance(articles, list) or not 1 <= len(articles) <= 8:
                raise ApiError(45008, "article size out of limit")
        elif msgtype == "template_card":
            # A duplicate-checked repeat of a card sent inside the interval is not a reuse.
            validate_template_card(payload, task_id_taken=(lambda _t: False) if repeat
                                   else self._used_task_ids.__contains__)
        return dict(payload), False

    def _resolve(self, touser: Any, toparty: Any, totag: Any
                 ) -> tuple[list[Member], list[str], list[str], list[str], list[str]]:
        """(deliver to, invaliduser, invalidparty, invalidtag, unlicenseduser)."""
        users = [u for u in str(touser or "").split("|") if u]
        parties = [p for p in str(toparty or "").split("|") if p]
        tags = [t for t in str(totag or "").split("|") if t]
        if not users and not parties and not tags:
            raise ApiError(82001, "All touser & toparty & totag invalid")
        if len(users) > MAX_TOUSER:
            raise ApiError(40032, "invalid userid list size")
        if len(parties) > MAX_TOPARTY or len(tags) > MAX_TOPARTY:
            raise ApiError(40058, "invalid toparty/totag size")
        targets: dict[str, Member] = {}
        invalid_users: list[str] = []
        invalid_parties: list[str] = []
        if "@all" in users:
            targets = dict(self._members)
        else:
            for userid in users:
                member = self._members.get(userid.lower())
                if member is None:
                    invalid_users.append(userid.lower())
                else:
                    targets[userid.lower()] = member
            for party in parties:
                try:
                    dept_id = int(party)
                except ValueError:
                    dept_id = -1
                if dept_id not in self._departments:
                    invalid_parties.append(party)
                    continue
                depts = self._descendants(dept_id)
                for key, member in self._members.items():
                    if depts.intersection(member.department):
                        targets.setdefault(key, member)
        invalid_tags = list(tags)  # the emulated corp has no tags
        deliver = [m for m in targets.values() if m.licensed]
        unlicensed = [m.userid for m in targets.values() if not m.licensed]
        if not deliver and not unlicensed:
            raise ApiError(81013, "user & party & tag all invalid")
        return deliver, invalid_users, invalid_parties, invalid_tags, unlicensed

    def _api_message_send(self, params: dict[str, str], body: dict[str, Any]
                          ) -> dict[str, Any]:
        self._check_agent(body.get("agentid"))
        msgtype = body.get("msgtype")
        if msgtype not in KNOWN_MSGTYPES:
            raise ApiError(40008, "invalid message type")
        now = self.now()
        check, interval = _duplicate_check(body)
        key = _content_key(msgtype, body.get(msgtype)) if check else ""
        repeat = check and any(now - at < interval for (_, k), at in self._recent.items()
                               if k == key)
        content, truncated = self._check_content(msgtype, body, repeat=repeat)
        deliver, invalid_users, invalid_parties, invalid_tags, unlicensed = self._resolve(
            body.get("touser"), body.get("toparty"), body.get("totag"))
        own_key = key or _content_key(msgtype, body.get(msgtype))
        if check:
            # enable_duplicate_check: the same message to the same member inside the interval
            # is not delivered again — silently, errcode 0, exactly as WeCom does.
            fresh = []
            for member in deliver:
                at = self._recent.get((member.userid.lower(), key))
                if at is not None and now - at < interval:
                    self.duplicates_dropped.append((member.userid, msgtype))
                else:
                    fresh.append(member)
            deliver = fresh
        for member in deliver:
            self._recent[(member.userid.lower(), own_key)] = now

        msgid = secrets.token_urlsafe(24)
        record = SentMessage(msgid, now, msgtype)
        result: dict[str, Any] = {
            "invaliduser": "|".join(invalid_users), "invalidparty": "|".join(invalid_parties),
            "invalidtag": "|".join(invalid_tags), "unlicenseduser": "|".join(unlicensed),
            "msgid": msgid}
        task_id = None
        response_code = None
        if msgtype == "template_card":
            task_id = content.get("task_id")
            if task_id:
                self._used_task_ids.add(task_id)
                self._cards.setdefault(task_id, {})
            if task_id and (content.get("card_type") in INTERACTIVE_TYPES
                            or content.get("action_menu") is not None):
                response_code = self._issue_response_code(task_id, None)
                result["response_code"] = response_code
        for member in deliver:
            if not self._within_member_limit(member.userid, now):
                self.dropped.append((member.userid, msgtype))  # no error: WeCom is silent
                continue
            visible = not (member.client == "wechat_plugin" and msgtype in HIDDEN_IN_PLUGIN)
            delivered = Delivered(member.userid, msgtype, content, msgid, now, visible,
                                  task_id=task_id, response_code=response_code,
                                  truncated=truncated)
            if task_id:
                view = CardView(task_id, member.userid, json.loads(json.dumps(content)), msgid)
                self._cards[task_id][member.userid.lower()] = view
                delivered.card = view
            record.deliveries.append(delivered)
            self._add_to_inbox(member.userid, delivered)
        self._messages[msgid] = record
        if truncated:
            log.info("emulator: text message %s truncated to %d bytes", msgid, TEXT_MAX_BYTES)
        return result

    def _within_member_limit(self, userid: str, now: float) -> bool:
        """Count one message/send delivery to the member; False beyond 30/min or 1000/h."""
        times = self._received_at.setdefault(userid.lower(), deque())
        while times and now - times[0] >= 3600:
            times.popleft()
        last_minute = sum(1 for at in times if now - at < 60)
        if last_minute >= self.per_member_per_minute or len(times) >= self.per_member_per_hour:
            return False
        times.append(now)
        return True

    def _api_update_template_card(self, params: dict[str, str], body: dict[str, Any]
                                  ) -> dict[str, Any]:
        self._check_agent(body.get("agentid"))
        code = body.get("response_code")
        record = self._response_codes.get(code) if isinstance(code, str) else None
        if record is None or record.used or \
                self.now() - record.issued_at > RESPONSE_CODE_LIFETIME:
            raise ApiError(60140, "invalid response_code")
        button = body.get("button")
        card = body.get("template_card")
        if button is None and card is None:
            raise ApiError(40063, "button or template_card required")
        if button is not None:
            if not isinstance(button, dict) or not button.get("replace_name"):
                raise ApiError(42020, "missing button name")
        else:
            validate_template_card(card, expected_task_id=record.task_id)
        views = self._cards.get(record.task_id, {})
        if body.get("atall"):
            wanted = list(views)
        else:
            userids = body.get("userids") or []
            partyids = body.get("partyids") or []
            if not isinstance(userids, list) or not isinstance(partyids, list):
                raise ApiError(40058, "userids/partyids must be arrays")
            if len(userids) > MAX_TOUSER:
                raise ApiError(40032, "invalid userid list size")
            wanted = [str(u).lower() for u in userids]
            for party in partyids:
                dept_id = int(party) if str(party).lstrip("-").isdigit() else -1
                depts = self._descendants(dept_id) if dept_id in self._departments else set()
                wanted += [k for k, m in self._members.items()
                           if depts.intersection(m.department)]
            if not wanted:
                raise ApiError(82001, "All userids & partyids & tagids invalid")
        hit = [views[u] for u in dict.fromkeys(wanted) if u in views]
        invalid = [u for u in dict.fromkeys(wanted) if u not in views]
        if not hit:
            raise ApiError(81013, "user & party & tag all invalid")
        record.used = True
        for view in hit:
            view.updates += 1
            if button is not None:
                view.replace_name = str(button["replace_name"])
            else:
                replacement = json.loads(json.dumps(card))
                replacement.setdefault("task_id", record.task_id)
                view.template_card = replacement
                view.replace_name = None
        return {"invaliduser": invalid}

    def _api_message_recall(self, params: dict[str, str], body: dict[str, Any]
                            ) -> dict[str, Any]:
        msgid = body.get("msgid")
        record = self._messages.get(msgid) if isinstance(msgid, str) else None
        if record is None or record.recalled or self.now() - record.sent_at > RECALL_WINDOW:
            raise ApiError(42052, "msgid expired or invalid")
        record.recalled = True
        for delivered in record.deliveries:
            # Only the WeCom-client copy disappears; the WeChat plugin keeps it (§3.4).
            if self.member_client(delivered.userid) == "wecom":
                delivered.recalled = True
        return {}

    def _api_user_get(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        userid = params.get("userid")
        if not userid:
            raise ApiError(41009, "missing userid")
        member = self._members.get(userid.lower())
        if member is None:
            raise ApiError(60111, "userid not found")
        return member.to_api()

    def _department_param(self, value: str | None, *, required: bool) -> int | None:
        if value is None or value == "":
            if required:
                raise ApiError(60127, "missing department")
            return None
        try:
            dept_id = int(value)
        except ValueError:
            raise ApiError(60123, "invalid department id") from None
        if dept_id not in self._departments:
            raise ApiError(60123, "invalid department id")
        return dept_id

    def _api_user_list(self, params: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
        dept_id = self._department_param(params.get("department_id"), required=True)
        assert dept_id is not None
        depts = self._descendants(dept_id) if params.get("fetch_child") in ("1", "true") \
            else {dept_id}
        users = [m.to_api() for m in self._members.values() if depts.intersection(m.department)]
        return {"userlist": users}

    def _api_department_list(self, params: dict[str, str], body: dict[str, Any]
                             ) -> dict[str, Any]:
        dept_id = self._department_param(params.get("id"), required=False)
        ids = self._descendants(dept_id) if dept_id is not None else set(self._departments)
        return {"department": [self._departments[i].to_api() for i in sorted(ids)]}

    def _api_menu_create(self, params: dict[str, str], body: dict[str, Any]
                         ) -> dict[str, Any]:
        self._check_agent(params.get("agentid"))
        buttons = body.get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            raise ApiError(40016, "invalid button size")
        for button in buttons:
            if not isinstance(button, dict):
                raise ApiError(40017, "invalid button type")
            subs = button.get("sub_button")
            if _nbytes(str(button.get("name", ""))) > 16 or not button.get("name"):
                raise ApiError(40018, "invalid button name size")
            if subs:
                if not isinstance(subs, list) or len(subs) > 5:
                    raise ApiError(40023, "invalid sub button size")
                for sub in subs:
                    _check_menu_button(sub, sub_level=True)
            else:
                _check_menu_button(button, sub_level=False)
        self.menu = body
        return {}

    def _api_getcallbackip(self, params: dict[str, str], body: dict[str, Any]
                           ) -> dict[str, Any]:
        return {"ip_list": ["127.0.0.1"]}


def _check_menu_button(button: Any, *, sub_level: bool) -> None:
    codes = (40024, 40025, 40026, 40027) if sub_level else (40017, 40018, 40019, 40020)
    if not isinstance(button, dict) or button.get("type") not in MENU_TYPES:
        raise ApiError(codes[0], "invalid button type")
    name_limit = 40 if sub_level else 16
    if not button.get("name") or _nbytes(str(button["name"])) > name_limit:
        raise ApiError(codes[1], "invalid button name size")
    if button["type"] == "view":
        if not button.get("url") or _nbytes(str(button["url"])) > 1024:
            raise ApiError(codes[3], "invalid button url size")
    elif button["type"] != "view_miniprogram":
        if not button.get("key") or _nbytes(str(button["key"])) > 128:
            raise ApiError(codes[2], "invalid button key size")


#: WeCom: duplicate_check_interval defaults to 1800 s and may not exceed four hours.
DEFAULT_DUPLICATE_INTERVAL = 1800
MAX_DUPLICATE_INTERVAL = 4 * 3600


def _duplicate_check(body: dict[str, Any]) -> tuple[bool, float]:
    """(enabled, interval seconds) from a message/send body."""
    enabled = str(body.get("enable_duplicate_check", 0)) == "1"
    try:
        interval = int(body.get("duplicate_check_interval") or DEFAULT_DUPLICATE_INTERVAL)
    except (TypeError, ValueError):
        interval = DEFAULT_DUPLICATE_INTERVAL
    return enabled, float(min(max(interval, 1), MAX_DUPLICATE_INTERVAL))


def _content_key(msgtype: str, payload: Any) -> str:
    """What WeCom compares for its duplicate check: the message itself, not its envelope."""
    return msgtype + ":" + json.dumps(payload, sort_keys=True, ensure_ascii=False,
                                      separators=(",", ":"))


def _api_name(path: str) -> str:
    return path.split("?", 1)[0].removeprefix("/").removeprefix("cgi-bin/").strip("/")


def _json(data: dict[str, Any]) -> web.Response:
    return web.Response(text=json.dumps(data, ensure_ascii=False),
                        content_type="application/json", charset="utf-8")


_Handler = Callable[[WeComEmulator, dict[str, str], dict[str, Any]], dict[str, Any]]
_ROUTES: dict[str, _Handler] = {
    "gettoken": WeComEmulator._api_gettoken,
    "message/send": WeComEmulator._api_message_send,
    "message/update_template_card": WeComEmulator._api_update_template_card,
    "message/recall": WeComEmulator._api_message_recall,
    "user/get": WeComEmulator._api_user_get,
    "user/list": WeComEmulator._api_user_list,
    "department/list": WeComEmulator._api_department_list,
    "menu/create": WeComEmulator._api_menu_create,
    "getcallbackip": WeComEmulator._api_getcallbackip,
    "auth/getuserinfo": WeComEmulator._api_auth_getuserinfo,
    "get_jsapi_ticket": WeComEmulator._api_get_jsapi_ticket,
    "ticket/get": WeComEmulator._api_ticket_get,
}
