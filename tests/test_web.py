"""The web without a browser: sign-in rules, sessions, CSRF, scoping, the shared forms.

The browser tests (tests/test_web_browser.py) drive the same pages in Chromium."""

from __future__ import annotations

import json
import re
from html import unescape
from dataclasses import replace
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from yarl import URL

from app.emulator.api import WeComEmulator
from bot.clock import FixedClock
from bot.conversation import validators as v
from tests.forms import DAILY_REPORT
from bot.conversation.forms import Question, QuestionKind
from handlers.web import formview
from handlers.web.jssdk import signature
from storage.models import AuditLog, BasicInfo, DailyReport
from tests.harness import basic_info, chinese_only_lines, member
from tests.web_helpers import CONFIRM, http_client, post_basic_info, sign_in, start_web_bot

CSRF = re.compile(r'name="_csrf" value="([^"]+)"')
BASIC = {"name": "张三", "staff_no": "zhangsan", "mobile": "13800000002",
         "beijing_hukou": "yes", "member_type": "student"}
DAILY = {"location.mode": "gps", "location.lat": "39.95", "location.lng": "116.32",
         "on_campus": "yes", "temperature": "36.5", "symptoms": "none", "contact": "no",
         "quarantine": "none", "remarks": ""}


def test_jssdk_signature_matches_wecoms_documented_example() -> None:
    # The example of WeCom's JS-SDK signature documentation.
    assert signature("sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2"
                     "fzFy1AOcHKP7qg", "Wm3WZYTPz0wzccnW", 1414587457,
                     "http://mp.weixin.qq.com?params=value") == \
        "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


async def test_redirect_url_has_wecoms_exact_shape(emulator: WeComEmulator, db_url: str,
                                                   clock: FixedClock) -> None:
    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        async with http_client() as http:
            for path in ("/h5/", "/dashboard/"):
                r = await http.get(base + path, allow_redirects=False)
                assert r.status == 302
                url = r.headers["Location"]
                assert url.startswith(f"{emulator.base_url}/connect/oauth2/authorize?appid="
                                      f"{emulator.corp_id}&redirect_uri=http%3A%2F%2F127.0.0.1")
                assert url.endswith(f"&agentid={emulator.agent_id}#wechat_redirect")
                query = parse_qs(urlsplit(url.split("#")[0]).query)
                assert query["redirect_uri"] == [f"{base}/oauth/callback"]
                assert query["response_type"] == ["code"] and query["scope"] == ["snsapi_base"]
                assert len(query["state"][0]) >= 24
                cookie = r.cookies["yqt_oauth"]
                assert cookie["httponly"] and cookie["samesite"] == "Lax"
                assert cookie["path"] == "/oauth/" and not cookie["secure"]
    finally:
        await bot.stop()


async def test_sign_in_sets_an_httponly_lax_cookie_that_expires_after_8_hours(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        async with http_client() as http:
            first = await http.get(base + "/h5/?tab=info", allow_redirects=False)
            authorize = first.headers["Location"].split("#")[0]
            picked = await http.get(authorize + "&pick_userid=zhangsan", allow_redirects=False)
            back = await http.get(picked.headers["Location"], allow_redirects=False)
            assert back.status == 303 and back.headers["Location"] == "/h5/?tab=info"
            session = back.cookies["yqt_session"]
            assert session["httponly"] and session["samesite"] == "Lax"
            assert session["max-age"] == str(8 * 3600)
            assert (await http.get(base + "/h5/", allow_redirects=False)).status == 200
            clock.advance(hours=7, minutes=59)
            assert (await http.get(base + "/h5/", allow_redirects=False)).status == 200
            clock.advance(minutes=2)
            assert (await http.get(base + "/h5/", allow_redirects=False)).status == 302
        async with bot.db.session() as s:
            signed = (await s.execute(sa.select(AuditLog).where(
                AuditLog.action == "web.sign_in"))).scalars().all()
        assert [a.actor for a in signed] == ["zhangsan"]
    finally:
        await bot.stop()


async def test_forged_replayed_and_foreign_states_are_refused(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        async with http_client() as http:
            first = await http.get(base + "/h5/", allow_redirects=False)
            authorize = first.headers["Location"].split("#")[0]
            picked = await http.get(authorize + "&pick_userid=zhangsan", allow_redirects=False)
            callback = picked.headers["Location"]
            forged = re.sub(r"state=[^&]+", "state=forged", callback)
            r = await http.get(forged, allow_redirects=False)
            assert r.status == 400 and "登录请求无效" in await r.text()
            jar = http.cookie_jar.filter_cookies(URL(f"{base}/oauth/callback"))
            state_cookie = jar["yqt_oauth"]
            ok = await http.get(callback, allow_redirects=False)
            assert ok.status == 303
            # Replay: same URL with the state cookie put back — the state was used once.
            http.cookie_jar.update_cookies({"yqt_oauth": state_cookie.value},
                                           response_url=ok.url.with_path("/oauth/"))
            replay = await http.get(callback, allow_redirects=False)
            assert replay.status == 400
        async with http_client() as other:  # another browser: not its state
            r = await other.get(callback, allow_redirects=False)
            assert r.status == 400
    finally:
        await bot.stop()


async def test_outsiders_and_non_roster_members_are_turned_away(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        async with http_client() as http:
            r = await sign_in(http, base, "stranger")
            assert r.status == 403 and "花名册中没有找到您的账号（stranger）" \
                in await r.text()
        async with http_client() as http:
            first = await http.get(base + "/h5/", allow_redirects=False)
            authorize = first.headers["Location"].split("#")[0]
            r = await http.get(authorize + "&pick_openid=o_wechat_user")
            assert r.status == 403 and "只有本企业的成员" in await r.text()
            assert "yqt_session" not in {c.key for c in http.cookie_jar}
    finally:
        await bot.stop()


async def test_post_without_csrf_token_changes_nothing(emulator: WeComEmulator,
                                                      db_url: str, clock: FixedClock) -> None:
    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        async with http_client() as http:
            page = await sign_in(http, base, "zhangsan", "/h5/?tab=info")
            token = CSRF.search(await page.text()).group(1)
            r = await http.post(base + "/h5/info", data=BASIC)
            assert r.status == 403 and "没有做任何更改" in await r.text()
            r = await http.post(base + "/h5/info", data={**BASIC, "_csrf": "x" * 32})
            assert r.status == 403
            async with bot.db.session() as s:
                assert await s.get(BasicInfo, "zhangsan") is None
            r = await post_basic_info(http, base, {**BASIC, "_csrf": token})
            assert r.status == 200 and "不可修改" in await r.text()
        async with http_client() as anonymous:
            r = await anonymous.post(base + "/h5/daily", data=DAILY)
            assert r.status == 403
    finally:
        await bot.stop()



async def test_the_page_refuses_emoji_and_dashed_ids_with_the_chats_messages(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    """QA #13 on the member page: the same validators, the same bilingual messages, nothing
    stored; the country of 在国外 too."""
    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        async with http_client() as http:
            page = await sign_in(http, base, "zhangsan", "/h5/?tab=info")
            token = CSRF.search(await page.text()).group(1)
            for field, typed, message in [
                    ("name", "张三😀", "姓名中不能有表情或符号（😀）"),
                    ("staff_no", "2019-011234", "不加空格或短横线，例如 2019011234"),
                    ("hukou_address", "河北省保定市🏠竞秀区", "地址中不能有表情或符号（🏠）")]:
                data = {**BASIC, "beijing_hukou": "no", "hukou_address": "河北省保定市竞秀区",
                        field: typed, "_csrf": token}
                r = await post_basic_info(http, base, data)
                html = await r.text()
                assert r.status == 400 and message in html, field
                assert "can&#39;t contain emoji" in html or "without spaces or dashes" in html
                assert await basic_info(bot, "zhangsan") is None
            r = await post_basic_info(http, base, {**BASIC, "_csrf": token})
            assert r.status == 200 and await basic_info(bot, "zhangsan") is not None
            abroad = {**DAILY, "location.mode": "abroad", "location.country": "日本🇯🇵",
                      "_csrf": token}
            r = await http.post(base + "/h5/daily", data=abroad)
            assert r.status == 400 and "国家或地区名称中不能有表情或符号（🇯🇵）" in await r.text()
        async with bot.db.session() as s:
            assert (await s.execute(sa.select(sa.func.count()).select_from(DailyReport))
                    ).scalar_one() == 0
    finally:
        await bot.stop()


async def test_basic_information_is_stored_only_after_the_member_confirms_what_was_shown(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    """QA (#16): basic information cannot be changed once stored, so the page, like the chat,
    shows what will be stored and stores it only when the member confirms exactly that."""
    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        async with http_client() as http:
            page = await sign_in(http, base, "zhangsan", "/h5/?tab=info")
            token = CSRF.search(await page.text()).group(1)
            first = await http.post(base + "/h5/info", data={**BASIC, "_csrf": token})
            html = await first.text()
            assert first.status == 200 and "请核对以下基本信息" in html and "确认提交" in html
            assert "13800000002" in html and 'id="confirm"' in html
            assert await basic_info(bot, "zhangsan") is None
            digest = CONFIRM.search(html).group(1)
            # Changed after being shown (or a forged digest): shown again, nothing stored.
            for data in ({**BASIC, "mobile": "13900000009", "confirm": digest},
                         {**BASIC, "confirm": "0" * 32}):
                again = await http.post(base + "/h5/info", data={**data, "_csrf": token})
                assert again.status == 200 and "请核对以下基本信息" in await again.text()
                assert await basic_info(bot, "zhangsan") is None
            done = await http.post(base + "/h5/info",
                                   data={**BASIC, "confirm": digest, "_csrf": token})
            assert done.status == 200 and "不可修改" in await done.text()
            stored = await basic_info(bot, "zhangsan")
            assert stored is not None and stored.answers["mobile"] == "13800000002"
    finally:
        await bot.stop()


async def test_the_page_shows_the_privacy_notice_and_takes_nothing_before_agreement(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    bot, base = await start_web_bot(emulator, db_url, clock, accept_privacy=False)
    try:
        async with http_client() as http:
            for tab in ("info", "daily"):
                page = await http.get(base + f"/h5/?tab={tab}") if tab == "daily" else \
                    await sign_in(http, base, "zhangsan", "/h5/?tab=info")
                html = await page.text()
                assert "隐私告知 第1版" in html and "点击「同意」" in html  # as in the chat
                assert 'name="staff_no"' not in html and 'name="temperature"' not in html
            token = CSRF.search(html).group(1)
            r = await post_basic_info(http, base, {**BASIC, "_csrf": token})
            assert r.status == 409 and "请先阅读并同意隐私告知" in await r.text()
            assert await basic_info(bot, "zhangsan") is None
            r = await http.post(base + "/h5/applicable", data={"form": "info", "_csrf": token})
            assert r.status == 409
            assert 'name="version" value="1"' in html  # the version shown is the one accepted
            r = await http.post(base + "/h5/privacy", data={"tab": "info", "version": "1",
                                                            "_csrf": token})
            html = await r.text()
            assert "隐私告知" not in html and 'name="staff_no"' in html
            stored = await member(bot, "zhangsan")
            assert stored.privacy_version == 1 and stored.privacy_accepted_at == clock.now()
            r = await post_basic_info(http, base, {**BASIC, "_csrf": token})
            assert r.status == 200 and "不可修改" in await r.text()
        assert not any("隐私告知" in t for t in await bot.say("zhangsan", "状态"))
    finally:
        await bot.stop()


async def test_page_uses_the_chats_validators_and_status_agrees(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        async with http_client() as http:
            page = await sign_in(http, base, "zhangsan", "/h5/?tab=info")
            token = CSRF.search(await page.text()).group(1)
            r = await http.post(base + "/h5/daily", data={**DAILY, "_csrf": token})
            assert r.status == 409  # basic information first, as in the chat
            bad = {**BASIC, "mobile": "12345", "_csrf": token}
            r = await http.post(base + "/h5/info", data=bad)
            assert r.status == 400 and "手机号" in await r.text()
            r = await post_basic_info(http, base, {**BASIC, "_csrf": token})
            assert r.status == 200
            r = await http.post(base + "/h5/daily", data={**DAILY, "temperature": "45",
                                                          "_csrf": token})
            text = await r.text()
            assert r.status == 400 and "35.0" in text and "42.0" in text
            r = await http.post(base + "/h5/daily", data={**DAILY, "temperature": "36,5",
                                                          "_csrf": token})
            assert r.status == 200 and 'id="receipt"' in await r.text()
            again = await http.post(base + "/h5/daily", data={**DAILY, "_csrf": token})
            assert again.status == 200
        async with bot.db.session() as s:
            reports = (await s.execute(sa.select(DailyReport))).scalars().all()
        assert len(reports) == 1 and reports[0].temperature == 36.5
        await bot.settle()
        bot.new_messages("zhangsan")
        status = await bot.say("zhangsan", "状态")
        assert reports[0].receipt in status[0]
    finally:
        await bot.stop()


def test_every_declared_question_becomes_a_field() -> None:
    """A question added to the form appears on the page with its own validator."""
    extra = Question("vaccinated", QuestionKind.SINGLE, "q.contact", label="field.contact",
                     options=DAILY_REPORT.question("contact").options)
    steps = Question("steps", QuestionKind.NUMBER, "q.temperature", parse=v.temperature,
                     label="field.temperature")
    form = replace(DAILY_REPORT, questions=(*DAILY_REPORT.questions, extra, steps))
    from datetime import UTC, date, datetime

    from bot.conversation.engine import Context
    ctx = Context(userid="u", lang="zh", rendering="text", now=datetime.now(UTC),
                  today=date(2026, 11, 30), new_id="x")
    keys = [f.key for f in formview.fields(form, {}, ctx, "zh")]
    assert keys == [q.key for q in form.questions]
    raw = formview.read_post(form, _multidict({**DAILY, "location.mode": "abroad",
                                               "location.country": "日本",
                                               "vaccinated": "yes", "steps": "50"}))
    outcome = formview.parse(form, raw, ctx, "zh")
    assert outcome.answers["vaccinated"] is True
    assert outcome.answers["location"]["kind"] == "abroad"
    assert set(outcome.errors) == {"steps"}


def _multidict(data: dict[str, str]):
    from multidict import MultiDict
    return MultiDict(data)


async def test_inside_wecom_the_page_signs_the_js_sdk_config(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        async with http_client() as http:
            page = await sign_in(http, base, "zhangsan", "/h5/?tab=info")
            token = CSRF.search(await page.text()).group(1)
            await post_basic_info(http, base, {**BASIC, "_csrf": token})
            outside = await (await http.get(base + "/h5/?tab=daily")).text()
            assert "window.YQT_JSSDK = null" in outside and "res.wx.qq.com" not in outside
            ua = {"User-Agent": "Mozilla/5.0 (iPhone) MicroMessenger/8.0 wxwork/4.1.0"}
            inside = await (await http.get(base + "/h5/?tab=daily", headers=ua)).text()
        config = json.loads(re.search(r"window.YQT_JSSDK = (\{.*?\});", inside).group(1))
        url = f"{base}/h5/?tab=daily"
        for part, kind in (("config", "jsapi"), ("agentConfig", "agent_config")):
            c = config[part]
            assert c["signature"] == signature(emulator.tickets[kind], c["nonceStr"],
                                               c["timestamp"], url)
            assert c["jsApiList"] == ["getLocation"]
        assert config["agentConfig"]["agentid"] == emulator.agent_id
        assert "jsapi_ticket" not in inside and emulator.tickets["jsapi"] not in inside
    finally:
        await bot.stop()


async def test_reviewer_exports_audited_downloads_of_their_units_only_and_files_for_a_member(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        async with http_client() as http:
            page = await sign_in(http, base, "teacher", "/dashboard/")
            assert page.status == 200
            token = CSRF.search(await page.text()).group(1)
            r = await http.get(base + "/dashboard/export?format=csv")
            body = (await r.read()).decode("utf-8-sig")
            assert r.status == 200 and "attachment" in r.headers["Content-Disposition"]
            assert "zhangsan" in body and "lisi" in body and "maria" not in body
            r = await http.get(base + "/dashboard/export?format=xlsx")
            assert r.status == 200 and (await r.read())[:2] == b"PK"
            r = await http.get(base + "/dashboard/export?format=csv&from=2026-12-05")
            assert r.status == 400  # the future: refused, nothing exported
            # 代报 on the web: the chat's proxy rules (typed address, reason recorded).
            form = await (await http.get(base + "/dashboard/proxy/lisi")).text()
            assert 'name="location.mode" value="gps"' not in form  # never the reviewer's GPS
            data = {**DAILY, "location.mode": "address", "location.address": "北京市海淀区中关村",
                    "location.reason": "手机坏了", "_csrf": token}
            r = await http.post(base + "/dashboard/proxy/lisi", data=data)
            assert r.status == 200 and 'id="receipt"' in await r.text()
            r = await http.post(base + "/dashboard/proxy/maria", data=data)
            assert r.status == 404  # the same as nobody (no probing of the roster)
        async with bot.db.session() as s:
            report = (await s.execute(sa.select(DailyReport).where(
                DailyReport.userid == "lisi"))).scalars().one()
            actions = [a.action for a in (await s.execute(sa.select(AuditLog).where(
                AuditLog.actor == "teacher").order_by(AuditLog.id))).scalars()]
        assert report.filled_by == "teacher" and report.location_kind == "typed"
        assert "手机坏了" in (report.proxy_reason or "")
        assert actions.count("web.export") == 2 and "proxy.report" in actions
        await bot.settle()
        assert any("王老师" in t for t in bot.new_messages("lisi"))  # told who filed for them
    finally:
        await bot.stop()


async def test_admin_sees_the_whole_university_with_subtotals(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        async with http_client() as http:
            page = await (await sign_in(http, base, "admin", "/dashboard/")).text()
        rows = re.findall(r'data-unit="([^"]+)".*?<span class="pct">(\d+)/(\d+)</span>', page,
                          re.S)
        totals = {unit: int(total) for unit, _reported, total in rows}
        # The root sums the colleges below it (6 members in all; 1 directly in the root).
        assert totals["中央民族大学"] == 6
        assert totals["民族学与社会学学院"] == 3 and totals["国际教育学院"] == 2
        assert [u for u, _r, _t in rows][0] == "中央民族大学"
    finally:
        await bot.stop()


async def test_cookies_are_secure_when_the_public_url_is_https(
        emulator: WeComEmulator, tmp_path: Path, clock: FixedClock) -> None:
    from pydantic import SecretStr

    from bot.settings import WebSettings
    from tests.harness import sqlite_url, start_bot
    from tests.web_helpers import free_port

    port = free_port()
    web = WebSettings(public_url="https://yqt.example.edu.cn", oauth_base=emulator.base_url,
                      secret=SecretStr("s" * 32))
    bot = await start_bot(emulator, sqlite_url(tmp_path), clock=clock, port=port, web=web)
    try:
        async with http_client() as http:
            r = await http.get(f"http://127.0.0.1:{port}/h5/", allow_redirects=False)
            assert "redirect_uri=https%3A%2F%2Fyqt.example.edu.cn%2Foauth%2Fcallback" in \
                r.headers["Location"]
            assert r.cookies["yqt_oauth"]["secure"]
    finally:
        await bot.stop()


async def test_a_report_started_in_the_chat_is_continued_in_the_page(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        async with http_client() as http:
            page = await sign_in(http, base, "zhangsan", "/h5/?tab=info")
            token = CSRF.search(await page.text()).group(1)
            await post_basic_info(http, base, {**BASIC, "_csrf": token})
            await bot.say("zhangsan", "上报")
            await bot.say("zhangsan", "在国外")
            await bot.say("zhangsan", "日本")
            html = await (await http.get(base + "/h5/?tab=daily")).text()
            assert "已带入您在对话中填写的内容" in html
            assert 'value="abroad" checked' in html and 'value="日本"' in html
            data = {**DAILY, "location.mode": "abroad", "location.country": "日本",
                    "_csrf": token}
            r = await http.post(base + "/h5/daily", data=data)
            assert r.status == 200 and "在国外 Abroad：日本" in await r.text()
        async with bot.db.session() as s:
            from storage.models import Conversation, Member
            assert await s.get(Conversation, "zhangsan") is None  # the chat's half is over
            assert (await s.get(Member, "zhangsan")).abroad_country == "日本"
    finally:
        await bot.stop()


async def test_emulator_oauth_enforces_wecoms_rules(emulator: WeComEmulator) -> None:
    """Codes work once; redirect_uri must be in the trusted domain; parameters are checked."""
    async with http_client() as http:
        token = emulator.issue_token()
        code = emulator.issue_oauth_code(userid="zhangsan")
        api = f"{emulator.base_url}/cgi-bin/auth/getuserinfo"
        first = await (await http.get(api, params={"access_token": token, "code": code})).json()
        again = await (await http.get(api, params={"access_token": token, "code": code})).json()
        assert first["errcode"] == 0 and first["userid"] == "zhangsan"
        assert again["errcode"] == 40029
        authorize = f"{emulator.base_url}/connect/oauth2/authorize"
        params = {"appid": emulator.corp_id, "redirect_uri": "http://127.0.0.1:1/oauth/callback",
                  "response_type": "code", "scope": "snsapi_base", "state": "s",
                  "agentid": str(emulator.agent_id)}
        assert (await http.get(authorize, params=params)).status == 200
        assert (await http.get(authorize, params={**params, "appid": "wrong"})).status == 400
        assert (await http.get(authorize, params={**params, "agentid": "1"})).status == 400
        emulator.trusted_domain = "yqt.example.edu.cn"
        r = await http.get(authorize, params=params)
        assert r.status == 400 and "可信域名" in await r.text()


async def test_outside_ones_units_looks_the_same_as_nobody(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    """A member outside the reviewer's units and a userid not on the roster get the same
    answer (no probing of the roster), as in the chat."""
    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        async with http_client() as http:
            await sign_in(http, base, "teacher", "/dashboard/")
            for path in ("/dashboard/member/", "/dashboard/proxy/"):
                outside = await http.get(base + path + "maria")
                nobody = await http.get(base + path + "ghost")
                assert outside.status == nobody.status == 404
                assert await outside.text() == await nobody.text()
            assert (await http.get(base + "/dashboard/member/lisi")).status == 200
    finally:
        await bot.stop()


async def test_remind_now_reaches_only_the_actors_units(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        async with http_client() as http:
            page = await sign_in(http, base, "teacher", "/dashboard/")
            token = CSRF.search(await page.text()).group(1)
            r = await http.post(base + "/dashboard/remind",
                                data={"_csrf": token, "userid": "maria"})
            assert r.status == 200 and "已提醒 0 人" in await r.text()
            r = await http.post(base + "/dashboard/remind",
                                data={"_csrf": token, "userid": "lisi"})
            assert "已提醒 1 人" in await r.text()
        await bot.settle()
        assert any("还没有健康上报" in d.text for d in emulator.inbox("lisi"))
        assert not emulator.inbox("maria") and not emulator.inbox("zhangsan")
    finally:
        await bot.stop()


async def test_web_can_be_turned_off(emulator: WeComEmulator, tmp_path: Path,
                                     clock: FixedClock) -> None:
    from bot.settings import WebSettings
    from tests.harness import sqlite_url, start_bot
    from tests.web_helpers import free_port

    port = free_port()
    bot = await start_bot(emulator, sqlite_url(tmp_path), clock=clock, port=port,
                          web=WebSettings(enabled=False))
    try:
        async with http_client() as http:
            for path in ("/h5/", "/dashboard/", "/oauth/callback"):
                assert (await http.get(f"http://127.0.0.1:{port}{path}",
                                       allow_redirects=False)).status == 404
    finally:
        await bot.stop()


def test_web_settings_name_the_bad_key(tmp_path: Path, monkeypatch) -> None:
    from bot.settings import ConfigError, load_settings

    config = tmp_path / "settings.toml"
    config.write_text('[web]\npublic_url = "https://yqt.example.edu.cn/"\n', encoding="utf-8")
    monkeypatch.setenv("YQT_WEB__PUBLIC_URL", "yqt.example.edu.cn")
    with pytest.raises(ConfigError, match="web.public_url"):
        load_settings(config)
    monkeypatch.delenv("YQT_WEB__PUBLIC_URL")
    monkeypatch.setenv("YQT_WEB__SECRET", "from-the-environment-0123456789")
    settings = load_settings(config)
    assert settings.web.public_url == "https://yqt.example.edu.cn"
    assert settings.web.secure_cookies and "from-the-env" not in repr(settings)


async def test_proxy_page_for_a_member_who_reported_says_so(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        async with http_client() as member, http_client() as teacher:
            page = await sign_in(member, base, "zhangsan", "/h5/?tab=info")
            token = CSRF.search(await page.text()).group(1)
            await post_basic_info(member, base, {**BASIC, "_csrf": token})
            await member.post(base + "/h5/daily", data={**DAILY, "_csrf": token})
            await sign_in(teacher, base, "teacher", "/dashboard/")
            html = await (await teacher.get(base + "/dashboard/proxy/zhangsan")).text()
            assert 'id="receipt"' in html and "今日（2026-11-30）已上报" in html
            assert "<form method=\"post\" action=\"/dashboard/proxy" not in html
    finally:
        await bot.stop()


async def test_location_failed_ask_my_reviewer_notifies_them_and_files_nothing(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        async with http_client() as http:
            page = await sign_in(http, base, "zhangsan", "/h5/?tab=info")
            token = CSRF.search(await page.text()).group(1)
            await post_basic_info(http, base, {**BASIC, "_csrf": token})
            r = await http.post(base + "/h5/daily", data={"location.mode": "proxy",
                                                          "_csrf": token})
            html = await r.text()
            assert r.status == 200 and "已请本单位审核老师代您填报" in html
            assert 'id="form-daily"' in html  # no report yet: the form stays available
        await bot.settle()
        assert any("张三" in t for t in bot.new_messages("teacher"))
        async with bot.db.session() as s:
            assert not (await s.execute(sa.select(DailyReport))).scalars().all()
    finally:
        await bot.stop()


def _visible_text(html: str) -> str:
    """The page's text as a reader sees it: one line per element, no scripts or markup."""
    html = re.sub(r"<(script|style)\b.*?</\1>", "", html, flags=re.S)
    html = re.sub(r'(?:placeholder|aria-label)="([^"]*)"', r">\n\1\n<", html)
    text = re.sub(r"<[^>]+>", "\n", html)
    return "\n".join(line.strip() for line in unescape(text).splitlines() if line.strip())


async def test_pages_show_english_alongside_and_never_none(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    """QA #7 and #8: every Chinese text on the H5 and dashboard pages has its English, the
    daily page is titled as the daily report, and no "None" leaks from a missing value."""
    bot, base = await start_web_bot(emulator, db_url, clock)
    data = ["张三", "zhangsan", "中央民族大学", "民族学与社会学学院", "国际教育学院", "中国"]
    try:
        async with http_client() as http:
            page = await sign_in(http, base, "zhangsan", "/h5/?tab=info")
            info = await page.text()
            token = CSRF.search(info).group(1)
            await post_basic_info(http, base, {**BASIC, "_csrf": token})
            daily = await (await http.get(base + "/h5/?tab=daily")).text()
            for html in (info, daily):
                text = _visible_text(html)
                assert chinese_only_lines(text, allowed=data) == [], text
                assert not re.search(r"[（(→]\s*None|None\s*[→）)]", text), text  # Python's
            assert "每日健康上报" in daily and "Daily health report" in daily
            assert "Health reporting" not in daily
        async with http_client() as http:
            dashboard = await (await sign_in(http, base, "admin", "/dashboard/")).text()
            text = _visible_text(dashboard)
            units = re.findall(r'data-unit="([^"]+)"', dashboard)
            assert chinese_only_lines(text, allowed=[*data, *units]) == [], text
            for path in ("/dashboard/member/zhangsan", "/no-such-page"):
                other = _visible_text(await (await http.get(base + path)).text())
                assert chinese_only_lines(other, allowed=[*data, *units]) == [], other
    finally:
        await bot.stop()


def _as_a_browser_folds_it(html: str) -> str:
    """The page's text with HTML's whitespace rules: a line break in text is a space (unless
    the element keeps it: `white-space: pre-line` classes), <br> and blocks break lines."""
    html = re.sub(r"<(script|style|title)\b.*?</\1>", "", html, flags=re.S)
    html = re.sub(r"<br\s*/?>", "\x00", html)
    html = re.sub(r"</?(p|div|li|h\d|tr|td|section|header|main|ul|table|form)\b[^>]*>", "\x00",
                  html)
    text = unescape(re.sub(r"<[^>]+>", "", html))
    return "\n".join(" ".join(part.split()) for part in text.split("\x00") if part.strip())


async def test_dashboard_counts_keep_chinese_and_english_apart(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    """QA (fixes #3): the unit row read "… 异常 0 3 members …" in a browser: the halves are
    now on their own lines, like every bilingual text on the pages."""
    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        async with http_client() as http:
            html = await (await sign_in(http, base, "admin", "/dashboard/")).text()
        folded = _as_a_browser_folds_it(html)
        assert re.search(r"异常 \d+\n\d+ members, \d+ reported", folded), folded
        assert not re.search(r"异常 \d+ \d+ members", folded)
        assert "<title>审核老师工作台 / Reviewer dashboard</title>" in html
    finally:
        await bot.stop()


async def test_remind_now_is_one_rule_in_the_chat_and_on_the_dashboard(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    """QA (fixes #1): the dashboard's button and the chat's 提醒 are one function: once per
    member per hour whichever is used, the same message, and both say how many."""
    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        (said,) = await bot.say("teacher", "提醒")
        assert "已提醒 2 人" in said
        await bot.settle()
        chat_reminder = bot.new_messages("lisi")
        assert len(chat_reminder) == 1 and "王老师 提醒您" in chat_reminder[0]
        async with http_client() as http:
            page = await sign_in(http, base, "teacher", "/dashboard/")
            token = CSRF.search(await page.text()).group(1)
            clock.advance(minutes=30)  # within the hour: nobody twice
            html = await (await http.post(base + "/dashboard/remind",
                                          data={"_csrf": token})).text()
            assert "已提醒 0 人" in html and "已提醒过的 2 人这次跳过" in html
            await bot.settle()
            assert bot.new_messages("lisi") == []
            clock.advance(minutes=31)  # an hour later: again (not once a day)
            html = await (await http.post(base + "/dashboard/remind",
                                          data={"_csrf": token})).text()
            assert "已提醒 2 人" in html
        await bot.settle()
        assert bot.new_messages("lisi") == chat_reminder  # the very same message
        clock.advance(minutes=10)
        (said,) = await bot.say("teacher", "提醒")
        assert "已提醒 0 人" in said and "已提醒过的 2 人这次跳过" in said
        async with bot.db.session() as s:
            actions = [a.action for a in (await s.execute(sa.select(AuditLog).where(
                AuditLog.action.in_(["remind.now", "web.remind"])).order_by(AuditLog.id)
            )).scalars()]
        assert actions == ["remind.now", "web.remind", "web.remind", "remind.now"]
    finally:
        await bot.stop()


OWN_DUE = re.compile(r'<p class="notice" id="own-due">(.*?)</p>', re.S)


async def test_the_dashboard_tells_a_reviewer_who_has_not_reported_himself(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    """QA finding 4: the dashboard never said that the reviewer himself had not reported.
    A notice says so (basic information first, when it is missing) with a link to the member
    page, until he reports; an exempt reviewer sees none."""
    from storage.models import Exemption
    from tests.harness import give_basic_info
    from tests.test_scheduler import add_report

    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        async with http_client() as http:
            html = await (await sign_in(http, base, "teacher", "/dashboard/")).text()
            (notice,) = OWN_DUE.findall(html)
            assert ("您本人今天（2026-11-30）还没有上报，且还没有填写基本信息：回复“上报”先填基本"
                    "信息（只需一次），填完直接开始今天的上报。") in unescape(notice)
            assert "and your basic information comes first" in unescape(notice)
            assert '<a href="/h5/?tab=info">去填写基本信息 / Fill in basic information</a>' \
                in notice
            # In the list of those missing he is himself: his own page, not 代报 for himself.
            own = re.search(r'<li><a href="/dashboard/member/teacher">.*?</li>', html, re.S)
            assert own is not None and 'href="/h5/?tab=info"' in own.group(0)
            assert "去填写基本信息" in own.group(0) and "/dashboard/proxy/teacher" not in html
            assert "/dashboard/proxy/" in html  # the others keep their 代报 link
            # The link leads to his own basic information form.
            form = await (await http.get(base + "/h5/?tab=info")).text()
            assert 'name="staff_no"' in form
            await give_basic_info(bot, "teacher")
            html = await (await http.get(base + "/dashboard/")).text()
            (notice,) = OWN_DUE.findall(html)
            assert "您本人今天（2026-11-30）还没有上报：回复“上报”即可开始。" in unescape(notice)
            assert "基本信息" not in notice
            assert '<a href="/h5/">去上报 / Report now</a>' in notice
            await add_report(bot, "teacher")
            html = await (await http.get(base + "/dashboard/")).text()
            assert 'id="own-due"' not in html and "您本人" not in html
            # Exempt (another reviewer, no report, no basic information): no notice.
            async with bot.db.transaction() as session:
                day = date(2026, 11, 30)
                session.add(Exemption(userid="chen", start=day, end=day, reason="出差",
                                      created_by="admin", created_at=clock.now()))
        async with http_client() as http:
            html = await (await sign_in(http, base, "chen", "/dashboard/")).text()
            assert 'id="own-due"' not in html and "您本人" not in html
    finally:
        await bot.stop()


async def test_the_dashboards_remind_words_members_without_basic_information(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    """QA finding 5 on the dashboard: 立即提醒 is the chat's 提醒, so a member without basic
    information is told it comes first, and the page says how many of the reminded lack it."""
    from tests.harness import give_basic_info

    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        await give_basic_info(bot, "lisi")  # zhangsan has none
        async with http_client() as http:
            page = await sign_in(http, base, "teacher", "/dashboard/")
            token = CSRF.search(await page.text()).group(1)
            html = await (await http.post(base + "/dashboard/remind",
                                          data={"_csrf": token})).text()
            assert ("已提醒 2 人（其中 1 人还没有填写基本信息，已提醒其先填基本信息）；"
                    "一小时内已提醒过的 0 人这次跳过") in unescape(html)
        await bot.settle()
        (first,) = bot.new_messages("zhangsan")
        assert "王老师 提醒您：今天（2026-11-30）还没有健康上报。您还没有填写基本信息：" \
            "回复“上报”先填基本信息" in first
        (daily,) = bot.new_messages("lisi")
        assert "王老师 提醒您：今天（2026-11-30）还没有健康上报，回复“上报”即可开始" in daily
        assert "基本信息" not in daily
    finally:
        await bot.stop()


async def test_alert_reasons_on_the_dashboard_come_in_both_languages(
        emulator: WeComEmulator, db_url: str, clock: FixedClock) -> None:
    """Found trying the dashboard (fixes): an alert's reasons were Chinese only ("发热")."""
    bot, base = await start_web_bot(emulator, db_url, clock)
    try:
        async with http_client() as member, http_client() as teacher:
            page = await sign_in(member, base, "zhangsan", "/h5/?tab=info")
            token = CSRF.search(await page.text()).group(1)
            await post_basic_info(member, base, {**BASIC, "_csrf": token})
            await member.post(base + "/h5/daily",
                              data={**DAILY, "temperature": "38.2", "_csrf": token})
            html = await (await sign_in(teacher, base, "teacher", "/dashboard/")).text()
            assert re.search(r'<div class="reasons">发热 / [Ff]ever</div>', html), html
            history = await (await teacher.get(base + "/dashboard/member/zhangsan")).text()
            assert re.search(r"<strong>发热 / [Ff]ever</strong>", history)
    finally:
        await bot.stop()
