"""`yiqingtong roster import`: Excel's encodings, every row validated first, idempotent upserts."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import sqlalchemy as sa

from app.cli import main
from storage.db import Database
from storage.models import AuditLog, Member, ReviewerAssignment, Unit

SETTINGS_TOML = Path(__file__).parent.parent / "settings.toml"
GOOD = ("userid,name,unit,role,mobile,parent_unit\n"
        "t1,王老师,民族学院,reviewer,13800000001,中央民族大学\n"
        "s1,张三,民族学院,member,138 0000 0002,中央民族大学\n"
        "s2,李四,民族学院,member,,中央民族大学\n"
        "root,管理员,中央民族大学,admin,,\n")


def run(tmp_path: Path, content: bytes, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setenv("YQT_DATABASE__URL", f"sqlite:///{tmp_path / 'roster.db'}")
    path = tmp_path / "roster.csv"
    path.write_bytes(content)
    return main(["--config", str(SETTINGS_TOML), "roster", "import", str(path)])


async def members(tmp_path: Path) -> dict[str, Member]:
    db = Database(f"sqlite:///{tmp_path / 'roster.db'}")
    await db.create_schema()
    try:
        async with db.session() as session:
            return {m.userid: m for m in (await session.execute(sa.select(Member))).scalars()}
    finally:
        await db.dispose()


async def table_count(tmp_path: Path, model: type) -> int:
    db = Database(f"sqlite:///{tmp_path / 'roster.db'}")
    await db.create_schema()
    try:
        async with db.session() as session:
            return (await session.execute(sa.select(sa.func.count()).select_from(model))
                    ).scalar_one()
    finally:
        await db.dispose()


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_excel_encodings_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str], encoding: str) -> None:
    assert run(tmp_path, GOOD.encode(encoding), monkeypatch) == 0
    assert "4 members added" in capsys.readouterr().out
    found = asyncio.run(members(tmp_path))
    assert found["s1"].name == "张三" and found["s1"].mobile == "13800000002"
    assert found["t1"].role == "reviewer" and found["s1"].following is True


def test_import_is_idempotent_and_builds_the_unit_tree(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, GOOD.encode(), monkeypatch) == 0
    assert run(tmp_path, GOOD.encode(), monkeypatch) == 0
    out = capsys.readouterr().out
    assert "0 members added, 0 updated, 0 units added, 0 reviewer" in out
    assert asyncio.run(table_count(tmp_path, Member)) == 4
    assert asyncio.run(table_count(tmp_path, Unit)) == 2
    assert asyncio.run(table_count(tmp_path, ReviewerAssignment)) == 1
    assert asyncio.run(table_count(tmp_path, AuditLog)) == 2


def test_a_changed_row_updates_the_member(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    assert run(tmp_path, GOOD.encode(), monkeypatch) == 0
    assert run(tmp_path, GOOD.replace("李四", "李四四").encode(), monkeypatch) == 0
    assert asyncio.run(members(tmp_path))["s2"].name == "李四四"


@pytest.mark.parametrize(("content", "expected"), [
    (b"", "empty"),
    (b"userid,name,unit\ns1,A,U\n", "bad header"),
    (b"userid,name,unit,role,shoe_size\ns1,A,U,member,42\n", "unknown 'shoe_size'"),
    (b"userid,name,unit,role\n", "no members"),
    ("userid,name,unit,role\ns1,张三,U,member\ns2,李四,U,boss\n".encode(), "line 3: unknown role"),
    (b"userid,name,unit,role\ns1,A,U,member\nS1,B,U,member\n", "line 3: duplicate userid"),
    (b"userid,name,unit,role\nbad id!,A,U,member\n", "line 2: userid"),
    (b"userid,name,unit,role,mobile\ns1,A,U,member,12345\n", "line 2: mobile"),
    (b"userid,name,unit,role,parent_unit\ns1,A,U,member,Nowhere\n", "unknown parent unit"),
    (b"userid,name,unit,role\ns1,A,U\n", "line 2: expected 4 fields"),
    ("userid,name,unit,role\ns1,张三,U,member\n".encode("utf-16"), "neither UTF-8 nor GBK"),
])
def test_a_bad_file_is_reported_and_nothing_is_written(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        content: bytes, expected: str) -> None:
    assert run(tmp_path, content, monkeypatch) == 2
    err = capsys.readouterr().err
    assert expected in err and "nothing was imported" in err
    assert asyncio.run(table_count(tmp_path, Member)) == 0


def test_unknown_parent_units_are_reported_together_with_field_errors(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    content = ("userid,name,unit,role,parent_unit\n"
               "s1,张三,民族学院,member,中央民族大学\n"       # parent unknown (line 2)
               "s2,李四,民族学院,boss,\n"                    # a field error (line 3)
               "s3,王五,外语学院,member,Nowhere\n")          # parent unknown (line 4)
    assert run(tmp_path, content.encode(), monkeypatch) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "line " in line]
    assert ["line 2: unknown parent unit" in lines[0], "line 3: unknown role" in lines[1],
            "line 4: unknown parent unit" in lines[2]] == [True, True, True], err
    assert asyncio.run(table_count(tmp_path, Member)) == 0


def test_one_bad_row_among_good_ones_writes_nothing(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    bad = GOOD + "s9,Someone,民族学院,superuser,,中央民族大学\n"
    assert run(tmp_path, bad.encode(), monkeypatch) == 2
    assert asyncio.run(table_count(tmp_path, Member)) == 0
    assert asyncio.run(table_count(tmp_path, Unit)) == 0


def test_a_missing_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("YQT_DATABASE__URL", f"sqlite:///{tmp_path / 'roster.db'}")
    assert main(["roster", "import", str(tmp_path / "missing.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_migrations_stay_out_of_normal_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """A fresh database is migrated by the first command; Alembic's INFO lines ("Running
    upgrade …") are not printed unless -v asks for them."""
    assert run(tmp_path, GOOD.encode(), monkeypatch) == 0
    captured = capsys.readouterr()
    assert "4 members added" in captured.out
    assert "Running upgrade" not in captured.out + captured.err
    assert "alembic" not in captured.err
    monkeypatch.setenv("YQT_DATABASE__URL", f"sqlite:///{tmp_path / 'verbose.db'}")
    path = tmp_path / "roster.csv"
    assert main(["--config", str(SETTINGS_TOML), "-v", "roster", "import", str(path)]) == 0
    assert "Running upgrade" in capsys.readouterr().err  # asked for


@pytest.mark.postgres
async def test_a_roster_larger_than_a_statement_s_parameter_limit_imports(db_url: str) -> None:
    """A university's roster has more members than one PostgreSQL statement may bind (32,767
    parameters): importing it and importing it again both work. (Debian's SQLite allows
    250,000, so this runs on PostgreSQL only.)"""
    if not db_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's bound-parameter limit")
    from datetime import datetime, timezone

    from storage.roster import import_roster, parse_roster

    count = 33_000
    lines = ["userid,name,unit,role,mobile,parent_unit", "root,管理员,学校,admin,,"]
    lines += [f"s{i:05d},学生{i},学校,member,," for i in range(count)]
    rows = parse_roster("\n".join(lines).encode())
    now = datetime(2026, 12, 3, 7, 0, tzinfo=timezone.utc)
    db = Database(db_url)
    try:
        async with db.transaction() as session:
            first = await import_roster(session, rows, now=now)
        async with db.transaction() as session:
            again = await import_roster(session, rows, now=now)
        async with db.session() as session:
            stored = (await session.execute(
                sa.select(sa.func.count()).select_from(Member))).scalar_one()
    finally:
        await db.dispose()
    assert first.members_added == count + 1
    assert (again.members_added, again.members_updated) == (0, 0)
    assert stored == count + 1


def test_a_command_on_a_database_that_did_not_exist_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """QA3 #7: `export` in the wrong directory created an empty database and printed an empty
    export as if it were the truth. The command says it ran on a new, empty database."""
    monkeypatch.setenv("YQT_DATABASE__URL", f"sqlite:///{tmp_path / 'elsewhere.db'}")
    assert main(["--config", str(SETTINGS_TOML), "export", "--date", "2026-11-30"]) == 0
    err = capsys.readouterr().err
    assert f"note: {tmp_path / 'elsewhere.db'} did not exist" in err
    assert "YQT_DATABASE__URL" in err
    assert main(["--config", str(SETTINGS_TOML), "export", "--date", "2026-11-30"]) == 0
    assert "did not exist" not in capsys.readouterr().err  # the second time it did
