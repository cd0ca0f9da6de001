"""`yiqingtong roster sync` against the emulator's contacts API: a 10,000-member directory
becomes units (with their parents) and members; a member who leaves becomes inactive with their
history kept; roles, renames, moves and the progress display."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import date, timedelta

import aiohttp
import pytest
from rich.console import Console
from sqlmodel import select

from app.cli import build_parser, progress_display
from app.emulator.api import WeComEmulator
from bot.clock import FixedClock
from bot.settings import DatabaseSettings, Settings
from bot.wecom.client import MemoryTokenStore, WeComClient
from storage.db import Database
from storage.models import AuditLog, DailyReport, Member, ReviewerAssignment, Unit
from storage.sync import SyncError, SyncResult, sync_directory, unit_ids_for

N_MEMBERS = 10_000
N_DEPARTMENTS = 40


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    await database.create_schema()
    yield database
    await database.dispose()


async def sync(db: Database, emulator: WeComEmulator, clock: FixedClock,
               progress: list[tuple[int, int]] | None = None) -> SyncResult:
    async with aiohttp.ClientSession() as http:
        client = WeComClient(http, emulator.wecom_settings(), MemoryTokenStore(), clock)
        return await sync_directory(
            db, client, now=clock.now(),
            progress=(lambda done, total: progress.append((done, total)))
            if progress is not None else None)


async def all_of(db: Database, model: type) -> list:
    async with db.session() as session:
        return list((await session.exec(select(model))).all())


async def test_ten_thousand_members(db: Database, emulator: WeComEmulator,
                                    clock: FixedClock) -> None:
    userids = emulator.generate_directory(N_MEMBERS, N_DEPARTMENTS, seed=7)
    progress: list[tuple[int, int]] = []
    result = await sync(db, emulator, clock, progress)
    assert (result.departments, result.units_added, result.members_seen,
            result.members_added, result.members_deactivated) == (
        N_DEPARTMENTS + 1, N_DEPARTMENTS + 1, N_MEMBERS, N_MEMBERS, 0)
    # One department/list and one user/list (fetch_child=1 from the root) for the directory.
    assert emulator.api_call_count("department/list") == 1
    assert emulator.api_call_count("user/list") == 1
    assert [c for c in emulator.calls if c[0] == "user/list"][0][1] == {
        "department_id": "1", "fetch_child": "1"}

    # Units mirror the departments, parent links included.
    units = {u.wecom_department_id: u for u in await all_of(db, Unit)}
    departments = {d.id: d for d in emulator._departments.values()}
    assert set(units) == set(departments)
    for dept_id, dept in departments.items():
        unit = units[dept_id]
        assert unit.id == dept.name and unit.name == dept.name
        expected_parent = units[dept.parentid].id if dept.parentid in units else None
        assert unit.parent_id == expected_parent
    assert units[1].parent_id is None
    assert sum(1 for u in units.values() if u.parent_id not in (None, units[1].id)) > 0

    members = {m.userid: m for m in await all_of(db, Member)}
    assert len(members) == N_MEMBERS
    for emu_member in emulator.members[::97]:
        stored = members[emu_member.userid]
        assert stored.name == emu_member.name
        assert stored.unit_id == units[emu_member.department[0]].id
        assert stored.active and stored.role == "member" and stored.following

    # Progress: starts at 0, never goes back, ends at the total.
    assert progress[0] == (0, N_MEMBERS) and progress[-1] == (N_MEMBERS, N_MEMBERS)
    assert [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert len(progress) >= 10

    # Someone leaves; someone else becomes a reviewer; a report is on record for the leaver.
    leaver, reviewer = userids[0], userids[1]
    async with db.transaction() as session:
        session.add(DailyReport(
            receipt="HIST0001", userid=leaver, report_date=date(2026, 11, 29), form_version=1,
            answers={"temperature": 36.4}, temperature=36.4, filled_by=leaver,
            submitted_at=clock.now() - timedelta(days=1)))
        promoted = await session.get(Member, reviewer)
        promoted.role = "reviewer"
        session.add(promoted)
        session.add(ReviewerAssignment(userid=reviewer, unit_id=promoted.unit_id))
    emulator.remove_member(leaver)
    clock.advance(days=1)
    second = await sync(db, emulator, clock)
    assert (second.members_added, second.members_updated, second.members_deactivated,
            second.units_added, second.units_updated) == (0, 0, 1, 0, 0)

    members = {m.userid: m for m in await all_of(db, Member)}
    assert len(members) == N_MEMBERS  # never deleted
    assert members[leaver].active is False
    assert members[leaver].updated_at == clock.now()
    assert members[reviewer].role == "reviewer" and members[reviewer].active
    [kept] = await all_of(db, DailyReport)
    assert kept.userid == leaver and kept.receipt == "HIST0001"

    audits = [a for a in await all_of(db, AuditLog) if a.action == "roster.sync"]
    assert len(audits) == 2
    assert audits[1].detail["members_deactivated"] == 1
    assert audits[1].detail["deactivated"] == [leaver]

    # Coming back makes the member active again, with the same row.
    emulator.add_member(leaver, "回来了", [departments[1].id])
    third = await sync(db, emulator, clock)
    assert (third.members_added, third.members_updated) == (0, 1)
    back = {m.userid: m for m in await all_of(db, Member)}[leaver]
    assert back.active and back.name == "回来了" and back.unit_id == units[1].id


async def test_renames_moves_and_duplicate_names(db: Database, emulator: WeComEmulator,
                                                 clock: FixedClock) -> None:
    emulator.add_department(2, "文学院", 1)
    emulator.add_department(3, "一班", 2)
    emulator.add_department(4, "理学院", 1)
    emulator.add_department(5, "一班", 4)
    emulator.add_member("a", "甲", [3])
    emulator.add_member("b", "乙", [5, 2])
    emulator.add_member("c", "丙", [2])
    await sync(db, emulator, clock)
    units = {u.wecom_department_id: u for u in await all_of(db, Unit)}
    assert units[3].id == "一班 (3)" and units[5].id == "一班 (5)"
    assert units[3].name == units[5].name == "一班"
    assert units[3].parent_id == "文学院" and units[5].parent_id == "理学院"
    members = {m.userid: m for m in await all_of(db, Member)}
    assert members["b"].unit_id == "一班 (5)"  # the main (first) department

    # A rename keeps the unit id (members and history refer to it); a move changes the unit.
    emulator.add_department(2, "文学与新闻学院", 1)
    emulator.add_member("a", "甲", [4])
    emulator.add_department(6, "文学院", 1)  # a new department takes the old name
    result = await sync(db, emulator, clock)
    assert (result.units_added, result.units_updated, result.members_updated) == (1, 1, 1)
    units = {u.wecom_department_id: u for u in await all_of(db, Unit)}
    assert units[2].id == "文学院" and units[2].name == "文学与新闻学院"
    assert units[6].id == "文学院 (6)" and units[6].name == "文学院"
    members = {m.userid: m for m in await all_of(db, Member)}
    assert members["a"].unit_id == "理学院"


async def test_csv_units_are_adopted_and_csv_only_members_left_alone(
        db: Database, emulator: WeComEmulator, clock: FixedClock) -> None:
    now = clock.now()
    async with db.transaction() as session:
        session.add_all([Unit(id="文学院", name="文学院"), Unit(id="外聘", name="外聘")])
        await session.flush()
        session.add_all([
            Member(userid="old", name="老成员", unit_id="文学院", created_at=now, updated_at=now),
            Member(userid="guest", name="外聘老师", unit_id="外聘", created_at=now,
                   updated_at=now),
            Member(userid="A", name="甲", unit_id="外聘", role="admin", created_at=now,
                   updated_at=now),
        ])
    emulator.add_department(2, "文学院", 1)
    emulator.add_member("a", "甲", [2])
    result = await sync(db, emulator, clock)
    units = {u.id: u for u in await all_of(db, Unit)}
    assert units["文学院"].wecom_department_id == 2
    assert units["文学院"].parent_id == units["Emulated University"].id
    assert units["外聘"].wecom_department_id is None
    members = {m.userid: m for m in await all_of(db, Member)}
    # WeCom user ids are case-insensitive: "a" is the existing "A", who stays an admin.
    assert set(members) == {"old", "guest", "A"}
    assert members["A"].unit_id == "文学院" and members["A"].role == "admin"
    assert members["old"].active is False  # in a synced unit, not in the directory
    assert members["guest"].active is True  # a CSV-only unit is not the directory's
    assert (result.members_added, result.members_updated, result.members_deactivated) == (
        0, 1, 1)


async def test_an_empty_directory_changes_nothing(db: Database, emulator: WeComEmulator,
                                                  clock: FixedClock) -> None:
    emulator.add_member("a", "甲", [1])
    await sync(db, emulator, clock)
    emulator.remove_member("a")
    with pytest.raises(SyncError, match="no members"):
        await sync(db, emulator, clock)
    [member] = await all_of(db, Member)
    assert member.active


def test_unit_ids_stay_within_64_characters() -> None:
    long_name = "很" * 70
    ids = unit_ids_for([{"id": 9, "name": long_name, "parentid": 1}], {})
    assert len(ids[9]) == 64 and ids[9].endswith(" (9)")


def _console(stream: io.StringIO, terminal: bool) -> Console:
    return Console(file=stream, force_terminal=terminal, width=80, color_system=None)


def test_progress_on_a_terminal_and_in_a_log() -> None:
    log = io.StringIO()
    with progress_display("roster sync", _console(log, terminal=False)) as progress:
        for done in range(0, 10_001, 500):
            progress(done, 10_000)
    # Away from a terminal: the final state once, so a log file stays short.
    assert log.getvalue().count("roster sync") == 1 and "10000/10000" in log.getvalue()

    terminal = io.StringIO()
    with progress_display("roster sync", _console(terminal, terminal=True)) as progress:
        progress(5000, 10_000)
        progress(10_000, 10_000)
    assert "10000/10000" in terminal.getvalue()

    small = io.StringIO()
    with progress_display("roster sync", _console(small, terminal=False)) as progress:
        progress(10, 10)
    assert "roster sync" not in small.getvalue()  # small directories sync quietly


async def test_cli_roster_sync(db: Database, db_url: str, emulator: WeComEmulator,
                               clock: FixedClock, capsys: pytest.CaptureFixture[str]) -> None:
    emulator.generate_directory(2000, 5)
    args = build_parser().parse_args(["roster", "sync"])
    args.clock = clock
    settings = Settings(wecom=emulator.wecom_settings(),
                        database=DatabaseSettings(url=db_url))
    assert await args.run(args, settings) == 0
    captured = capsys.readouterr()
    assert captured.out == ("synced 2000 members from 6 departments: 2000 added, 0 updated, "
                            "0 marked inactive; units 6 added, 0 updated\n")
    assert "roster sync" in captured.err and "2000/2000" in captured.err

    emulator.inject_fault("user/list", 60011)
    assert await args.run(args, settings) == 1
    err = capsys.readouterr().err
    assert "errcode 60011 from user/list" in err and "nothing was changed" in err
    assert "fix: the app may not see these contacts" in err
