"""The WeCom emulator enforces WeCom's rules and produces callbacks exactly as WeCom does."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import xmltodict
from aiohttp import web

from app.emulator import CardNotInteractive, WeComEmulator, render_for_member
from app.emulator.api import DEFAULT_AES_KEY, DEFAULT_SECRET, DEFAULT_TOKEN
from bot.clock import FixedClock
from bot.wecom.crypto import CallbackRejected, WeComCrypto

CORP = "ww_emulated_corp"
AGENT = 1000002
START = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


# ------------------------------------------------------------------------------ helpers

@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START, ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def emu(clock: FixedClock) -> WeComEmulator:
    emulator = WeComEmulator(clock=clock)
    emulator.add_member("zhangsan", "张三")
    emulator.add_member("lisi", "李四")
    emulator.add_member("wangwu", "王五", client="wechat_plugin")
    return emulator


class Api:
    """Raw HTTP against the emulator, the way WeCom's API is called."""

    def __init__(self, http: Any, emu: WeComEmulator) -> None:
        self.http = http
        self.emu = emu
        self.token: str | None = None

    async def gettoken(self, corpid: str = CORP, secret: str = DEFAULT_SECRET
                       ) -> dict[str, Any]:
        resp = await self.http.get("/cgi-bin/gettoken",
                                   params={"corpid": corpid, "corpsecret": secret})
        return await resp.json()

    async def login(self) -> str:
        data = await self.gettoken()
        self.token = data["access_token"]
        return self.token

    async def post(self, api: str, body: dict[str, Any], *, token: str | None = "auto",
                   **params: Any) -> dict[str, Any]:
        if token == "auto":
            token = self.token or await self.login()
        if token is not None:
            params["access_token"] = token
        resp = await self.http.post(f"/cgi-bin/{api}", json=body, params=params)
        return await resp.json()

    async def get(self, api: str, *, token: str | None = "auto", **params: Any
                  ) -> dict[str, Any]:
        if token == "auto":
            token = self.token or await self.login()
        if token is not None:
            params["access_token"] = token
        resp = await self.http.get(f"/cgi-bin/{api}", params=params)
        return await resp.json()

    async def send(self, touser: str, message: dict[str, Any], *, token: str | None = "auto",
                   **extra: Any) -> dict[str, Any]:
        return await self.post("message/send",
                               {"touser": touser, "agentid": AGENT, **message, **extra},
                               token=token)


@pytest.fixture
async def api(aiohttp_client: Any, emu: WeComEmulator) -> Api:
    return Api(await aiohttp_client(emu.app), emu)


def text(content: str) -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": content}}


def button_card(task_id: str, n_buttons: int = 2, **extra: Any) -> dict[str, Any]:
    card = {
        "card_type": "button_interaction", "task_id": task_id,
        "main_title": {"title": "今日体温是否正常？", "desc": "每日上报"},
        "button_list": [{"text": f"选项{i}", "style": 1, "key": f"k{i}"}
                        for i in range(1, n_buttons + 1)],
        **extra,
    }
    return {"msgtype": "template_card", "template_card": card}


def vote_card(task_id: str, n_options: int = 3, mode: int = 1) -> dict[str, Any]:
    return {"msgtype": "template_card", "template_card": {
        "card_type": "vote_interaction", "task_id": task_id,
        "main_title": {"title": "有哪些症状？"},
        "checkbox": {"question_key": "symptoms", "mode": mode,
                     "option_list": [{"id": f"o{i}", "text": f"症状{i}"}
                                     for i in range(1, n_options + 1)]},
        "submit_button": {"text": "提交", "key": "submit_symptoms"}}}


def multiple_card(task_id: str, n_selects: int = 2) -> dict[str, Any]:
    return {"msgtype": "template_card", "template_card": {
        "card_type": "multiple_interaction", "task_id": task_id,
        "main_title": {"title": "所在地"},
        "select_list": [{"question_key": f"q{i}", "title": f"问题{i}",
                         "option_list": [{"id": "a", "text": "甲"}, {"id": "b", "text": "乙"}]}
                        for i in range(1, n_selects + 1)],
        "submit_button": {"text": "提交", "key": "submit_where"}}}


# ------------------------------------------------------------------------------- tokens

async def test_gettoken_checks_corpid_and_secret(api: Api) -> None:
    assert (await api.gettoken(corpid="ww_other"))["errcode"] == 40013
    assert (await api.gettoken(secret="wrong"))["errcode"] == 40001
    ok = await api.gettoken()
    assert ok["errcode"] == 0 and ok["expires_in"] == 7200 and len(ok["access_token"]) > 32


async def test_token_missing_unknown_expired(api: Api, emu: WeComEmulator,
                                             clock: FixedClock) -> None:
    assert (await api.send("zhangsan", text("hi"), token=None))["errcode"] == 41001
    assert (await api.send("zhangsan", text("hi"), token="bogus"))["errcode"] == 40014
    assert (await api.send("zhangsan", text("hi")))["errcode"] == 0
    emu.expire_tokens()
    assert (await api.send("zhangsan", text("hi")))["errcode"] == 42001
    fresh = await api.login()
    assert (await api.send("zhangsan", text("hi")))["errcode"] == 0
    clock.advance(seconds=7200)
    assert (await api.send("zhangsan", text("hi"), token=fresh))["errcode"] == 42001
    for path in ("user/get", "department/list", "getcallbackip"):
        assert (await api.get(path, token=None))["errcode"] == 41001


async def test_agentid_is_checked(api: Api) -> None:
    body = {"touser": "zhangsan", **text("hi")}
    assert (await api.post("message/send", {**body, "agentid": 999}))["errcode"] == 40056
    assert (await api.post("message/send", body))["errcode"] == 41011
    menu = {"button": [{"type": "click", "name": "上报", "key": "REPORT"}]}
    assert (await api.post("menu/create", menu, agentid=1))["errcode"] == 40056
    assert (await api.post("menu/create", menu, agentid=AGENT))["errcode"] == 0


# ---------------------------------------------------------------------------- recipients

async def test_invaliduser_is_a_partial_success(api: Api, emu: WeComEmulator) -> None:
    data = await api.send("zhangsan|ghost|LISI", text("早上好"))
    assert data["errcode"] == 0
    assert data["invaliduser"] == "ghost"
    assert data["msgid"]
    assert emu.transcript("zhangsan") == ["早上好"]
    assert emu.transcript("lisi") == ["早上好"]


async def test_all_invalid_and_empty_recipients(api: Api) -> None:
    assert (await api.send("ghost|nobody", text("hi")))["errcode"] == 81013
    assert (await api.send("", text("hi")))["errcode"] == 82001
    too_many = "|".join(f"u{i}" for i in range(1001))
    assert (await api.send(too_many, text("hi")))["errcode"] == 40032


async def test_unlicensed_users_are_reported(api: Api, emu: WeComEmulator) -> None:
    emu.add_member("nolicence", "无许可", licensed=False)
    data = await api.send("zhangsan|nolicence", text("hi"))
    assert data["errcode"] == 0 and data["unlicenseduser"] == "nolicence"
    assert emu.inbox("nolicence") == []


async def test_toparty_and_all(api: Api, emu: WeComEmulator) -> None:
    emu.add_department(2, "医学院", 1)
    emu.add_department(3, "临床系", 2)
    emu.add_member("doc", "医生", [3])
    data = await api.send("", text("学院通知"), toparty="2|99")
    assert data["errcode"] == 0 and data["invalidparty"] == "99"
    assert emu.transcript("doc") == ["学院通知"]
    assert emu.transcript("zhangsan") == []
    await api.send("@all", text("全体"))
    assert emu.last_text("zhangsan") == "全体" and emu.last_text("doc") == "全体"


# ------------------------------------------------------------------------------ content

async def test_text_is_truncated_markdown_is_refused(api: Api, emu: WeComEmulator) -> None:
    long = "体" * 1000  # 3000 bytes
    data = await api.send("zhangsan", text(long))
    assert data["errcode"] == 0
    delivered = emu.inbox("zhangsan")[-1]
    assert delivered.truncated and len(delivered.body["content"].encode()) <= 2048
    assert delivered.body["content"] == "体" * 682
    md = {"msgtype": "markdown", "markdown": {"content": long}}
    assert (await api.send("zhangsan", md))["errcode"] == 45002
    assert (await api.send("zhangsan", text("")))["errcode"] == 44004
    assert (await api.send("zhangsan", {"msgtype": "nonsense"}))["errcode"] == 40008


async def test_bad_json_is_a_format_error(api: Api) -> None:
    token = await api.login()
    resp = await api.http.post("/cgi-bin/message/send", data=b"{not json",
                               params={"access_token": token})
    assert (await resp.json())["errcode"] == 47001


async def test_plugin_members_see_no_cards_and_no_markdown(api: Api,
                                                           emu: WeComEmulator) -> None:
    assert (await api.send("wangwu|zhangsan", button_card("t_plugin")))["errcode"] == 0
    await api.send("wangwu", {"msgtype": "markdown", "markdown": {"content": "**粗体**"}})
    await api.send("wangwu", text("纯文本"))
    await api.send("wangwu", {"msgtype": "textcard", "textcard": {
        "title": "上报提醒", "description": "<div class=\"gray\">今天</div>请上报",
        "url": "https://example.invalid/r"}})
    inbox = emu.inbox("wangwu")
    assert [d.visible for d in inbox] == [False, False, True, True]
    assert inbox[0].text == ""
    assert emu.transcript("wangwu") == ["纯文本", "上报提醒\n今天\n请上报\n[详情]"]
    assert emu.inbox("zhangsan")[0].visible
    assert "今日体温是否正常？" in emu.last_text("zhangsan")


# -------------------------------------------------------------------------- template_card

@pytest.mark.parametrize("task_id", ["has space", "中文", "a/b", "x" * 129, ""])
async def test_bad_task_id_is_42014(api: Api, task_id: str) -> None:
    assert (await api.send("zhangsan", button_card(task_id)))["errcode"] == 42014


async def test_task_id_is_unique_forever(api: Api, emu: WeComEmulator) -> None:
    assert (await api.send("zhangsan", button_card("t-1_@ok")))["errcode"] == 0
    assert (await api.send("lisi", button_card("t-1_@ok")))["errcode"] == 42014
    # A refused send does not burn its task_id.
    assert (await api.send("ghost", button_card("t-2")))["errcode"] == 81013
    assert (await api.send("zhangsan", button_card("t-2")))["errcode"] == 0
    card = button_card("")
    del card["template_card"]["task_id"]
    assert (await api.send("zhangsan", card))["errcode"] == 42014


@pytest.mark.parametrize(("message", "errcode"), [
    (button_card("b7", n_buttons=7), 42018),
    (button_card("b0", n_buttons=0), 42018),
    (button_card("bnokey", button_list=[{"text": "确认"}]), 42019),
    (button_card("bdup", button_list=[{"text": "a", "key": "k"}, {"text": "b", "key": "k"}]),
     42018),
    (button_card("bnoname", button_list=[{"key": "k"}]), 42020),
    (vote_card("v21", n_options=21), 42037),
    (vote_card("v0", n_options=0), 42037),
    (multiple_card("m4", n_selects=4), 42047),
    (multiple_card("m0", n_selects=0), 42047),
    ({"msgtype": "template_card", "template_card": {"card_type": "fancy", "task_id": "f"}},
     42031),
])
async def test_card_limits(api: Api, message: dict[str, Any], errcode: int) -> None:
    assert (await api.send("zhangsan", message))["errcode"] == errcode


async def test_card_limits_submit_key_and_options(api: Api) -> None:
    card = vote_card("vnokey")
    del card["template_card"]["submit_button"]["key"]
    assert (await api.send("zhangsan", card))["errcode"] == 42046
    card = multiple_card("m11")
    card["template_card"]["select_list"][0]["option_list"] = [
        {"id": f"o{i}", "text": "x"} for i in range(11)]
    assert (await api.send("zhangsan", card))["errcode"] == 42037
    assert (await api.send("zhangsan", vote_card("v20", n_options=20)))["errcode"] == 0
    assert (await api.send("zhangsan", multiple_card("m3", n_selects=3)))["errcode"] == 0
    assert (await api.send("zhangsan", button_card("b6", n_buttons=6)))["errcode"] == 0


async def test_response_code_is_single_use(api: Api, emu: WeComEmulator) -> None:
    sent = await api.send("zhangsan", button_card("t_rc"))
    code = sent["response_code"]
    update = {"userids": ["zhangsan"], "agentid": AGENT, "response_code": code,
              "button": {"replace_name": "已上报"}}
    assert (await api.post("message/update_template_card", update))["errcode"] == 0
    view = emu.card("t_rc")
    assert view.disabled and view.button_names == ["已上报"]
    assert "[已上报] (greyed out)" in emu.last_text("zhangsan")
    assert (await api.post("message/update_template_card", update))["errcode"] == 60140
    bogus = {**update, "response_code": "nope"}
    assert (await api.post("message/update_template_card", bogus))["errcode"] == 60140


async def test_response_code_expires_after_72_hours(api: Api, clock: FixedClock) -> None:
    code = (await api.send("zhangsan", button_card("t_old")))["response_code"]
    clock.advance(hours=72, seconds=1)
    await api.login()
    update = {"userids": ["zhangsan"], "agentid": AGENT, "response_code": code,
              "button": {"replace_name": "过期"}}
    assert (await api.post("message/update_template_card", update))["errcode"] == 60140


async def test_full_card_replacement(api: Api, emu: WeComEmulator) -> None:
    code = (await api.send("zhangsan", vote_card("t_vote")))["response_code"]
    replacement = {"card_type": "text_notice", "main_title": {"title": "已提交：发热"},
                   "card_action": {"type": 1, "url": "https://example.invalid"}}
    update = {"userids": ["zhangsan", "lisi"], "agentid": AGENT, "response_code": code,
              "template_card": replacement}
    data = await api.post("message/update_template_card", update)
    assert data["errcode"] == 0 and data["invaliduser"] == ["lisi"]
    assert emu.card("t_vote").card_type == "text_notice"
    assert emu.last_text("zhangsan") == "已提交：发热"
    text_notice = {"msgtype": "template_card", "template_card": {
        "card_type": "text_notice", "main_title": {"title": "通知"}}}
    assert (await api.send("zhangsan", text_notice))["errcode"] == 42045


async def test_recall_within_24_hours(api: Api, emu: WeComEmulator, clock: FixedClock
                                      ) -> None:
    msgid = (await api.send("zhangsan|wangwu", text("撤回我")))["msgid"]
    assert (await api.post("message/recall", {"msgid": msgid}))["errcode"] == 0
    assert emu.transcript("zhangsan") == []
    assert emu.transcript("wangwu") == ["撤回我"]  # the WeChat plugin copy stays
    assert (await api.post("message/recall", {"msgid": msgid}))["errcode"] == 42052
    old = (await api.send("zhangsan", text("旧消息")))["msgid"]
    clock.advance(hours=24, seconds=1)
    await api.login()
    assert (await api.post("message/recall", {"msgid": old}))["errcode"] == 42052
    assert (await api.post("message/recall", {"msgid": "unknown"}))["errcode"] == 42052


# ------------------------------------------------------------------------------- faults

@pytest.mark.parametrize("errcode", [-1, 45009, 45033])
async def test_faults_fire_the_given_number_of_times(api: Api, emu: WeComEmulator,
                                                     errcode: int) -> None:
    emu.inject_fault("message/send", errcode, times=2)
    results = [(await api.send("zhangsan", text("hi")))["errcode"] for _ in range(3)]
    assert results == [errcode, errcode, 0]
    assert emu.api_call_count("message/send") == 3
    assert emu.api_call_count("/cgi-bin/message/send") == 3
    assert emu.transcript("zhangsan") == ["hi"]


async def test_network_fault_502(api: Api, emu: WeComEmulator) -> None:
    emu.fail_network("user/get", times=1, mode="502")
    token = await api.login()
    resp = await api.http.get("/cgi-bin/user/get",
                              params={"access_token": token, "userid": "zhangsan"})
    assert resp.status == 502
    assert (await api.get("user/get", userid="zhangsan"))["name"] == "张三"


async def test_calls_are_recorded_without_secrets(api: Api, emu: WeComEmulator) -> None:
    await api.send("zhangsan", text("hi"))
    assert emu.calls[0] == ("gettoken", {"corpid": CORP, "corpsecret": "***"})
    assert emu.calls[1][0] == "message/send"
    assert emu.calls[1][1]["text"] == {"content": "hi"}


# ------------------------------------------------------------------------------ contacts

async def test_contacts(api: Api, emu: WeComEmulator) -> None:
    emu.add_department(2, "计算机学院", 1)
    emu.add_member("stu1", "学生一", [2])
    user = await api.get("user/get", userid="stu1")
    assert user["errcode"] == 0 and user["department"] == [2] and "mobile" not in user
    assert (await api.get("user/get", userid="ghost"))["errcode"] == 60111
    depts = await api.get("department/list")
    assert [d["id"] for d in depts["department"]] == [1, 2]
    assert (await api.get("department/list", id=42))["errcode"] == 60123
    users = await api.get("user/list", department_id=2, fetch_child=1)
    assert [u["userid"] for u in users["userlist"]] == ["stu1"]


async def test_ten_thousand_member_directory(api: Api, emu: WeComEmulator) -> None:
    userids = emu.generate_directory(10_000, 50)
    assert len(userids) == 10_000 and len(set(userids)) == 10_000
    everyone = await api.get("user/list", department_id=1, fetch_child=1)
    assert len(everyone["userlist"]) == 10_000 + 3
    depts = (await api.get("department/list"))["department"]
    assert len(depts) == 51
    some = depts[-1]["id"]
    direct = await api.get("user/list", department_id=some, fetch_child=0)
    assert 0 < len(direct["userlist"]) < 10_000
    sent = await api.send("|".join(userids[:1000]), text("请上报"))
    assert sent["errcode"] == 0 and sent["invaliduser"] == ""
    assert emu.last_text(userids[999]) == "请上报"


async def test_menu_limits(api: Api, emu: WeComEmulator) -> None:
    four = {"button": [{"type": "click", "name": f"b{i}", "key": f"K{i}"} for i in range(4)]}
    assert (await api.post("menu/create", four, agentid=AGENT))["errcode"] == 40016
    menu = {"button": [{"name": "更多", "sub_button": [
        {"type": "click", "name": "历史", "key": "HISTORY"},
        {"type": "view", "name": "帮助", "url": "https://example.invalid/help"}]}]}
    assert (await api.post("menu/create", menu, agentid=AGENT))["errcode"] == 0
    assert emu.menu == menu


# ---------------------------------------------------------------------------- callbacks

@dataclass
class Receiver:
    """A stand-in bot endpoint that decrypts with WeComCrypto and records what came in."""

    url: str = ""
    posts: list[dict[str, Any]] = field(default_factory=list)
    reply: Any = None  # callable(fields) -> plaintext reply XML, or None


@pytest.fixture
async def receiver(aiohttp_server: Any, emu: WeComEmulator) -> Receiver:
    crypto = WeComCrypto(DEFAULT_TOKEN, DEFAULT_AES_KEY, CORP)
    state = Receiver()

    async def on_post(request: web.Request) -> web.Response:
        raw = await request.text()
        envelope = xmltodict.parse(raw)["xml"]
        query = request.query
        try:
            plaintext = crypto.decrypt(query["msg_signature"], query["timestamp"],
                                       query["nonce"], envelope["Encrypt"])
        except CallbackRejected as exc:
            return web.Response(status=exc.status)
        fields = xmltodict.parse(plaintext)["xml"]
        state.posts.append({"query": dict(query), "envelope": envelope, "raw": raw,
                            "plaintext": plaintext, "fields": fields})
        if state.reply is None:
            return web.Response(text="")
        reply = state.reply(fields)
        encrypted, sig, ts, nonce = crypto.encrypt(reply, nonce=query["nonce"],
                                                   timestamp=query["timestamp"])
        return web.Response(text=(
            f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt><MsgSignature><![CDATA[{sig}]]>"
            f"</MsgSignature><TimeStamp>{ts}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce>"
            "</xml>"))

    async def on_get(request: web.Request) -> web.Response:
        query = request.query
        try:
            echo = crypto.decrypt(query["msg_signature"], query["timestamp"], query["nonce"],
                                  query["echostr"])
        except CallbackRejected as exc:
            return web.Response(status=exc.status)
        return web.Response(text=echo)

    app = web.Application()
    app.router.add_post("/wecom/callback", on_post)
    app.router.add_get("/wecom/callback", on_get)
    server = await aiohttp_server(app)
    state.url = str(server.make_url("/wecom/callback"))
    emu.callback_url = state.url
    yield state
    await emu.close()


async def test_text_callback_shape(receiver: Receiver, emu: WeComEmulator) -> None:
    result = await emu.send_text("zhangsan", "体温36.5 <ok> ]]> done")
    assert result.status == 200 and result.body == ""
    post = receiver.posts[-1]
    assert set(post["query"]) == {"msg_signature", "timestamp", "nonce"}
    assert post["query"]["timestamp"] == str(int(START.timestamp()))
    assert post["envelope"]["ToUserName"] == CORP
    assert post["envelope"]["AgentID"] == str(AGENT)
    assert post["raw"].startswith("<xml><ToUserName>")
    fields = post["fields"]
    assert list(fields) == ["ToUserName", "FromUserName", "CreateTime", "MsgType", "Content",
                            "MsgId", "AgentID"]
    assert fields["ToUserName"] == CORP and fields["FromUserName"] == "zhangsan"
    assert fields["CreateTime"] == str(int(START.timestamp()))
    assert fields["MsgType"] == "text" and fields["Content"] == "体温36.5 <ok> ]]> done"
    assert fields["AgentID"] == str(AGENT)
    await emu.send_text("zhangsan", "again")
    ids = [int(p["fields"]["MsgId"]) for p in receiver.posts]
    assert ids[0] != ids[1] and all(0 < i < 2**64 for i in ids)


async def test_location_and_enter_app_shapes(receiver: Receiver, emu: WeComEmulator) -> None:
    await emu.send_location("zhangsan", 39.9042, 116.4074, label="北京市东城区")
    fields = receiver.posts[-1]["fields"]
    assert fields["MsgType"] == "location"
    assert float(fields["Location_X"]) == pytest.approx(39.9042)
    assert float(fields["Location_Y"]) == pytest.approx(116.4074)
    assert fields["Scale"] == "15" and fields["Label"] == "北京市东城区" and fields["MsgId"]
    results = await emu.enter_app("zhangsan", lat=31.23, lng=121.47)
    assert [r.status for r in results] == [200, 200]
    enter, location = (p["fields"] for p in receiver.posts[-2:])
    assert enter["Event"] == "enter_agent" and enter["EventKey"] is None
    assert location["Event"] == "LOCATION"
    assert float(location["Latitude"]) == pytest.approx(31.23)
    assert float(location["Longitude"]) == pytest.approx(121.47)
    assert location["Precision"] and enter["CreateTime"] == location["CreateTime"]
    assert "MsgId" not in location


async def test_events(receiver: Receiver, emu: WeComEmulator) -> None:
    await emu.send_event("lisi", "subscribe")
    await emu.click_menu("lisi", "REPORT")
    sub, click = (p["fields"] for p in receiver.posts)
    assert sub["MsgType"] == "event" and sub["Event"] == "subscribe"
    assert click["Event"] == "click" and click["EventKey"] == "REPORT"
    assert click["AgentID"] == str(AGENT)


async def test_repeat_delivers_identical_callbacks(receiver: Receiver,
                                                   emu: WeComEmulator) -> None:
    result = await emu.send_text("zhangsan", "重复", repeat=3)
    assert len(receiver.posts) == 3 and len(result.deliveries) == 3
    assert len({(p["raw"], tuple(sorted(p["query"].items()))) for p in receiver.posts}) == 1


async def test_click_button_event_and_its_response_code(receiver: Receiver, api: Api,
                                                        emu: WeComEmulator) -> None:
    sent = await api.send("zhangsan", button_card("t_click"))
    await emu.click_button("zhangsan", "t_click", "k2")
    fields = receiver.posts[-1]["fields"]
    assert fields["Event"] == "template_card_event" and fields["EventKey"] == "k2"
    assert fields["TaskId"] == "t_click" and fields["CardType"] == "button_interaction"
    code = fields["ResponseCode"]
    assert code and code != sent["response_code"]
    update = {"userids": ["zhangsan"], "agentid": AGENT, "response_code": code,
              "button": {"replace_name": "已选择 选项2"}}
    assert (await api.post("message/update_template_card", update))["errcode"] == 0
    assert (await api.post("message/update_template_card", update))["errcode"] == 60140
    with pytest.raises(CardNotInteractive):
        await emu.click_button("zhangsan", "t_click", "k1")


async def test_submit_card_selected_items(receiver: Receiver, api: Api,
                                          emu: WeComEmulator) -> None:
    await api.send("zhangsan", vote_card("t_vote_cb"))
    await emu.submit_card("zhangsan", "t_vote_cb", {"symptoms": ["o1", "o3"]})
    fields = receiver.posts[-1]["fields"]
    assert fields["EventKey"] == "submit_symptoms" and fields["CardType"] == "vote_interaction"
    item = fields["SelectedItems"]["SelectedItem"]
    assert item["QuestionKey"] == "symptoms" and item["OptionIds"]["OptionId"] == ["o1", "o3"]
    await api.send("zhangsan", multiple_card("t_multi_cb"))
    await emu.submit_card("zhangsan", "t_multi_cb", {"q1": ["a"], "q2": ["b"]})
    items = receiver.posts[-1]["fields"]["SelectedItems"]["SelectedItem"]
    assert [(i["QuestionKey"], i["OptionIds"]["OptionId"]) for i in items] == [
        ("q1", "a"), ("q2", "b")]
    with pytest.raises(CardNotInteractive):
        await emu.submit_card("zhangsan", "t_multi_cb", {"q1": ["zzz"], "q2": ["a"]})
    with pytest.raises(CardNotInteractive):
        await emu.submit_card("zhangsan", "t_vote_cb", {"nope": ["o1"]})


async def test_plugin_members_cannot_click_cards(receiver: Receiver, api: Api,
                                                 emu: WeComEmulator) -> None:
    await api.send("wangwu", button_card("t_plugin_click"))
    with pytest.raises(CardNotInteractive):
        await emu.click_button("wangwu", "t_plugin_click", "k1")
    with pytest.raises(CardNotInteractive):
        await emu.click_button("lisi", "t_plugin_click", "k1")


async def test_passive_replies_are_applied(receiver: Receiver, api: Api,
                                           emu: WeComEmulator) -> None:
    def reply(fields: dict[str, Any]) -> str:
        if fields.get("Event") == "template_card_event":
            return ("<xml><ToUserName>zhangsan</ToUserName><FromUserName>corp</FromUserName>"
                    "<CreateTime>1</CreateTime><MsgType>update_button</MsgType>"
                    "<Button><ReplaceName><![CDATA[已收到]]></ReplaceName></Button></xml>")
        return ("<xml><ToUserName>zhangsan</ToUserName><FromUserName>corp</FromUserName>"
                "<CreateTime>1</CreateTime><MsgType>text</MsgType>"
                "<Content><![CDATA[收到：你好]]></Content></xml>")

    receiver.reply = reply
    result = await emu.send_text("zhangsan", "你好")
    assert result.reply and "收到：你好" in result.reply
    assert emu.transcript("zhangsan", include_sent=True) == ["> 你好", "收到：你好"]
    await api.send("zhangsan", button_card("t_passive"))
    await emu.click_button("zhangsan", "t_passive", "k1")
    assert emu.card("t_passive", "zhangsan").button_names == ["已收到"]


async def test_hostile_callbacks(receiver: Receiver, emu: WeComEmulator) -> None:
    params, body = emu.build_callback("<xml><MsgType>text</MsgType></xml>",
                                      timestamp="1700000000", nonce="42")
    assert params["timestamp"] == "1700000000" and params["nonce"] == "42"
    tampered = {**params, "msg_signature": "0" * 40}
    assert (await emu.post_raw(tampered, body)).status == 403
    good = await emu.post_raw(params, body)
    assert good.status == 200
    assert receiver.posts[-1]["plaintext"] == "<xml><MsgType>text</MsgType></xml>"


async def test_verify_url(receiver: Receiver, emu: WeComEmulator) -> None:
    assert await emu.verify_url("1288432023552776189") == "1288432023552776189"
    assert emu.last_verify_status == 200
    assert (await emu.verify_url()).isdigit()


async def test_callback_to_a_dead_url_reports_status_zero(emu: WeComEmulator,
                                                          unused_tcp_port: int) -> None:
    emu.callback_url = f"http://127.0.0.1:{unused_tcp_port}/cb"
    emu.callback_timeout = 0.2
    result = await emu.send_text("zhangsan", "hello?")
    assert result.status == 0 and result.error
    await emu.close()


# ------------------------------------------------------------------------------ rendering

async def test_render_for_member(api: Api, emu: WeComEmulator) -> None:
    card = button_card("t_render", source={"desc": "疫情通"},
                       horizontal_content_list=[{"keyname": "日期", "value": "11月28日"}])
    await api.send("zhangsan", card)
    rendered = render_for_member(emu.inbox("zhangsan")[-1])
    assert rendered.splitlines() == ["【疫情通】", "今日体温是否正常？", "每日上报",
                                     "日期: 11月28日", "[1] 选项1  [2] 选项2"]
    await api.send("zhangsan", vote_card("t_render_vote", mode=0))
    vote = emu.last_text("zhangsan")
    assert "(single choice)" in vote and "☐ 1. 症状1" in vote and vote.endswith("[提交]")
