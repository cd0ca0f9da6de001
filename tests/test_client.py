"""The async WeCom client against the emulator on a real TCP port."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from app.emulator import WeComEmulator
from bot.clock import FixedClock
from bot.wecom.client import MemoryTokenStore, SendResult, TokenStore, WeComClient
from bot.wecom.errors import (
    CardError,
    ConfigurationError,
    InvalidRecipientError,
    PermanentError,
    TokenExpiredError,
    TransientError,
    WeComError,
    error_for,
)
from storage.db import Database
from storage.tokens import DbTokenStore

START = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
TEXT = {"msgtype": "text", "text": {"content": "请完成今日健康上报"}}


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START, ZoneInfo("Asia/Shanghai"))


@pytest.fixture
async def emu(clock: FixedClock) -> AsyncIterator[WeComEmulator]:
    emulator = WeComEmulator(clock=clock)
    emulator.add_member("zhangsan", "张三")
    emulator.add_member("lisi", "李四")
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


MakeClient = Callable[..., WeComClient]


@pytest.fixture
def make_client(emu: WeComEmulator, http: aiohttp.ClientSession, clock: FixedClock
                ) -> MakeClient:
    def make(tokens: TokenStore | None = None, **overrides: Any) -> WeComClient:
        return WeComClient(http, emu.wecom_settings(**overrides),
                           tokens or MemoryTokenStore(), clock)
    return make


def card(task_id: str) -> dict[str, Any]:
    return {"msgtype": "template_card", "template_card": {
        "card_type": "button_interaction", "task_id": task_id,
        "main_title": {"title": "今日是否在校？"},
        "button_list": [{"text": "在校", "key": "yes"}, {"text": "不在校", "key": "no"}]}}


# ------------------------------------------------------------------------------- tokens

async def test_token_is_fetched_once_for_concurrent_sends(make_client: MakeClient,
                                                          emu: WeComEmulator) -> None:
    client = make_client()
    results = await asyncio.gather(*(client.send_message(["zhangsan"], TEXT)
                                     for _ in range(20)))
    assert all(isinstance(r, SendResult) and r.msgid for r in results)
    assert emu.api_call_count("gettoken") == 1
    assert emu.api_call_count("message/send") == 20
    await client.send_message(["lisi"], TEXT)
    assert emu.api_call_count("gettoken") == 1


class CountingStore(MemoryTokenStore):
    """The per-process store, counting how often the client reads it."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get(self, key: str) -> tuple[str, datetime] | None:
        self.reads += 1
        return await super().get(key)


async def test_a_fresh_token_is_not_read_from_the_store_on_every_call(
        make_client: MakeClient, emu: WeComEmulator, clock: FixedClock) -> None:
    """The shared store (a database table in production) is read when this process holds no
    fresh token, not once per call: 38,000 sends in a morning were as many database reads."""
    store = CountingStore()
    client = make_client(store)
    for _ in range(5):
        await client.send_message(["zhangsan"], TEXT)
    assert store.reads == 2  # none held, none stored: once, and again under the refresh lock
    assert emu.api_call_count("gettoken") == 1
    other = make_client(store)  # another instance: takes the stored token, then holds it
    for _ in range(3):
        await other.send_message(["lisi"], TEXT)
    assert store.reads == 3
    assert emu.api_call_count("gettoken") == 1
    clock.advance(seconds=7200 - 299)  # held, but within the safety margin: stale
    await client.send_message(["zhangsan"], TEXT)
    assert emu.api_call_count("gettoken") == 2
    await other.send_message(["lisi"], TEXT)  # reads what the first one stored
    assert emu.api_call_count("gettoken") == 2
    assert emu.api_call_count("message/send") == 10


async def test_refresh_once_on_expired_token(make_client: MakeClient,
                                             emu: WeComEmulator) -> None:
    client = make_client()
    await client.send_message(["zhangsan"], TEXT)
    emu.expire_tokens()
    results = await asyncio.gather(*(client.send_message(["zhangsan"], TEXT)
                                     for _ in range(5)))
    assert len(results) == 5
    assert emu.api_call_count("gettoken") == 2
    assert emu.api_call_count("message/send") == 1 + 5 + 5


@pytest.mark.parametrize("errcode", [40014, 42001, 41001])
async def test_token_errcodes_refresh_once(make_client: MakeClient, emu: WeComEmulator,
                                           errcode: int) -> None:
    client = make_client()
    emu.inject_fault("message/send", errcode)
    assert (await client.send_message(["zhangsan"], TEXT)).msgid
    assert emu.api_call_count("gettoken") == 2
    assert emu.api_call_count("message/send") == 2


async def test_token_error_is_retried_once_never_looped(make_client: MakeClient,
                                                        emu: WeComEmulator) -> None:
    client = make_client()
    emu.inject_fault("message/send", 42001, times=5)
    with pytest.raises(TokenExpiredError):
        await client.send_message(["zhangsan"], TEXT)
    assert emu.api_call_count("message/send") == 2
    assert emu.api_call_count("gettoken") == 2


async def test_token_is_refreshed_five_minutes_before_expiry(
        make_client: MakeClient, emu: WeComEmulator, clock: FixedClock) -> None:
    client = make_client()
    await client.send_message(["zhangsan"], TEXT)
    clock.advance(seconds=7200 - 301)
    await client.send_message(["zhangsan"], TEXT)
    assert emu.api_call_count("gettoken") == 1
    clock.advance(seconds=2)
    await client.send_message(["zhangsan"], TEXT)
    assert emu.api_call_count("gettoken") == 2


async def test_bad_secret_is_a_configuration_error(make_client: MakeClient,
                                                   emu: WeComEmulator,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    from pydantic import SecretStr

    client = make_client(secret=SecretStr("wrong-secret-value"))
    with caplog.at_level(logging.ERROR, logger="bot.wecom"), \
            pytest.raises(ConfigurationError) as info:
        await client.send_message(["zhangsan"], TEXT)
    assert info.value.errcode == 40001
    assert emu.api_call_count("gettoken") == 1
    assert emu.api_call_count("message/send") == 0
    assert any(r.levelno == logging.ERROR and "40001" in r.getMessage()
               for r in caplog.records)
    assert "wrong-secret-value" not in caplog.text


async def test_bad_corp_id_is_a_configuration_error(make_client: MakeClient) -> None:
    client = make_client(corp_id="ww_not_our_corp")
    with pytest.raises(ConfigurationError) as info:
        await client.gettoken()
    assert info.value.errcode == 40013


async def test_wrong_agent_id_is_a_configuration_error(make_client: MakeClient) -> None:
    client = make_client(agent_id=42)
    with pytest.raises(ConfigurationError) as info:
        await client.send_message(["zhangsan"], TEXT)
    assert info.value.errcode == 40056


# ---------------------------------------------------------------------------- transient

@pytest.mark.parametrize(("errcode", "retry_after"), [(-1, None), (45009, 60.0),
                                                      (45033, None)])
async def test_transient_errcodes(make_client: MakeClient, emu: WeComEmulator, errcode: int,
                                  retry_after: float | None) -> None:
    client = make_client()
    emu.inject_fault("message/send", errcode)
    with pytest.raises(TransientError) as info:
        await client.send_message(["zhangsan"], TEXT)
    assert info.value.errcode == errcode
    assert info.value.retry_after == retry_after
    assert emu.api_call_count("message/send") == 1  # the client itself never retries these
    assert (await client.send_message(["zhangsan"], TEXT)).msgid


async def test_dropped_connection_is_transient(make_client: MakeClient,
                                               emu: WeComEmulator) -> None:
    client = make_client()
    await client.access_token()
    emu.fail_network("message/send", times=1)
    with pytest.raises(TransientError) as info:
        await client.send_message(["zhangsan"], TEXT)
    assert "network" in info.value.errmsg
    assert (await client.send_message(["zhangsan"], TEXT)).msgid


async def test_http_502_is_transient(make_client: MakeClient, emu: WeComEmulator) -> None:
    client = make_client()
    emu.fail_network("gettoken", times=1, mode="502")
    with pytest.raises(TransientError) as info:
        await client.send_message(["zhangsan"], TEXT)
    assert info.value.http_status == 502


async def test_timeout_is_transient(make_client: MakeClient, emu: WeComEmulator) -> None:
    client = make_client(timeout_seconds=0.05)
    emu.set_latency(0.15)
    with pytest.raises(TransientError):
        await client.send_message(["zhangsan"], TEXT)
    emu.set_latency(0)


async def test_unreachable_server_is_transient(http: aiohttp.ClientSession, clock: FixedClock,
                                               emu: WeComEmulator,
                                               unused_tcp_port: int) -> None:
    settings = emu.wecom_settings(api_base=f"http://127.0.0.1:{unused_tcp_port}")
    client = WeComClient(http, settings, MemoryTokenStore(), clock)
    with pytest.raises(TransientError):
        await client.send_message(["zhangsan"], TEXT)


# --------------------------------------------------------------------------- responses

async def test_invaliduser_is_parsed(make_client: MakeClient, emu: WeComEmulator) -> None:
    emu.add_member("nolicence", "无许可", licensed=False)
    client = make_client()
    result = await client.send_message(["zhangsan", "Ghost", "nolicence"], TEXT)
    assert result.invalid_users == ("ghost",)
    assert result.unlicensed_users == ("nolicence",)
    assert result.response_code is None
    assert emu.transcript("zhangsan") == ["请完成今日健康上报"]
    sent = emu.calls[-1][1]
    assert sent["touser"] == "zhangsan|Ghost|nolicence" and sent["agentid"] == 1000002


async def test_typed_errors_by_errcode(make_client: MakeClient, emu: WeComEmulator) -> None:
    client = make_client()
    with pytest.raises(InvalidRecipientError) as info:
        await client.send_message(["ghost"], TEXT)
    assert info.value.errcode == 81013
    await client.send_message(["zhangsan"], card("task_1"))
    with pytest.raises(CardError) as card_info:
        await client.send_message(["zhangsan"], card("task_1"))
    assert card_info.value.errcode == 42014
    with pytest.raises(PermanentError) as perm:
        await client.send_message(["zhangsan"], {"msgtype": "text", "text": {"content": ""}})
    assert perm.value.errcode == 44004


def test_error_for_branches_on_errcode_only() -> None:
    assert type(error_for(-1, "")) is TransientError
    assert error_for(45009, "").retry_after == 60.0
    for code in (40001, 40013, 40056, 60020, 48002, 301002, 60011, 40091):
        assert type(error_for(code, "whatever")) is ConfigurationError
    for code in (40014, 42001, 41001):
        assert type(error_for(code, "")) is TokenExpiredError
    for code in (81013, 40003, 40031, 82001):
        assert type(error_for(code, "")) is InvalidRecipientError
    for code in (42014, 42015, 42016, 42017, 42037, 42051, 60140):
        assert type(error_for(code, "")) is CardError
    for code in (44004, 45002, 42052, 60111, 12345):
        assert type(error_for(code, "system busy")) is PermanentError
    assert isinstance(error_for(1, "x"), WeComError)


async def test_send_limits_are_checked_locally(make_client: MakeClient) -> None:
    client = make_client()
    with pytest.raises(ValueError):
        await client.send_message([f"u{i}" for i in range(1001)], TEXT)
    with pytest.raises(ValueError):
        await client.send_message([], TEXT)
    with pytest.raises(TypeError):
        await client.send_message("zhangsan|lisi", TEXT)  # type: ignore[arg-type]


async def test_cards_update(make_client: MakeClient, emu: WeComEmulator) -> None:
    client = make_client()
    sent = await client.send_message(["zhangsan"], card("task_update"))
    assert sent.response_code
    await client.update_template_card(["zhangsan"], sent.response_code, button="已回答")
    assert emu.card("task_update").button_names == ["已回答"]
    with pytest.raises(CardError) as info:
        await client.update_template_card(["zhangsan"], sent.response_code,
                                          button={"replace_name": "again"})
    assert info.value.errcode == 60140
    with pytest.raises(ValueError):
        await client.update_template_card(["zhangsan"], "x")


async def test_contacts_and_menu(make_client: MakeClient, emu: WeComEmulator) -> None:
    emu.add_department(2, "计算机学院", 1)
    emu.add_member("stu", "学生", [2])
    client = make_client()
    assert [d["id"] for d in await client.list_departments()] == [1, 2]
    assert [d["id"] for d in await client.list_departments(2)] == [2]
    assert [u["userid"] for u in await client.list_users(2)] == ["stu"]
    assert len(await client.list_users(1)) == 3
    assert len(await client.list_users(1, fetch_child=False)) == 2
    menu = {"button": [{"type": "click", "name": "上报", "key": "REPORT"}]}
    await client.create_menu(menu)
    assert emu.menu == menu
    assert emu.calls[-1][0] == "menu/create"


async def test_secret_and_tokens_never_logged(make_client: MakeClient, emu: WeComEmulator,
                                              caplog: pytest.LogCaptureFixture) -> None:
    tokens = MemoryTokenStore()
    client = make_client(tokens)
    with caplog.at_level(logging.DEBUG):
        await client.send_message(["zhangsan"], TEXT)
        emu.expire_tokens()
        await client.send_message(["zhangsan"], TEXT)
        emu.fail_network("message/send")
        with pytest.raises(TransientError):
            await client.send_message(["zhangsan"], TEXT)
    stored = await tokens.get(client.token_key)
    assert stored is not None
    first_token = [t for t in emu._tokens if t != stored[0]][0]
    for secret in (emu.secret, stored[0], first_token):
        assert secret not in caplog.text


# --------------------------------------------------------------------------- token store

async def test_db_token_store_is_shared_between_instances(
        tmp_path: Path, make_client: MakeClient, emu: WeComEmulator) -> None:
    url = "sqlite:///" + str(tmp_path / "t.db")
    db_a, db_b = Database(url), Database(url)
    await db_a.create_schema()
    try:
        first = make_client(DbTokenStore(db_a))
        second = make_client(DbTokenStore(db_b))
        await first.send_message(["zhangsan"], TEXT)
        await second.send_message(["lisi"], TEXT)
        assert emu.api_call_count("gettoken") == 1
        emu.expire_tokens()
        await second.send_message(["lisi"], TEXT)
        await first.send_message(["zhangsan"], TEXT)
        assert emu.api_call_count("gettoken") == 2
    finally:
        await db_a.dispose()
        await db_b.dispose()


async def test_db_token_store_upsert_and_invalidate(tmp_path: Path) -> None:
    db = Database("sqlite:///" + str(tmp_path / "t.db"))
    await db.create_schema()
    try:
        store = DbTokenStore(db)
        expires = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
        assert await store.get("corp:1") is None
        await store.put("corp:1", "token-a", expires)
        await store.put("corp:1", "token-b", expires + timedelta(hours=1))
        assert await store.get("corp:1") == ("token-b", expires + timedelta(hours=1))
        await store.invalidate("corp:1", "token-a")  # stale: keeps the fresh token
        assert (await store.get("corp:1"))[0] == "token-b"
        await store.invalidate("corp:1", "token-b")
        assert await store.get("corp:1") is None
    finally:
        await db.dispose()
