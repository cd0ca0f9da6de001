"""`yiqingtong export`: one row per roster member per day, checked cell by cell (xlsx colours
included), unit scoping, ranges, refusals, and the audit row."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from sqlmodel import select

from app.cli import build_parser
from bot.clock import FixedClock
from bot.settings import DatabaseSettings, Settings
from storage.db import Database
from storage.export import (
    ANSWER_COLUMNS,
    COLUMNS,
    FILL_ABNORMAL,
    FILL_CITY_CHANGED,
    FILL_MISSING,
    FILL_UNFOLLOWED,
    LEADING_COLUMNS,
    TRAILING_COLUMNS,
    ExportError,
    check_range,
    export_rows,
    write_csv,
    write_xlsx,
)
from storage.models import AuditLog, DailyReport, Member, Unit

SHANGHAI = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 11, 30)
JOINED = datetime(2026, 11, 1, 9, 0, tzinfo=SHANGHAI)

HEADER = ["date", "userid", "name", "unit", "status", "filled_by", "submitted_at",
          "location_kind", "province", "city", "district", "country", "on_campus",
          "temperature", "symptoms", "symptom_other", "contact", "quarantine",
          "quarantine_start", "city_changed_reason", "remarks", "abnormal_reasons", "receipt",
          "proxy_reason", "late", "note"]


def at(day: date, hh: int, mm: int) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, tzinfo=SHANGHAI)


def member(userid: str, name: str, unit: str, *, following: bool = True, active: bool = True,
           role: str = "member", joined: datetime = JOINED) -> Member:
    return Member(userid=userid, name=name, unit_id=unit, following=following, active=active,
                  role=role, created_at=joined, updated_at=joined)


def gps(city: str, district: str) -> dict:
    return {"kind": "gps", "lat": 39.95, "lng": 116.32, "label": f"北京市{district}",
            "province": "北京市", "city": city, "district": district, "country": "中国"}


def report(userid: str, day: date, receipt: str, *, filled_by: str | None = None,
           temperature: float = 36.5, symptoms: tuple[str, ...] = ("none",),
           reasons: tuple[str, ...] = (), location: dict | None = None,
           proxy_reason: str | None = None, submitted: datetime | None = None,
           **answers: object) -> DailyReport:
    location = location or gps("北京市", "海淀区")
    values = {"location": location, "on_campus": True, "temperature": temperature,
              "symptoms": list(symptoms), "contact": False, "quarantine": "none",
              "remarks": "", **answers}
    return DailyReport(
        receipt=receipt, userid=userid, report_date=day, form_version=1, answers=values,
        temperature=temperature, abnormal=bool(reasons), abnormal_reasons=list(reasons),
        location_kind=location["kind"], province=location.get("province"),
        city=location.get("city"), district=location.get("district"),
        country=location.get("country"), filled_by=filled_by or userid,
        proxy_reason=proxy_reason, submitted_at=submitted or at(day, 7, 45))


async def seed(db: Database) -> None:
    """大学 > 民族学院 > 民族一班, 大学 > 国际学院; reports on DAY and the day before."""
    async with db.transaction() as s:
        s.add(Unit(id="大学", name="大学"))
        await s.flush()
        s.add_all([Unit(id="民族学院", name="民族学院", parent_id="大学"),
                   Unit(id="国际学院", name="国际学院", parent_id="大学")])
        await s.flush()
        s.add(Unit(id="民族一班", name="民族一班", parent_id="民族学院"))
        await s.flush()
        s.add_all([
            member("s1", "张三", "民族一班"),
            member("s2", "李四", "民族一班"),
            member("s3", "王五", "民族学院", following=False),
            member("s4", "赵六", "民族学院"),
            member("t1", "王老师", "民族学院", role="reviewer"),
            member("s5", "Maria", "国际学院"),
            member("s6", "钱七", "国际学院", active=False),
            member("s7", "孙八", "国际学院", active=False),
            member("s8", "周九", "国际学院", joined=at(DAY + timedelta(days=1), 9, 0)),
        ])
        await s.flush()
        s.add_all([
            report("s1", DAY, "R0000001", remarks="一切正常"),
            report("s4", DAY, "R0000002", filled_by="t1", temperature=38.2,
                   symptoms=("fever", "cough", "other"), symptom_other="头痛",
                   reasons=("fever", "symptoms"), proxy_reason="住院，无法使用手机",
                   submitted=at(DAY, 10, 5), quarantine="home", quarantine_start="2026-11-29"),
            report("s5", DAY, "R0000003", location=gps("上海市", "浦东新区"),
                   reasons=("city_changed",), city_changed_reason="回家探亲",
                   submitted=at(DAY, 0, 30), on_campus=False),
            report("s7", DAY, "R0000004", location={"kind": "abroad", "country": "Japan"}),
            report("s1", DAY - timedelta(days=1), "R0000005", submitted=at(DAY, 0, 0)
                   - timedelta(minutes=1)),
        ])


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    await database.create_schema()
    await seed(database)
    yield database
    await database.dispose()


def blank(n: int) -> list[str]:
    return [""] * n


# The expected CSV of DAY for every unit, row by row (ordered by unit id, then userid).
EXPECTED_DAY = [
    ["2026-11-30", "s5", "Maria", "国际学院", "reported", "s5", "2026-11-30 00:30:00",
     "gps", "北京市", "上海市", "浦东新区", "中国", "no", "36.5", "none", "", "no", "none", "",
     "回家探亲", "", "city_changed", "R0000003", "", "", ""],
    ["2026-11-30", "s7", "孙八", "国际学院", "reported", "s7", "2026-11-30 07:45:00",
     "abroad", "", "", "", "Japan", "yes", "36.5", "none", "", "no", "none", "", "", "", "",
     "R0000004", "", "", ""],
    ["2026-11-30", "s1", "张三", "民族一班", "reported", "s1", "2026-11-30 07:45:00",
     "gps", "北京市", "北京市", "海淀区", "中国", "yes", "36.5", "none", "", "no", "none", "",
     "", "一切正常", "", "R0000001", "", "", ""],
    ["2026-11-30", "s2", "李四", "民族一班", "missing", *blank(21)],
    ["2026-11-30", "s3", "王五", "民族学院", "unfollowed", *blank(21)],
    ["2026-11-30", "s4", "赵六", "民族学院", "reported", "t1", "2026-11-30 10:05:00",
     "gps", "北京市", "北京市", "海淀区", "中国", "yes", "38.2", "fever;cough;other", "头痛",
     "no", "home", "2026-11-29", "", "", "fever;symptoms", "R0000002", "住院，无法使用手机", "", ""],
    ["2026-11-30", "t1", "王老师", "民族学院", "missing", *blank(21)],
]


def csv_of(rows: list) -> list[list[str]]:
    stream = io.StringIO()
    write_csv(rows, stream)
    assert stream.getvalue().endswith("\r\n")
    return list(csv.reader(io.StringIO(stream.getvalue())))


async def test_csv_rows_cell_by_cell(db: Database) -> None:
    async with db.session() as session:
        rows = await export_rows(session, DAY, DAY, None)
    table = csv_of(rows)
    assert table[0] == HEADER == list(COLUMNS)
    assert len(table) == 1 + len(EXPECTED_DAY)
    for got, expected in zip(table[1:], EXPECTED_DAY, strict=True):
        assert len(got) == len(HEADER)
        for column, cell, want in zip(HEADER, got, expected, strict=True):
            assert cell == want, (got[1], column)
    # s6 is inactive without a report; s8 joined after the day: neither is on the roster.
    assert {r.userid for r in rows}.isdisjoint({"s6", "s8"})


async def test_unit_scope_includes_the_units_below_unless_told(db: Database) -> None:
    async with db.session() as session:
        below = await export_rows(session, DAY, DAY, "民族学院")
        only = await export_rows(session, DAY, DAY, "民族学院", include_below=False)
        leaf = await export_rows(session, DAY, DAY, "民族一班")
        with pytest.raises(ExportError, match="unknown unit"):
            await export_rows(session, DAY, DAY, "没有这个学院")
    assert [r.userid for r in below] == ["s1", "s2", "s3", "s4", "t1"]
    assert [r.userid for r in only] == ["s3", "s4", "t1"]
    assert [r.userid for r in leaf] == ["s1", "s2"]


async def test_a_range_has_a_row_per_member_per_day(db: Database) -> None:
    async with db.session() as session:
        rows = await export_rows(session, DAY - timedelta(days=1), DAY, "民族一班")
    assert [(r.day.isoformat(), r.userid, r.status, r.submitted_at) for r in rows] == [
        ("2026-11-29", "s1", "reported", "2026-11-29 23:59:00"),
        ("2026-11-29", "s2", "missing", ""),
        ("2026-11-30", "s1", "reported", "2026-11-30 07:45:00"),
        ("2026-11-30", "s2", "missing", ""),
    ]


def test_range_checks() -> None:
    today = DAY
    check_range(today, today, today)
    check_range(today - timedelta(days=365), today, today)  # 366 days is the limit
    with pytest.raises(ExportError, match="367 days"):
        check_range(today - timedelta(days=366), today, today)
    with pytest.raises(ExportError, match="is after"):
        check_range(today, today - timedelta(days=1), today)
    with pytest.raises(ExportError, match="future"):
        check_range(today, today + timedelta(days=1), today)


async def test_xlsx_cells_and_colours(db: Database, tmp_path: Path) -> None:
    async with db.session() as session:
        rows = await export_rows(session, DAY, DAY, None)
    path = tmp_path / "day.xlsx"
    assert write_xlsx(rows, path, sheet_per_unit=False) == len(EXPECTED_DAY)
    book = openpyxl.load_workbook(path)
    assert len(book.worksheets) == 1
    sheet = book.worksheets[0]
    values = [[c.value for c in r] for r in sheet.iter_rows()]
    assert values[0] == HEADER
    fills = {"s5": FILL_CITY_CHANGED, "s2": FILL_MISSING, "t1": FILL_MISSING,
             "s4": FILL_ABNORMAL, "s3": FILL_UNFOLLOWED}
    for excel_row, expected in zip(sheet.iter_rows(min_row=2), EXPECTED_DAY, strict=True):
        for column, cell, want in zip(HEADER, excel_row, expected, strict=True):
            if column == "temperature" and want:
                assert cell.value == float(want)
            else:
                assert (cell.value or "") == want, (expected[1], column)
            color = fills.get(expected[1])
            if color is None:
                assert cell.fill.fill_type is None, (expected[1], column)
            else:
                assert cell.fill.fill_type == "solid"
                assert cell.fill.fgColor.rgb == color, (expected[1], column)
    # The colours are what the issue asks for: yellow, red, orange.
    assert (FILL_MISSING, FILL_ABNORMAL, FILL_CITY_CHANGED) == ("FFFFFF00", "FFFF7C80",
                                                               "FFFFC000")
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.freeze_panes == "A2"


async def test_xlsx_sheet_per_unit(db: Database, tmp_path: Path) -> None:
    async with db.session() as session:
        rows = await export_rows(session, DAY, DAY, None)
    path = tmp_path / "units.xlsx"
    write_xlsx(rows, path, sheet_per_unit=True)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["国际学院", "民族一班", "民族学院"]
    by_sheet = {name: [r[1] for r in book[name].iter_rows(min_row=2, values_only=True)]
                for name in book.sheetnames}
    assert by_sheet == {"国际学院": ["s5", "s7"], "民族一班": ["s1", "s2"],
                        "民族学院": ["s3", "s4", "t1"]}
    assert book["民族一班"]["A3"].fill.fgColor.rgb == FILL_MISSING
    assert [c.value for c in book["民族学院"][1]] == HEADER


# ---- what a member typed, exactly, and never a formula ----------------------------------------

#: s2's report: text answers that start like formulas, and a number question's negative answer
#: (a published form's `number` question with `min = -10`; stored as a number).
TYPED = {"remarks": "-3 天前回京", "symptom_other": "=1+2", "city_changed_reason": "@家里有事",
         "quarantine_start": "+1 天"}
WITH_NUMBER = LEADING_COLUMNS + ANSWER_COLUMNS + ("offset_days",) + TRAILING_COLUMNS


async def typed_rows(db: Database) -> list:
    async with db.transaction() as s:
        s.add(report("s2", DAY, "R0000009", offset_days=-3, **TYPED))
    async with db.session() as session:
        return await export_rows(session, DAY, DAY, "民族一班")


async def test_xlsx_keeps_the_typed_text_in_a_quote_prefixed_text_cell(
        db: Database, tmp_path: Path) -> None:
    """QA #11: "-3 天前回京" was exported as "'-3 天前回京". The xlsx cell holds the exact text
    as a string; the style's quotePrefix (not the value) keeps it text when edited."""
    path = tmp_path / "typed.xlsx"
    write_xlsx(await typed_rows(db), path, columns=WITH_NUMBER)
    sheet = openpyxl.load_workbook(path).active
    header = [c.value for c in sheet[1]]
    row = {header[c.column - 1]: c for c in next(r for r in sheet.iter_rows(min_row=2)
                                                 if r[1].value == "s2")}
    for column, typed in TYPED.items():
        cell = row[column]
        assert (cell.value, cell.data_type, cell.quotePrefix) == (typed, "s", True), column
    # Text that cannot be mistaken for a formula carries no quotePrefix.
    assert (row["district"].value, row["district"].quotePrefix) == ("海淀区", False)
    assert (row["receipt"].value, row["receipt"].quotePrefix) == ("R0000009", False)
    # A number question's negative answer is a number, as is the temperature.
    offset = row["offset_days"]
    assert (offset.value, offset.data_type, offset.quotePrefix) == (-3, "n", False)
    assert (row["temperature"].value, row["temperature"].data_type) == (36.5, "n")
    formulas = [c.coordinate for r in sheet.iter_rows() for c in r if c.data_type == "f"]
    assert formulas == []


async def test_csv_still_neutralises_text_but_not_numbers(db: Database) -> None:
    """CSV has no cell types: a leading `'` is the only defence, so it stays in CSV."""
    stream = io.StringIO()
    write_csv(await typed_rows(db), stream, WITH_NUMBER)
    table = list(csv.reader(io.StringIO(stream.getvalue())))
    row = dict(zip(table[0], next(r for r in table if r[1] == "s2"), strict=True))
    for column, typed in TYPED.items():
        assert row[column] == "'" + typed, column
    assert row["offset_days"] == "-3"  # a number: no quote
    assert row["district"] == "海淀区"


# ---- the command ----------------------------------------------------------------------------


async def run_export(db_url: str, *argv: str, now: datetime | None = None) -> int:
    args = build_parser().parse_args(["export", *argv])
    args.clock = FixedClock(now or at(DAY, 20, 0), SHANGHAI)
    return await args.run(args, Settings(database=DatabaseSettings(url=db_url)))


async def audit_rows(db: Database, action: str) -> list[AuditLog]:
    async with db.session() as session:
        return list((await session.exec(
            select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id))).all())


async def test_cli_csv_on_stdout_and_audited(db: Database, db_url: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert await run_export(db_url, "--unit", "民族学院") == 0
    out = capsys.readouterr().out
    table = list(csv.reader(io.StringIO(out)))
    assert table[0] == HEADER
    assert table[1:] == [r for r in EXPECTED_DAY if r[3] in ("民族学院", "民族一班")]
    [audit] = await audit_rows(db, "export")
    assert audit.actor == "cli" and audit.target == "民族学院"
    assert audit.detail == {"from": "2026-11-30", "to": "2026-11-30", "unit": "民族学院",
                            "subunits": True, "format": "csv", "sheet_per_unit": False,
                            "rows": 5, "output": "-"}
    assert audit.at == at(DAY, 20, 0)


async def test_cli_xlsx_file_for_a_range(db: Database, db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "range.xlsx"
    assert await run_export(db_url, "--from", "2026-11-29", "--to", "2026-11-30",
                            "--output", str(path), "--sheet-per-unit") == 0
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == ["国际学院", "民族一班", "民族学院"]
    assert [r[:5] for r in book["民族一班"].iter_rows(min_row=2, values_only=True)] == [
        ("2026-11-29", "s1", "张三", "民族一班", "reported"),
        ("2026-11-29", "s2", "李四", "民族一班", "missing"),
        ("2026-11-30", "s1", "张三", "民族一班", "reported"),
        ("2026-11-30", "s2", "李四", "民族一班", "missing"),
    ]
    assert list(tmp_path.glob(".yqt-export-*")) == []
    [audit] = await audit_rows(db, "export")
    assert audit.detail["format"] == "xlsx" and audit.detail["rows"] == 13
    assert audit.detail["output"] == str(path)


async def test_cli_csv_file_has_a_bom_for_excel(db: Database, db_url: str,
                                                tmp_path: Path) -> None:
    path = tmp_path / "day.csv"
    assert await run_export(db_url, "--date", "2026-11-30", "--unit", "民族一班",
                            "--no-subunits", "--output", str(path)) == 0
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert [r[1] for r in table[1:]] == ["s1", "s2"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--date", "2026-12-01"], "2026-12-01 is in the future (today is 2026-11-30)"),
    (["--unit", "没有这个学院"], "unknown unit '没有这个学院'"),
    (["--from", "2026-11-30", "--to", "2026-11-01"], "--from 2026-11-30 is after --to"),
    (["--from", "2025-11-28", "--to", "2026-11-30"], "368 days; at most 366"),
    (["--to", "2026-11-30"], "--to needs --from"),
    (["--sheet-per-unit"], "--sheet-per-unit needs --format xlsx"),
])
async def test_cli_refusals_change_nothing(db: Database, db_url: str, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str], argv: list[str],
                                           message: str) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert await run_export(db_url, *argv, "--output", str(out_dir / "out.csv")) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""
    assert list(out_dir.iterdir()) == []
    assert await audit_rows(db, "export") == []


async def test_today_is_the_shanghai_day(db: Database, db_url: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    # 2026-11-29 17:00 UTC is already 2026-11-30 01:00 in Shanghai: the 30th is not future.
    utc_evening = datetime(2026, 11, 29, 17, 0, tzinfo=ZoneInfo("UTC"))
    assert await run_export(db_url, "--date", "2026-11-30", now=utc_evening) == 0
    assert await run_export(db_url, "--date", "2026-12-01", now=utc_evening) == 2


@pytest.mark.parametrize("bad", ["2026-13-01", "2026-02-30", "30/11/2026", "20261130", "today"])
def test_malformed_dates_are_refused_by_the_parser(bad: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["export", "--date", bad])
    assert exc.value.code == 2
    assert "is not a date; use YYYY-MM-DD" in capsys.readouterr().err
