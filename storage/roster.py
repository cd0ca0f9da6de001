"""Roster import from the CSV files operators export from Excel.

Columns: userid,name,unit,role[,mobile][,parent_unit][,reviews]. Encodings: UTF-8, UTF-8 with
BOM, and GBK (what Excel writes on a Chinese Windows). Every row is validated before anything is
written: one bad row and nothing from the file is stored, and each problem names its line.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.conversation.validators import InvalidAnswer
from bot.conversation.validators import mobile as parse_mobile
from storage import audit
from storage.audit import AuditAction
from storage.models import Member, ReviewerAssignment, Unit

REQUIRED = ("userid", "name", "unit", "role")
OPTIONAL = ("mobile", "parent_unit", "reviews")
ROLES = ("member", "reviewer", "admin")
USERID_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")
MAX_ROWS = 200_000


class RosterError(Exception):
    """The file cannot be imported; `problems` lists every reason with its line number."""

    def __init__(self, problems: list[str], rows: list[RosterRow] | None = None) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
        self.rows = rows or []  # the rows that were valid, to check their units as well


@dataclass(frozen=True)
class RosterRow:
    line: int
    userid: str
    name: str
    unit: str
    role: str
    mobile: str | None = None
    parent_unit: str | None = None
    reviews: tuple[str, ...] = ()


@dataclass
class ImportResult:
    members_added: int = 0
    members_updated: int = 0
    units_added: int = 0
    reviewer_assignments: int = 0
    rows: list[RosterRow] = field(default_factory=list)


def decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gbk"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise RosterError(["the file is neither UTF-8 nor GBK text; save it as CSV UTF-8"])


def parse_roster(data: bytes) -> list[RosterRow]:
    """Validate the whole file; raise RosterError listing every problem."""
    text = decode(data)
    if "\x00" in text:
        raise RosterError(["the file contains NUL bytes; is it an .xlsx saved as .csv?"])
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise RosterError(["the file is empty; expected a header userid,name,unit,role"]) from None
    columns = [h.strip().lower() for h in header]
    problems: list[str] = []
    missing = [c for c in REQUIRED if c not in columns]
    unknown = [c for c in columns if c not in REQUIRED + OPTIONAL]
    if missing or unknown or len(set(columns)) != len(columns):
        detail = []
        if missing:
            detail.append(f"missing {', '.join(missing)}")
        if unknown:
            detail.append(f"unknown {', '.join(repr(u) for u in unknown)}")
        if len(set(columns)) != len(columns):
            detail.append("a column appears twice")
        raise RosterError([f"line 1: bad header ({'; '.join(detail)}); expected "
                           f"userid,name,unit,role[,mobile][,parent_unit][,reviews]"])
    rows: list[RosterRow] = []
    seen: dict[str, int] = {}
    for line, record in enumerate(reader, start=2):
        if not any(cell.strip() for cell in record):
            continue
        if len(rows) >= MAX_ROWS:
            raise RosterError([f"more than {MAX_ROWS} rows; split the file"])
        if len(record) != len(columns):
            problems.append(f"line {line}: expected {len(columns)} fields, found {len(record)}")
            continue
        cells = {c: v.strip() for c, v in zip(columns, record, strict=True)}
        row_problems = []
        userid = cells["userid"]
        if not USERID_RE.match(userid):
            row_problems.append(f"userid {userid!r} is not a WeCom userid "
                                "(1-64 letters, digits, . _ @ -)")
        elif userid.lower() in seen:
            row_problems.append(f"duplicate userid {userid!r} (first on line "
                                f"{seen[userid.lower()]})")
        name = cells["name"]
        if not name or len(name) > 64 or any(ord(ch) < 32 for ch in name):
            row_problems.append("name is empty, too long or has control characters")
        unit = cells["unit"]
        if not unit or len(unit) > 64:
            row_problems.append("unit is empty or longer than 64 characters")
        role = cells["role"].lower()
        if role not in ROLES:
            row_problems.append(f"unknown role {cells['role']!r} (use member, reviewer or admin)")
        mobile = cells.get("mobile") or None
        if mobile:
            try:
                mobile = parse_mobile(mobile, None)  # the same rule as the basic-info form
            except InvalidAnswer:
                row_problems.append(f"mobile {mobile!r} is not a mobile number "
                                    "(11-digit mainland, or + and 8-15 digits)")
        reviews = tuple(u.strip() for u in (cells.get("reviews") or "").split(";") if u.strip())
        if reviews and role not in ("reviewer", "admin"):
            row_problems.append("only reviewers and admins can review units")
        if row_problems:
            problems.extend(f"line {line}: {p}" for p in row_problems)
            continue
        seen[userid.lower()] = line
        rows.append(RosterRow(line, userid, name, unit, role, mobile,
                              cells.get("parent_unit") or None, reviews))
    if not rows and not problems:
        problems.append("the file has a header but no members")
    if problems:
        raise RosterError(problems, rows)
    return rows


def _line_of(problem: str) -> int:
    head = problem.split(":", 1)[0]
    return int(head[5:]) if head.startswith("line ") and head[5:].isdigit() else 0


async def reference_problems(session: AsyncSession, rows: list[RosterRow]) -> list[str]:
    """Unknown parent or reviewed units and parent cycles (needs the units already stored)."""
    existing_units = {u.id: u for u in (await session.execute(sa.select(Unit))).scalars()}
    file_units = {r.unit for r in rows}
    parents = {r.unit: r.parent_unit for r in rows if r.parent_unit}
    known = set(existing_units) | file_units
    problems = [f"line {r.line}: unknown parent unit {r.parent_unit!r}" for r in rows
                if r.parent_unit and r.parent_unit not in known]
    problems += [f"line {r.line}: reviews unknown unit {u!r}" for r in rows for u in r.reviews
                 if u not in known]
    return problems + _cycles(parents, existing_units)


async def all_problems(session: AsyncSession, error: RosterError) -> list[str]:
    """A parse error's problems together with the unit problems of its valid rows, by line:
    the operator fixes the file once, not field errors first and unknown units after."""
    return sorted([*error.problems, *await reference_problems(session, error.rows)],
                  key=_line_of)


#: Userids looked up per statement (well below both databases' bound-parameter limits).
LOOKUP_CHUNK = 5_000


async def import_roster(session: AsyncSession, rows: list[RosterRow], *, now: datetime,
                        actor: str = "cli", source: str = "") -> ImportResult:
    """Upsert units, members and reviewer assignments; idempotent; caller owns the transaction."""
    result = ImportResult(rows=rows)
    problems = await reference_problems(session, rows)
    if problems:
        raise RosterError(problems)
    existing_units = {u.id: u for u in (await session.execute(sa.select(Unit))).scalars()}
    file_units = {r.unit for r in rows}
    parents = {r.unit: r.parent_unit for r in rows if r.parent_unit}
    for unit_id in sorted(file_units, key=lambda u: (_depth(u, parents, existing_units), u)):
        # Parents before children, whatever order the file (or the alphabet) has them in.
        unit = existing_units.get(unit_id)
        if unit is None:
            session.add(Unit(id=unit_id, name=unit_id, parent_id=parents.get(unit_id)))
            result.units_added += 1
        elif unit_id in parents and unit.parent_id != parents[unit_id]:
            unit.parent_id = parents[unit_id]
            session.add(unit)
    await session.flush()
    members: dict[str, Member] = {}
    userids = [r.userid for r in rows]
    for start in range(0, len(userids), LOOKUP_CHUNK):
        # One bound parameter per userid: PostgreSQL takes at most 32,767 per statement and
        # SQLite 32,766, and a university's roster is larger than either.
        chunk = userids[start:start + LOOKUP_CHUNK]
        members.update((m.userid, m) for m in (await session.execute(
            sa.select(Member).where(Member.userid.in_(chunk)))).scalars())
    for row in rows:
        member = members.get(row.userid)
        if member is None:
            session.add(Member(userid=row.userid, name=row.name, unit_id=row.unit, role=row.role,
                               mobile=row.mobile, created_at=now, updated_at=now))
            result.members_added += 1
            continue
        changed = (member.name, member.unit_id, member.role, member.mobile, member.active) != (
            row.name, row.unit, row.role, row.mobile or member.mobile, True)
        if changed:
            member.name, member.unit_id, member.role = row.name, row.unit, row.role
            member.mobile = row.mobile or member.mobile
            member.active = True
            member.updated_at = now
            session.add(member)
            result.members_updated += 1
    await session.flush()
    for row in rows:
        units = row.reviews or ((row.unit,) if row.role == "reviewer" else ())
        for unit_id in units:
            present = await session.get(ReviewerAssignment, (row.userid, unit_id))
            if present is None:
                session.add(ReviewerAssignment(userid=row.userid, unit_id=unit_id))
                result.reviewer_assignments += 1
    audit.record(session, at=now, actor=actor, action=AuditAction.ROSTER_IMPORT, target=source,
                 detail={"rows": len(rows), "added": result.members_added,
                         "updated": result.members_updated})
    return result


def _depth(unit_id: str, parents: dict[str, str], existing: dict[str, Unit]) -> int:
    """How many ancestors a unit has (cycles were refused before this is called)."""
    depth = 0
    node: str | None = unit_id
    while node is not None:
        node = parents.get(node) or (existing[node].parent_id if node in existing else None)
        depth += 1
    return depth


def _cycles(parents: dict[str, str], existing: dict[str, Unit]) -> list[str]:
    graph = {uid: u.parent_id for uid, u in existing.items() if u.parent_id}
    graph.update(parents)
    for start in graph:
        seen = {start}
        node = graph.get(start)
        while node is not None:
            if node in seen:
                return [f"unit {start!r} is its own ancestor (parent_unit cycle)"]
            seen.add(node)
            node = graph.get(node)
    return []


def read_roster_file(path: Path) -> list[RosterRow]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RosterError([f"cannot read {path}: {exc.strerror}"]) from None
    return parse_roster(data)
