"""The members' side of the emulator: the callbacks WeCom POSTs to the bot.

Each callback is built exactly as WeCom builds it (protocol doc §1.3 and §2): the plaintext XML
shape of the message or event, encrypted with the app's EncodingAESKey and receiveid = corp id,
signed over (token, timestamp, nonce, Encrypt), wrapped in the
<xml><ToUserName/><AgentID/><Encrypt/></xml> envelope and POSTed with msg_signature, timestamp
and nonce in the query. Card clicks carry a fresh single-use ResponseCode that the emulated
update_template_card accepts, as WeCom's does. Passive replies in the answer are decrypted and
applied (text appears in the inbox, update_button greys the clicked card).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import aiohttp
import xmltodict
from yarl import URL

from app.emulator.records import CallbackResult, CardView
from bot.wecom.crypto import CallbackRejected, WeComCrypto, signature

if TYPE_CHECKING:
    from app.emulator.api import WeComEmulator

log = logging.getLogger("app.emulator")


class CardNotInteractive(Exception):
    """The member cannot do that on this card (greyed out, wrong type, unknown key)."""


class Raw(str):
    """An XML fragment inserted as is (for SelectedItems)."""


def cdata(text: str) -> str:
    """CDATA that survives a literal "]]>" inside the text."""
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def xml_fields(fields: list[tuple[str, Any]]) -> str:
    """<xml> with one element per field: str → CDATA, numbers bare, Raw as is."""
    parts = ["<xml>"]
    for name, value in fields:
        if value is None:
            continue
        if isinstance(value, Raw):
            text = str(value)
        elif isinstance(value, bool):
            text = str(int(value))
        elif isinstance(value, int | float):
            text = str(value)
        else:
            text = cdata(str(value))
        parts.append(f"<{name}>{text}</{name}>")
    parts.append("</xml>")
    return "".join(parts)


def _coord(value: float) -> str:
    return f"{value:.6f}"


def selected_items_xml(selected: Mapping[str, list[str]]) -> Raw:
    """<SelectedItem><QuestionKey/><OptionIds><OptionId/>…</OptionIds></SelectedItem>…"""
    items = []
    for question_key, option_ids in selected.items():
        ids = "".join(f"<OptionId>{cdata(o)}</OptionId>" for o in option_ids)
        items.append(f"<SelectedItem><QuestionKey>{cdata(question_key)}</QuestionKey>"
                     f"<OptionIds>{ids}</OptionIds></SelectedItem>")
    return Raw("".join(items))


class MemberSide:
    """Mixin for `WeComEmulator`: what members do, delivered to the bot's callback URL."""

    callback_url: str | None
    callback_timeout: float

    # ------------------------------------------------------------------------ plumbing

    def _emu(self) -> WeComEmulator:
        return self  # type: ignore[return-value]

    def _callback_crypto(self) -> WeComCrypto:
        emu = self._emu()
        return WeComCrypto(emu.token, emu.encoding_aes_key, emu.corp_id)

    def _next_msgid(self) -> int:
        emu = self._emu()
        emu._msgid_counter += 1
        return emu._msgid_counter

    def _create_time(self) -> int:
        return int(self._emu().now())

    def _session(self) -> aiohttp.ClientSession:
        emu = self._emu()
        if emu._callback_http is None or emu._callback_http.closed:
            emu._callback_http = aiohttp.ClientSession()
            emu._owns_callback_http = True
        return emu._callback_http

    def _require_url(self) -> str:
        if not self.callback_url:
            raise RuntimeError("WeComEmulator has no callback_url; set emulator.callback_url")
        return self.callback_url

    @staticmethod
    def _signed_url(base: str, params: Mapping[str, str]) -> URL:
        # WeCom percent-encodes + / = in the query (%2B %2F %3D); keep it byte-exact.
        query = "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params.items())
        sep = "&" if "?" in base else "?"
        return URL(base + sep + query, encoded=True)

    def build_callback(self, plaintext_xml: str, *, timestamp: str | None = None,
                       nonce: str | None = None) -> tuple[dict[str, str], bytes]:
        """Encrypt and sign a plaintext as WeCom does; returns (query params, POST body)."""
        emu = self._emu()
        timestamp = timestamp or str(self._create_time())
        nonce = nonce or str(secrets.randbelow(10**10))
        encrypted, msg_signature, timestamp, nonce = self._callback_crypto().encrypt(
            plaintext_xml, nonce=nonce, timestamp=timestamp)
        body = (f"<xml><ToUserName>{cdata(emu.corp_id)}</ToUserName>"
                f"<AgentID>{cdata(str(emu.agent_id))}</AgentID>"
                f"<Encrypt>{cdata(encrypted)}</Encrypt></xml>")
        params = {"msg_signature": msg_signature, "timestamp": timestamp, "nonce": nonce}
        return params, body.encode("utf-8")

    async def post_raw(self, params: Mapping[str, str], body: bytes | str, *,
                       repeat: int = 1, userid: str | None = None,
                       event: dict[str, Any] | None = None) -> CallbackResult:
        """POST a callback (possibly hostile) `repeat` times; returns the last answer.

        `userid`/`event` let passive replies be applied to the right member and card.
        """
        url = self._signed_url(self._require_url(), params)
        data = body.encode("utf-8") if isinstance(body, str) else body
        deliveries: list[tuple[int, str]] = []
        result = CallbackResult(0, "", error="not sent")
        for _ in range(max(1, repeat)):
            try:
                async with self._session().post(
                        url, data=data, headers={"Content-Type": "text/xml"},
                        timeout=aiohttp.ClientTimeout(total=self.callback_timeout)) as resp:
                    text = await resp.text(errors="replace")
                    result = CallbackResult(resp.status, text)
            except (TimeoutError, aiohttp.ClientError) as exc:
                # WeCom drops the connection after 5 s and counts it as a failure.
                result = CallbackResult(0, "", error=type(exc).__name__)
            deliveries.append((result.status, result.body))
        reply = None
        error = result.error
        if result.status == 200 and result.body.strip() and userid is not None:
            try:
                reply = self._apply_passive_reply(result.body, userid, event or {})
            except CallbackRejected as exc:
                error = f"passive reply rejected: {exc.reason}"
                log.warning("emulator: %s", error)
        return CallbackResult(result.status, result.body, reply=reply, error=error,
                              deliveries=tuple(deliveries))

    async def _deliver(self, userid: str, fields: list[tuple[str, Any]], *, repeat: int = 1,
                       timestamp: str | None = None) -> CallbackResult:
        plaintext = xml_fields(fields)
        emu = self._emu()
        emu.callback_log.append((userid, plaintext))
        params, body = self.build_callback(plaintext, timestamp=timestamp)
        event = dict(fields)
        return await self.post_raw(params, body, repeat=repeat, userid=userid, event=event)

    def _head(self, userid: str, msgtype: str, create_time: int | None = None
              ) -> list[tuple[str, Any]]:
        emu = self._emu()
        return [("ToUserName", emu.corp_id), ("FromUserName", userid),
                ("CreateTime", create_time if create_time is not None else self._create_time()),
                ("MsgType", msgtype)]

    # ----------------------------------------------------------------- what members do

    async def send_text(self, userid: str, content: str, *, repeat: int = 1) -> CallbackResult:
        """The member types a text message to the app."""
        fields = self._head(userid, "text") + [
            ("Content", content), ("MsgId", self._next_msgid()),
            ("AgentID", self._emu().agent_id)]
        self._emu()._record_sent(userid, content)
        return await self._deliver(userid, fields, repeat=repeat)

    async def send_location(self, userid: str, lat: float, lng: float, label: str = "",
                            scale: int = 15, *, repeat: int = 1) -> CallbackResult:
        """The member sends a location message (Location_X = latitude, Location_Y = longitude)."""
        fields = self._head(userid, "location") + [
            ("Location_X", Raw(_coord(lat))), ("Location_Y", Raw(_coord(lng))),
            ("Scale", scale), ("Label", label), ("MsgId", self._next_msgid()),
            ("AgentID", self._emu().agent_id)]
        self._emu()._record_sent(userid, f"[location {label or f'{lat:.4f},{lng:.4f}'}]")
        return await self._deliver(userid, fields, repeat=repeat)

    async def send_event(self, userid: str, event: str, *, repeat: int = 1,
                         create_time: int | None = None, **fields: Any) -> CallbackResult:
        """Any event: Event=`event` plus `fields` as elements, in the given order.

        EventKey defaults to "" for subscribe/unsubscribe/enter_agent/click/view.
        """
        items: list[tuple[str, Any]] = self._head(userid, "event", create_time)
        items.append(("Event", event))
        if event in ("subscribe", "unsubscribe", "enter_agent", "click", "view") \
                and "EventKey" not in fields:
            fields = {"EventKey": "", **fields}
        items.extend(fields.items())
        if "AgentID" not in fields:
            items.append(("AgentID", self._emu().agent_id))
        return await self._deliver(userid, items, repeat=repeat)

    async def enter_app(self, userid: str, lat: float | None = None, lng: float | None = None,
                        precision: float = 30.0, *, repeat: int = 1) -> list[CallbackResult]:
        """enter_agent, then LOCATION (same CreateTime) when a position is given."""
        now = self._create_time()
        results = [await self.send_event(userid, "enter_agent", repeat=repeat,
                                         create_time=now)]
        if lat is not None and lng is not None:
            results.append(await self.send_event(
                userid, "LOCATION", repeat=repeat, create_time=now,
                Latitude=Raw(_coord(lat)), Longitude=Raw(_coord(lng)),
                Precision=Raw(f"{precision:.3f}")))
        return results

    async def click_menu(self, userid: str, key: str, *, repeat: int = 1) -> CallbackResult:
        """The member taps a click-type menu button."""
        return await self.send_event(userid, "click", EventKey=key, repeat=repeat)

    def _member_card(self, userid: str, task_id: str) -> CardView:
        try:
            view = self._emu().card(task_id, userid)
        except KeyError:
            raise CardNotInteractive(f"{userid} never received card {task_id}") from None
        if view.userid.lower() != userid.lower():
            raise CardNotInteractive(f"{userid} never received card {task_id}")
        if view.disabled:
            raise CardNotInteractive(f"card {task_id} is greyed out for {userid}")
        if self._emu().member_client(userid) == "wechat_plugin":
            raise CardNotInteractive(f"{userid} uses the WeChat plugin and sees no cards")
        return view

    async def _card_event(self, userid: str, view: CardView, key: str,
                          selected: dict[str, list[str]], repeat: int) -> CallbackResult:
        emu = self._emu()
        code = emu._issue_response_code(view.task_id, userid)
        fields = self._head(userid, "event") + [
            ("Event", "template_card_event"), ("EventKey", key), ("TaskId", view.task_id),
            ("CardType", view.card_type), ("ResponseCode", code),
            ("AgentID", emu.agent_id)]
        if selected:
            fields.append(("SelectedItems", selected_items_xml(selected)))
        view.clicks.append(key)
        if selected:
            view.selection = {k: list(v) for k, v in selected.items()}
        return await self._deliver(userid, fields, repeat=repeat)

    async def click_button(self, userid: str, task_id: str, key: str, *,
                           selected: dict[str, list[str]] | None = None,
                           repeat: int = 1) -> CallbackResult:
        """The member taps a callback button of a button_interaction card."""
        view = self._member_card(userid, task_id)
        card = view.template_card
        if view.card_type != "button_interaction":
            raise CardNotInteractive(f"card {task_id} is a {view.card_type}, not buttons")
        keys = [b.get("key") for b in card.get("button_list") or [] if b.get("type", 0) != 1]
        if key not in keys:
            raise CardNotInteractive(f"card {task_id} has no callback button {key!r}")
        choice: dict[str, list[str]] = {}
        box = card.get("button_selection")
        if isinstance(box, dict):
            qk = box.get("question_key", "")
            ids = {o.get("id") for o in box.get("option_list") or []}
            chosen = (selected or {}).get(qk) or \
                ([box["selected_id"]] if box.get("selected_id") else [])
            if not chosen or any(c not in ids for c in chosen) or len(chosen) != 1:
                raise CardNotInteractive(f"pick exactly one option of {qk!r}")
            choice[qk] = list(chosen)
        self._emu()._record_sent(userid, f"[tap {key}]")
        return await self._card_event(userid, view, key, choice, repeat)

    async def submit_card(self, userid: str, task_id: str, selected: dict[str, list[str]],
                          key: str | None = None, *, repeat: int = 1) -> CallbackResult:
        """The member picks options on a vote/multiple card and taps submit."""
        view = self._member_card(userid, task_id)
        card = view.template_card
        if view.card_type == "vote_interaction":
            boxes = [card.get("checkbox") or {}]
        elif view.card_type == "multiple_interaction":
            boxes = list(card.get("select_list") or [])
        else:
            raise CardNotInteractive(f"card {task_id} is a {view.card_type}; nothing to submit")
        submit_key = (card.get("submit_button") or {}).get("key")
        if key is not None and key != submit_key:
            raise CardNotInteractive(f"card {task_id} has no submit key {key!r}")
        unknown = set(selected) - {b.get("question_key") for b in boxes}
        if unknown:
            raise CardNotInteractive(f"card {task_id} has no question {sorted(unknown)}")
        choice: dict[str, list[str]] = {}
        for box in boxes:
            qk = box.get("question_key", "")
            ids = [o.get("id") for o in box.get("option_list") or []]
            chosen = list(selected.get(qk) or [])
            if not chosen:  # the pre-selected defaults stay selected
                if view.card_type == "vote_interaction":
                    chosen = [o.get("id") for o in box.get("option_list") or []
                              if o.get("is_checked")]
                elif box.get("selected_id"):
                    chosen = [box["selected_id"]]
            if not chosen:
                raise CardNotInteractive(f"nothing chosen for {qk!r}")
            if any(c not in ids for c in chosen):
                raise CardNotInteractive(f"{qk!r} has no option {chosen}")
            multi = view.card_type == "vote_interaction" and box.get("mode", 0) == 1
            if len(chosen) > 1 and not multi:
                raise CardNotInteractive(f"{qk!r} takes one option")
            choice[qk] = chosen
        self._emu()._record_sent(userid, f"[submit {choice}]")
        return await self._card_event(userid, view, str(submit_key), choice, repeat)

    async def verify_url(self, echo: str | None = None) -> str:
        """The admin console's GET URL check; returns the body the bot answered."""
        emu = self._emu()
        echo = echo if echo is not None else str(secrets.randbelow(10**19))
        encrypted, msg_signature, timestamp, nonce = self._callback_crypto().encrypt(
            echo, timestamp=str(self._create_time()), nonce=str(secrets.randbelow(10**10)))
        url = self._signed_url(self._require_url(), {
            "msg_signature": msg_signature, "timestamp": timestamp, "nonce": nonce,
            "echostr": encrypted})
        async with self._session().get(
                url, timeout=aiohttp.ClientTimeout(total=self.callback_timeout)) as resp:
            emu.last_verify_status = resp.status
            return await resp.text()

    # ----------------------------------------------------------------- passive replies

    def _apply_passive_reply(self, body: str, userid: str, event: dict[str, Any]
                             ) -> str | None:
        """Decrypt an encrypted passive reply (§1.5) and apply it to what the member sees."""
        emu = self._emu()
        try:
            envelope = xmltodict.parse(body).get("xml") or {}
        except Exception:
            raise CallbackRejected("reply is not XML") from None
        encrypted = envelope.get("Encrypt")
        sig = envelope.get("MsgSignature")
        ts = envelope.get("TimeStamp")
        nonce = envelope.get("Nonce")
        if not all(isinstance(v, str) and v for v in (encrypted, sig, ts, nonce)):
            raise CallbackRejected("reply envelope lacks Encrypt/MsgSignature/TimeStamp/Nonce")
        if signature(emu.token, ts, nonce, encrypted) != sig:
            raise CallbackRejected("reply signature does not match")
        plaintext = self._callback_crypto().decrypt(sig, ts, nonce, encrypted)
        try:
            reply = xmltodict.parse(plaintext).get("xml") or {}
        except Exception:
            raise CallbackRejected("reply plaintext is not XML") from None
        msgtype = reply.get("MsgType")
        if msgtype == "text":
            emu._deliver_passive(userid, "text", {"content": reply.get("Content") or ""})
        elif msgtype in ("news", "image", "voice", "video"):
            emu._deliver_passive(userid, msgtype, {"raw": reply})
        elif msgtype == "update_button":
            task_id = event.get("TaskId")
            name = (reply.get("Button") or {}).get("ReplaceName")
            if event.get("Event") != "template_card_event" or not task_id or not name:
                raise CallbackRejected("update_button only answers a template_card_event")
            view = emu.card(str(task_id), userid)
            view.replace_name = str(name)
            view.updates += 1
        elif msgtype == "update_template_card":
            # The full PascalCase TemplateCard XML is UNCONFIRMED (protocol doc §2.5); record
            # that the card was updated without trying to rebuild it.
            task_id = event.get("TaskId")
            if task_id:
                emu.card(str(task_id), userid).updates += 1
        else:
            raise CallbackRejected(f"unknown passive reply MsgType {msgtype!r}")
        return plaintext
