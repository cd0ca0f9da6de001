"""Daily-report export: one row per roster member per day, for the university's spreadsheets.

Why a row per member and not per report: the people who read exports look for who is missing,
so members without a report appear too, marked `missing` (or `unfollowed` when WeCom says they
left the app and reminders cannot reach them).

Columns follow the form's versions (`export_columns`): a column for every question of every
version the range's reports answered (the version in use on the last day when there are none),
empty where a report's version did not have the question. The daily report's original columns
keep their order, so a spreadsheet built on an export of the shipped form still lines up; a
question a later version added comes right after the question it follows in that version.

Which members a day shows: every active member in scope, except on days before they joined the
roster; inactive members only on days they reported (their history stays visible, but they are
not counted missing after they left). Units: the given unit and, by default, every unit below it;
a member is exported under their current unit.
"""

from __future__ import annotations

import csv
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import form_versions
from storage.exemptions import exempt_days, reason_on
from storage.models import DailyReport, Member
from storage.reports import ReportStatus
from storage.units import descendants, unit_tree

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: The longest range one export may cover, in days (inclusive of both ends).
MAX_DAYS = 366
#: Excel's row limit per sheet, header included.
XLSX_MAX_ROWS = 1_048_576

LEADING_COLUMNS = ("date", "userid", "name", "unit", "status", "filled_by", "submitted_at")
#: The location answer, flattened (a daily report's location question, whatever its version).
LOCATION_COLUMNS = ("location_kind", "province", "city", "district", "country")
#: The shipped daily report's questions, in their export order (see the module docstring).
ORIGINAL_QUESTIONS = ("on_campus", "temperature", "symptoms", "symptom_other", "contact",
                      "quarantine", "quarantine_start", "city_changed_reason", "remarks")
ANSWER_COLUMNS = LOCATION_COLUMNS + ORIGINAL_QUESTIONS
# `late` is "yes" for a day a reviewer filed afterwards (补报); `note` holds its reason, or
# the exemption's reason on an `exempt` row.
TRAILING_COLUMNS = ("abnormal_reasons", "receipt", "proxy_reason", "late", "note")
COLUMNS = LEADING_COLUMNS + ANSWER_COLUMNS + TRAILING_COLUMNS

#: xlsx row fills (ARGB): missing yellow, abnormal red, changed city orange (when the changed
#: city is the only reason; any other reason makes the row red), unfollowed grey.
FILL_MISSING = "FFFFFF00"
FILL_ABNORMAL = "FFFF7C80"
FILL_CITY_CHANGED = "FFFFC000"
FILL_UNFOLLOWED = "FFD9D9D9"

Cell = str | int | float | None


class ExportError(ValueError):
    """The export cannot be made as asked (unknown unit, bad range); nothing was written."""


@dataclass
class ExportRow:
    day: date
    userid: str
    name: str
    unit: str
    status: ReportStatus
    filled_by: str = ""
    submitted_at: str = ""  # local time "YYYY-MM-DD HH:MM:SS", empty when not reported
    answers: dict[str, Cell] = field(default_factory=dict)  # location columns + question keys
    abnormal_reasons: tuple[str, ...] = ()
    receipt: str = ""
    proxy_reason: str = ""
    late: bool = False
    note: str = ""

    @property
    def abnormal(self) -> bool:
        return bool(self.abnormal_reasons)

    @property
    def city_changed(self) -> bool:
        return "city_changed" in self.abnormal_reasons

    def cells(self, columns: tuple[str, ...] = COLUMNS) -> list[Cell]:
        """The row in `columns` order (the leading and trailing columns are always there);
        temperature and the answers to number questions stay numbers, everything else text."""
        answers = columns[len(LEADING_COLUMNS):len(columns) - len(TRAILING_COLUMNS)]
        return [self.day.isoformat(), self.userid, self.name, self.unit, self.status,
                self.filled_by, self.submitted_at,
                *(self.answers.get(c) for c in answers),
                ";".join(self.abnormal_reasons), self.receipt, self.proxy_reason,
                "yes" if self.late else "", self.note]

    def fill(self) -> str | None:
        """The xlsx fill colour for this row, or None."""
        if self.status == ReportStatus.MISSING:
            return FILL_MISSING
        if self.status in (ReportStatus.UNFOLLOWED, ReportStatus.EXEMPT):
            return FILL_UNFOLLOWED
        if self.abnormal:
            return FILL_CITY_CHANGED if set(self.abnormal_reasons) == {"city_changed"} \
                else FILL_ABNORMAL
        return None


def check_range(start: date, end: date, today: date) -> None:
    """Refuse ranges the export cannot answer: reversed, too long, or reaching the future."""
    if start > end:
        raise ExportError(f"--from {start.isoformat()} is after --to {end.isoformat()}")
    days = (end - start).days + 1
    if days > MAX_DAYS:
        raise ExportError(f"the range covers {days} days; at most {MAX_DAYS} per export")
    if end > today:
        raise ExportError(f"{end.isoformat()} is in the future (today is {today.isoformat()})")


async def scope_units(session: AsyncSession, unit: str | None, *, include_below: bool = True
                      ) -> set[str] | None:
    """The unit ids an export covers (None: every unit); ExportError for an unknown unit."""
    if unit is None:
        return None
    tree = await unit_tree(session)
    if unit not in tree:
        raise ExportError(f"unknown unit {unit!r}")
    return descendants(tree, {unit}) if include_below else {unit}


async def iter_export_days(session: AsyncSession, start: date, end: date, unit: str | None, *,
                           include_below: bool = True, tz: ZoneInfo = SHANGHAI
                           ) -> AsyncIterator[list[ExportRow]]:
    """The rows of each day from `start` to `end`, one list per day (memory stays per-day)."""
    units = await scope_units(session, unit, include_below=include_below)
    query = sa.select(Member.userid, Member.name, Member.unit_id, Member.following,
                      Member.active, Member.created_at)
    if units is not None:
        query = query.where(Member.unit_id.in_(sorted(units)))
    members = {row.userid: row for row in (await session.execute(query)).all()}
    exemptions = await exempt_days(session, start, end)
    day = start
    while day <= end:
        reports = (await session.execute(
            sa.select(DailyReport).where(DailyReport.report_date == day))).scalars().all()
        by_user = {r.userid: r for r in reports if r.userid in members}
        rows = []
        for userid, member in members.items():
            report = by_user.get(userid)
            if report is None:
                joined = member.created_at.astimezone(tz).date() if member.created_at else day
                if not member.active or joined > day:
                    continue
                exempt_for = reason_on(exemptions.get(userid, []), day)
                if exempt_for is not None:
                    status = ReportStatus.EXEMPT
                else:
                    status = (ReportStatus.MISSING if member.following
                              else ReportStatus.UNFOLLOWED)
                rows.append(ExportRow(day, userid, member.name, member.unit_id or "", status,
                                      note=exempt_for or ""))
            else:
                rows.append(_reported_row(day, member, report, tz))
        rows.sort(key=lambda r: (r.unit, r.userid))
        yield rows
        day += timedelta(days=1)


async def export_rows(session: AsyncSession, start: date, end: date, unit: str | None, *,
                      include_below: bool = True, tz: ZoneInfo = SHANGHAI) -> list[ExportRow]:
    """Every row of the range, ordered by day, unit, userid."""
    rows: list[ExportRow] = []
    async for day_rows in iter_export_days(session, start, end, unit,
                                           include_below=include_below, tz=tz):
        rows.extend(day_rows)
    return rows


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    return str(value)


def merge_keys(sequences: Iterable[Iterable[str]]) -> list[str]:
    """One order for the questions of several versions: each sequence's new keys go right after
    the key they follow there (at the front when they lead)."""
    merged: list[str] = []
    for sequence in sequences:
        previous: str | None = None
        for key in sequence:
            if key not in merged:
                merged.insert(merged.index(previous) + 1 if previous is not None else 0, key)
            previous = key
    return merged


async def export_columns(session: AsyncSession, start: date, end: date) -> tuple[str, ...]:
    """The columns of an export of `start`..`end`: a column for every question of every form
    version the range's reports answered (else the version in use on `end`)."""
    used = sorted((await session.execute(
        sa.select(DailyReport.form_version).where(DailyReport.report_date >= start,
                                                  DailyReport.report_date <= end)
        .distinct())).scalars().all())
    forms = [found for version in used
             if (found := await form_versions.by_version(session, "daily_report", version))]
    if not forms:
        forms = [await form_versions.current(session, "daily_report", end)]
    keys = [[q.key for q in ff.form.questions if q.kind != "location"] for ff in forms]
    present = {k for sequence in keys for k in sequence}
    if len(forms) < len(used):  # a version nowhere to be found: keep what it may have had
        present |= set(ORIGINAL_QUESTIONS)
    order = merge_keys([ORIGINAL_QUESTIONS, *keys])
    return (LEADING_COLUMNS + LOCATION_COLUMNS + tuple(k for k in order if k in present)
            + TRAILING_COLUMNS)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_NOT_QUESTIONS = frozenset({"location", "form_version", "date", "userid"})


def flatten_answers(report: DailyReport) -> dict[str, Cell]:
    """The answer cells of one report, by column (the report's location columns win over the
    location answer, since a proxy or a correction writes them)."""
    answers: Mapping[str, Any] = report.answers or {}
    location = answers.get("location")
    location = location if isinstance(location, Mapping) else {}
    result: dict[str, Cell] = {
        "location_kind": _text(report.location_kind or location.get("kind")),
        "province": _text(report.province or location.get("province")),
        "city": _text(report.city or location.get("city")),
        "district": _text(report.district or location.get("district")),
        "country": _text(report.country or location.get("country")),
    }
    for key, value in answers.items():
        if key not in _NOT_QUESTIONS and key not in result:
            # A number question's answer is stored as a number (a text answer is always a
            # string, even "-3"): it stays one, a number cell in xlsx.
            result[key] = value if _is_number(value) else _text(value)
    temperature = report.temperature if report.temperature is not None \
        else answers.get("temperature")
    result["temperature"] = float(temperature) if _is_number(temperature) else None
    return result


def _reported_row(day: date, member: Any, report: DailyReport, tz: ZoneInfo) -> ExportRow:
    return ExportRow(
        day=day, userid=member.userid, name=member.name, unit=member.unit_id or "",
        status=ReportStatus.REPORTED, filled_by=report.filled_by,
        submitted_at=report.submitted_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
        answers=flatten_answers(report),
        abnormal_reasons=tuple(report.abnormal_reasons or ()),
        receipt=report.receipt, proxy_reason=report.proxy_reason or "",
        late=bool(report.late), note=report.late_reason or "")


# ---- writers ---------------------------------------------------------------------------------


#: A cell starting with one of these is a formula (or a DDE payload) to a spreadsheet program.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def formula_like(value: Cell) -> bool:
    """Whether `value` is text a spreadsheet program would read as a formula if it were typed."""
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)


def neutralise(value: Cell) -> Cell:
    """For CSV: text a member typed must never run as a formula when the file is opened (OWASP
    CSV injection). CSV has no cell types, so the only defence is in the data: a leading `'`
    makes Excel, LibreOffice and Sheets show it as plain text (and the `'` is then part of the
    text). Numbers are left alone: "-3" from a number question is a number, not a formula.
    The xlsx writer does not use this: its cells are typed (see `XlsxExport.write`)."""
    if formula_like(value):
        return "'" + str(value)
    return value


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    return str(neutralise(value))


class CsvExport:
    """Writes rows as they come: the header first, then `write(rows)` as often as needed."""

    def __init__(self, stream: IO[str], columns: tuple[str, ...] = COLUMNS) -> None:
        self._writer = csv.writer(stream, lineterminator="\r\n")
        self._writer.writerow(columns)
        self._columns = columns
        self.rows = 0

    def write(self, rows: Iterable[ExportRow]) -> None:
        for row in rows:
            self._writer.writerow([_csv_cell(c) for c in row.cells(self._columns)])
            self.rows += 1


def write_csv(rows: Iterable[ExportRow], stream: IO[str],
              columns: tuple[str, ...] = COLUMNS) -> int:
    """CSV (RFC 4180 line endings) with a header; returns the number of data rows."""
    export = CsvExport(stream, columns)
    export.write(rows)
    return export.rows


_SHEET_BAD = re.compile(r"[\[\]:*?/\\]")


def sheet_title(name: str, taken: set[str]) -> str:
    """A valid, unique Excel sheet title (31 characters, none of []:*?/\\)."""
    base = _SHEET_BAD.sub("_", name).strip("'") or "unit"
    title = base[:31]
    n = 2
    while title.casefold() in taken:
        suffix = f" ({n})"
        title = base[:31 - len(suffix)] + suffix
        n += 1
    taken.add(title.casefold())
    return title


class XlsxExport:
    """A streaming (write-only) workbook: one sheet, or one per unit; rows coloured by state."""

    WIDTHS = {"date": 11, "userid": 14, "name": 10, "unit": 18, "status": 11, "filled_by": 14,
              "submitted_at": 20, "abnormal_reasons": 18}

    def __init__(self, path: Path | str, *, sheet_per_unit: bool, title: str = "export",
                 columns: tuple[str, ...] = COLUMNS) -> None:
        from openpyxl import Workbook
        from openpyxl.styles import Font, PatternFill

        self._path = path
        self._columns = columns
        self._wb = Workbook(write_only=True)
        self._per_unit = sheet_per_unit
        self._title = title
        self._sheets: dict[str, Any] = {}
        self._counts: dict[str, int] = {}
        self._taken: set[str] = set()
        self._bold = Font(bold=True)
        self._fills = {color: PatternFill(fill_type="solid", start_color=color, end_color=color)
                       for color in (FILL_MISSING, FILL_ABNORMAL, FILL_CITY_CHANGED,
                                     FILL_UNFOLLOWED)}
        self.rows = 0

    def _sheet(self, key: str) -> Any:
        sheet = self._sheets.get(key)
        if sheet is None:
            from openpyxl.cell import WriteOnlyCell
            from openpyxl.utils import get_column_letter

            name = (key or "(no unit)") if self._per_unit else self._title
            sheet = self._wb.create_sheet(sheet_title(name, self._taken))
            sheet.freeze_panes = "A2"
            for index, column in enumerate(self._columns, start=1):
                sheet.column_dimensions[get_column_letter(index)].width = \
                    self.WIDTHS.get(column, 12)
            header = []
            for column in self._columns:
                cell = WriteOnlyCell(sheet, value=column)
                cell.font = self._bold
                header.append(cell)
            sheet.append(header)
            self._sheets[key] = sheet
            self._counts[key] = 1
        return sheet

    def write(self, rows: Iterable[ExportRow]) -> None:
        from openpyxl.cell import WriteOnlyCell

        for row in rows:
            key = row.unit if self._per_unit else ""
            sheet = self._sheet(key)
            if self._counts[key] >= XLSX_MAX_ROWS:
                raise ExportError(f"more than {XLSX_MAX_ROWS - 1} rows for one sheet; export "
                                  "CSV, a shorter range, or use --sheet-per-unit")
            color = row.fill()
            cells = []
            for value in row.cells(self._columns):
                cell = WriteOnlyCell(sheet, value=value)
                if isinstance(value, str):
                    # The exact text, in a string cell: never a formula, whatever it starts
                    # with. A text starting like a formula also gets the cell style's
                    # quotePrefix, the `'` Excel and LibreOffice show in the edit line (not in
                    # the value), so editing the cell and pressing Enter keeps it text.
                    cell.data_type = "s"
                    if formula_like(value):
                        cell.quotePrefix = True
                if color is not None:
                    cell.fill = self._fills[color]
                cells.append(cell)
            sheet.append(cells)
            self._counts[key] += 1
            self.rows += 1

    def close(self) -> None:
        """Save the workbook (an export without rows still gets its header)."""
        if not self._sheets:
            self._sheet("")
        self._wb.save(self._path)


def write_xlsx(rows: Iterable[ExportRow], path: Path | str, sheet_per_unit: bool = False,
               columns: tuple[str, ...] = COLUMNS) -> int:
    """An .xlsx workbook (one sheet per unit id on request); returns the number of data rows."""
    export = XlsxExport(path, sheet_per_unit=sheet_per_unit, columns=columns)
    export.write(rows)
    export.close()
    return export.rows

