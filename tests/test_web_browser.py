"""The member page and the dashboard in a real browser (Chromium from the OS, via Playwright).

A member signs in through the emulator's OAuth page at a phone's 375 px viewport, fills the
basic information and the daily report (the location from the browser's Geolocation API),
sees the receipt, and `状态` in the chat agrees; a reviewer sees only their units, reminds the
non-reporters (the emulator receives the messages) and acknowledges an alert; another unit's
reviewer gets 403; a forged or replayed state and a POST without the CSRF token are refused.
Screenshots of the key pages are written to docs/screenshots/ when YQT_SCREENSHOTS=1.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import sqlalchemy as sa

from app.emulator.api import WeComEmulator
from bot.clock import FixedClock
from storage.models import Alert, AuditLog, BasicInfo, DailyReport
from tests.harness import Bot, new_emulator
from tests.web_helpers import start_web_bot

CHROMIUM = os.environ.get("YQT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
PHONE = {"width": 375, "height": 740}
BEIJING = {"latitude": 39.9496, "longitude": 116.3176}  # 海淀区, near the campus
SHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"

if os.environ.get("YQT_REQUIRE_BROWSER") and not os.path.exists(CHROMIUM):
    raise RuntimeError(f"YQT_REQUIRE_BROWSER is set (CI) but there is no Chromium at {CHROMIUM}")

pytestmark = [
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM),
        reason=f"no Chromium at {CHROMIUM}: apt-get install chromium fonts-wqy-microhei "
               "(.ci/run does); Playwright cannot download its own browser here"),
    # Playwright's objects belong to the event loop that started it: these tests and their
    # fixtures share the session's loop, so one Chromium serves them all.
    pytest.mark.asyncio(loop_scope="session"),
]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def chromium() -> AsyncIterator[Any]:
    """One Chromium for the session: launching it (and Playwright's driver) costs about 2 s."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        await b.close()


@pytest_asyncio.fixture(loop_scope="session")
async def browser(chromium: Any) -> AsyncIterator[Any]:
    """The session's Chromium; every context a test opens (its own cookies, storage, viewport,
    geolocation) is closed after it, so no test sees another's sign-in."""
    yield chromium
    for context in list(chromium.contexts):
        await context.close()


@pytest_asyncio.fixture(loop_scope="session")
async def emulator(clock: FixedClock) -> AsyncIterator[WeComEmulator]:
    """conftest's emulator, started on the session's loop like the browser."""
    emu = await new_emulator(clock)
    yield emu
    await emu.close()


@pytest_asyncio.fixture(loop_scope="session")
async def site(emulator: WeComEmulator, tmp_path: Path, clock: FixedClock
               ) -> AsyncIterator[tuple[Bot, str]]:
    bot, base = await start_web_bot(emulator, tmp_path, clock)
    yield bot, base
    await bot.stop()


async def phone(browser: Any, base: str) -> Any:
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                        has_touch=True, locale="zh-CN", geolocation=BEIJING,
                                        permissions=["geolocation"])
    return await context.new_page()


async def desktop(browser: Any) -> Any:
    context = await browser.new_context(viewport={"width": 1000, "height": 900},
                                        locale="zh-CN")
    return await context.new_page()


async def shot(page: Any, name: str) -> None:
    if os.environ.get("YQT_SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / name), full_page=True)


async def sign_in(page: Any, base: str, userid: str, path: str = "/h5/") -> None:
    """Through WeCom's (the emulator's) authorize page, as a member taps the app."""
    await page.goto(base + path)
    assert "/connect/oauth2/authorize" in page.url
    await page.click(f"#pick-{userid}")
    await page.wait_for_url(f"{base}{path}*")


async def fills_without_overflow(page: Any) -> bool:
    return bool(await page.evaluate(
        "document.documentElement.scrollWidth <= window.innerWidth"))


async def fill_basic_info(page: Any, base: str) -> None:
    await page.goto(base + "/h5/?tab=info")
    assert await page.input_value("#in-name") == "张三"  # from the roster, to confirm
    await page.fill("#in-staff_no", "2019011234")  # the roster has no student ID (QA #3)
    await page.fill("#in-mobile", "13800000002")
    assert await page.is_hidden("#q-hukou_address")
    await page.check("input[name=beijing_hukou][value=no]")
    # JS asks the server which questions now apply: the declared `when` shows this one.
    await page.wait_for_selector("#q-hukou_address", state="visible")
    await page.fill("#in-hukou_address", "新疆乌鲁木齐市天山区")
    await page.check("input[name=member_type][value=student]")
    await shot(page, "h5-basic-info-form.png")
    await page.click("button.primary")
    # Shown to check first: stored only when confirmed (it cannot be changed afterwards).
    await page.wait_for_selector("#confirm")
    assert "新疆乌鲁木齐市天山区" in await page.inner_text("#confirm")
    await shot(page, "h5-basic-info-confirm.png")
    await page.click("button.primary")
    await page.wait_for_selector("#basic-info")


async def fill_daily(page: Any, base: str, temperature: str = "36.6") -> None:
    await page.goto(base + "/h5/?tab=daily")
    # The browser's Geolocation API fills the position by itself.
    await page.wait_for_function(
        "document.querySelector('input[name=\"location.lat\"]').value !== ''")
    assert await page.is_checked("input[name='location.mode'][value=gps]")
    await page.check("input[name=on_campus][value=yes]")
    await page.fill("#in-temperature", temperature)
    await page.check("input[name=symptoms][value=none]")
    await page.check("input[name=contact][value=no]")
    await page.check("input[name=quarantine][value=none]")
    await shot(page, "h5-daily-form.png")
    await page.click("button.primary")
    await page.wait_for_selector("#receipt")


async def test_member_reports_in_the_page_and_the_chat_agrees(browser: Any,
                                                             site: tuple[Bot, str]) -> None:
    bot, base = site
    page = await phone(browser, base)
    await sign_in(page, base, "zhangsan")
    assert "温馨提示" in await page.inner_text(".tips")
    assert "请先在“基本信息”中填写" in await page.inner_text("main")
    await fill_basic_info(page, base)
    text = await page.inner_text("#basic-info")
    assert "不可修改" in text and "新疆乌鲁木齐市天山区" in text and "13800000002" in text
    assert await page.locator("#basic-info input").count() == 0  # read-only
    assert await fills_without_overflow(page)
    await shot(page, "h5-basic-info-readonly.png")
    await fill_daily(page, base)
    receipt = await page.inner_text("#receipt")
    assert "回执号" in receipt and "海淀区" in receipt and "36.6" in receipt
    assert await fills_without_overflow(page)
    await shot(page, "h5-receipt.png")
    async with bot.db.session() as s:
        report = (await s.execute(sa.select(DailyReport))).scalars().one()
    assert report.receipt in receipt and report.location_kind == "gps"
    assert report.answers["location"]["source"] == "browser"
    await bot.settle()
    bot.new_messages("zhangsan")
    status = await bot.say("zhangsan", "状态")
    assert report.receipt in status[0] and "张三" in status[0]
    # English, the member's preference shared with the chat.
    await page.click("header form.lang button")
    assert "Receipt" in await page.inner_text("#receipt") or \
        "receipt" in await page.inner_text("#receipt")


async def test_abroad_and_location_failed_ladder_without_javascript(
        browser: Any, site: tuple[Bot, str]) -> None:
    bot, base = site
    context = await browser.new_context(viewport=PHONE, java_script_enabled=False,
                                        locale="zh-CN")
    page = await context.new_page()
    await sign_in(page, base, "lisi")
    await page.goto(base + "/h5/?tab=info")
    await page.fill("#in-staff_no", "2020000003")
    await page.fill("#in-mobile", "13800000003")
    await page.check("input[name=beijing_hukou][value=no]")
    await page.check("input[name=member_type][value=student]")
    await page.click("button.primary")
    # Without JavaScript the page comes back asking for the question that now applies.
    await page.wait_for_selector("#q-hukou_address .error")
    await page.fill("#in-hukou_address", "河北省保定市")
    await page.click("button.primary")
    await page.wait_for_selector("#confirm")
    await page.click("button.primary")
    await page.wait_for_selector("#basic-info")
    await page.goto(base + "/h5/?tab=daily")
    await page.check("input[name='location.mode'][value=address]")
    await page.fill("input[name='location.address']", "x")
    await page.check("input[name=on_campus][value=no]")
    await page.fill("#in-temperature", "36.4")
    await page.check("input[name=symptoms][value=none]")
    await page.check("input[name=contact][value=no]")
    await page.check("input[name=quarantine][value=none]")
    await page.click("button.primary")
    error = await page.inner_text("#q-location .error")
    assert "地址" in error  # the chat's own address validator
    await shot(page, "h5-location-failed.png")
    await page.check("input[name='location.mode'][value=abroad]")
    await page.fill("input[name='location.country']", "日本")
    await page.click("button.primary")
    await page.wait_for_selector("#receipt")
    assert "在国外 Abroad：日本" in await page.inner_text("#receipt")


async def test_reviewer_sees_own_units_reminds_and_acknowledges(
        browser: Any, site: tuple[Bot, str], emulator: WeComEmulator) -> None:
    bot, base = site
    member = await phone(browser, base)
    await sign_in(member, base, "zhangsan")
    await fill_basic_info(member, base)
    await fill_daily(member, base, temperature="38.2")  # a fever: an alert for the reviewers
    await bot.settle()
    page = await desktop(browser)
    await sign_in(page, base, "teacher", "/dashboard/")
    units = await page.inner_text("#units")
    assert "民族学与社会学学院" in units and "国际教育学院" not in units
    missing = await page.inner_text("#missing")
    assert "李四" in missing and "Maria" not in missing and "张三" not in missing
    assert await page.locator("svg.chart").count() == 1
    assert "发热" in await page.inner_text("#alerts")
    await shot(page, "dashboard.png")
    emulator_seen = len(emulator.inbox("lisi"))
    await page.click("#remind")
    await page.wait_for_selector("#reminded")
    await bot.settle()
    reminders = [d.text for d in emulator.inbox("lisi")[emulator_seen:]]
    assert any("还没有健康上报" in t for t in reminders)
    assert not any("还没有健康上报" in d.text for d in emulator.inbox("maria"))
    # Pressing again within the hour sends nothing twice.
    await page.click("#remind")
    await page.wait_for_selector("#reminded")
    assert "已提醒 0 人" in await page.inner_text("#reminded")
    await page.click("#alerts button")
    await page.wait_for_selector("#alerts .acked")
    assert "王老师" in await page.inner_text("#alerts .acked")
    async with bot.db.session() as s:
        alert = (await s.execute(sa.select(Alert))).scalars().one()
        actions = {a.action for a in (await s.execute(sa.select(AuditLog).where(
            AuditLog.actor == "teacher"))).scalars()}
    assert alert.acknowledged_by == "teacher"
    assert {"web.dashboard", "web.remind", "alert.ack"} <= actions
    await page.click("#alerts a")
    assert "38.2" in await page.inner_text("#history")
    await shot(page, "dashboard-member.png")
    small = await phone(browser, base)
    await sign_in(small, base, "teacher", "/dashboard/")
    assert await fills_without_overflow(small)
    await shot(small, "dashboard-phone.png")


async def test_other_units_reviewer_gets_not_found(browser: Any, site: tuple[Bot, str]
                                                  ) -> None:
    bot, base = site
    page = await desktop(browser)
    await sign_in(page, base, "chen", "/dashboard/")
    assert "民族学与社会学学院" not in await page.inner_text("#units")
    response = await page.goto(base + "/dashboard/member/zhangsan")
    assert response.status == 404 and "没有找到" in await page.inner_text("main")
    response = await page.goto(base + "/dashboard/proxy/zhangsan")
    assert response.status == 404
    response = await page.goto(base + "/dashboard/member/maria")
    assert response.status == 200
    member = await desktop(browser)
    await sign_in(member, base, "lisi", "/dashboard/")
    assert "仅供审核老师" in await member.inner_text("main")


async def test_forged_or_replayed_state_and_missing_csrf_are_refused(
        browser: Any, site: tuple[Bot, str]) -> None:
    bot, base = site
    page = await phone(browser, base)
    await page.goto(base + "/h5/")
    link = await page.get_attribute("#pick-zhangsan", "href")
    callbacks: list[str] = []
    page.on("request", lambda r: callbacks.append(r.url) if "/oauth/callback" in r.url
            else None)
    state_cookie = next(c for c in await page.context.cookies(base + "/oauth/")
                        if c["name"] == "yqt_oauth")
    forged = await page.goto(base + "/oauth/callback?code=abc&state=forged")
    assert forged.status == 400 and "登录请求无效" in await page.inner_text("main")
    await page.goto(page.url.split("/oauth/")[0] + "/h5/")  # a fresh state
    await page.click("#pick-zhangsan")
    await page.wait_for_selector(".tips")
    callback = callbacks[-1]
    await page.context.add_cookies([state_cookie])
    replay = await page.goto(callback)
    assert replay.status == 400
    assert link  # the picker offered the member
    # Signed in: a POST without the CSRF token changes nothing.
    status = await page.evaluate("""async () => {
        const body = new FormData();
        for (const [k, v] of Object.entries({name: '张三', staff_no: 'zhangsan',
             mobile: '13800000002', beijing_hukou: 'yes', member_type: 'student'}))
          body.append(k, v);
        const r = await fetch('/h5/info', {method: 'POST', body});
        return r.status; }""")
    assert status == 403
    async with bot.db.session() as s:
        assert await s.get(BasicInfo, "zhangsan") is None
