"""`roster sync`: WeCom's contacts (departments and members) become units and members.

Why sync and not only CSV: the WeCom directory is where HR keeps people current, so a nightly
sync keeps the roster right without anyone exporting spreadsheets. What sync owns and what it
leaves alone:

* Units: each department becomes a unit whose id is the department name when that name is
  unique in the directory, else "name (department id)"; the unit remembers its
  `wecom_department_id`, so later syncs find it again by that id even after a rename (the id,
  which members, reviewers and history refer to, stays; the name follows WeCom). A unit that a
  CSV import created with the same name, and no department id yet, is adopted.
* Members: inserted or updated (name, unit = the member's main department, active again when
  they come back). Their role, language, rendering and following state are never touched.
* Members who belong to a synced unit but are no longer in the directory become inactive; they
  are never deleted, so their reports and audit rows stay. Members of CSV-only units are not
  the directory's to judge and are left alone.

Everything happens in one transaction: a failed sync changes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit
from storage.audit import AuditAction
from storage.db import Database
from storage.models import Member, Unit

#: Members written per batch (and between two progress reports).
BATCH = 500
#: WeCom user statuses that mean the person is gone or disabled (2 disabled, 5 left).
INACTIVE_STATUSES = frozenset({2, 5})

Progress = Callable[[int, int], None]


class SyncError(Exception):
    """The directory cannot be applied safely; nothing was changed."""


class Directory(Protocol):
    """The two contacts APIs sync needs (WeComClient satisfies it)."""

    async def list_departments(self, department_id: int | None = None
                               ) -> list[dict[str, Any]]: ...

    async def list_users(self, department_id: int, fetch_child: bool = True
                         ) -> list[dict[str, Any]]: ...


@dataclass
class SyncResult:
    departments: int = 0
    units_added: int = 0
    units_updated: int = 0
    members_seen: int = 0
    members_added: int = 0
    members_updated: int = 0
    members_deactivated: int = 0


def unit_ids_for(departments: list[dict[str, Any]], existing: dict[str, Unit]
                 ) -> dict[int, str]:
    """{department id: unit id}: a known unit keeps its id; else the name if unique, else
    "name (id)"; never an id another department's unit already uses."""
    by_dept = {u.wecom_department_id: u.id for u in existing.values()
               if u.wecom_department_id is not None}
    names = Counter(str(d["name"]).strip() for d in departments)
    taken = {uid for uid, u in existing.items()
             if u.wecom_department_id is not None}
    result: dict[int, str] = {}
    for dept in sorted(departments, key=lambda d: int(d["id"])):
        dept_id = int(dept["id"])
        if dept_id in by_dept:
            result[dept_id] = by_dept[dept_id]
            continue
        name = str(dept["name"]).strip() or f"department {dept_id}"
        candidate = name[:64]
        if names[name] > 1 or candidate in taken or len(name) > 64:
            suffix = f" ({dept_id})"
            candidate = name[:64 - len(suffix)] + suffix
        taken.add(candidate)
        result[dept_id] = candidate
    return result


async def _sync_units(session: AsyncSession, departments: list[dict[str, Any]],
                      result: SyncResult) -> dict[int, str]:
    existing = {u.id: u for u in (await session.execute(sa.select(Unit))).scalars()}
    ids = unit_ids_for(departments, existing)
    added: set[str] = set()
    updated: set[str] = set()
    # Two passes so that parents exist before children point at them (foreign keys).
    for dept in departments:
        dept_id = int(dept["id"])
        unit_id = ids[dept_id]
        name = (str(dept["name"]).strip() or unit_id)[:128]
        unit = existing.get(unit_id)
        if unit is None:
            unit = Unit(id=unit_id, name=name, wecom_department_id=dept_id)
            session.add(unit)
            existing[unit_id] = unit
            added.add(unit_id)
            result.units_added += 1
        elif (unit.name, unit.wecom_department_id) != (name, dept_id):
            unit.name, unit.wecom_department_id = name, dept_id
            session.add(unit)
            updated.add(unit_id)
            result.units_updated += 1
    await session.flush()
    for dept in departments:
        unit = existing[ids[int(dept["id"])]]
        parent = ids.get(int(dept.get("parentid") or 0))
        if parent == unit.id:
            parent = None
        if unit.parent_id != parent:
            if unit.id not in added:
                result.units_updated += unit.id not in updated
                updated.add(unit.id)
            unit.parent_id = parent
            session.add(unit)
    await session.flush()
    return ids


def _roots(departments: list[dict[str, Any]]) -> list[int]:
    """Departments whose parent is not visible: the tops of the app's visible range."""
    known = {int(d["id"]) for d in departments}
    return sorted(int(d["id"]) for d in departments
                  if int(d.get("parentid") or 0) not in known)


def _main_department(user: dict[str, Any], ids: dict[int, str]) -> int | None:
    candidates = [user.get("main_department"), *(user.get("department") or [])]
    for value in candidates:
        try:
            dept = int(value)
        except (TypeError, ValueError):
            continue
        if dept in ids:
            return dept
    return None


async def fetch_directory(client: Directory
                          ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(departments, users): one department/list, one user/list per visible top department."""
    departments = await client.list_departments()
    users: dict[str, dict[str, Any]] = {}
    for root in _roots(departments):
        for user in await client.list_users(root, fetch_child=True):
            userid = str(user.get("userid") or "")
            if userid:
                users.setdefault(userid.lower(), user)
    return departments, list(users.values())


async def apply_directory(session: AsyncSession, departments: list[dict[str, Any]],
                          users: list[dict[str, Any]], *, now: datetime,
                          progress: Progress | None = None, actor: str = "cli",
                          source: str = "wecom") -> SyncResult:
    """Write the directory into units and members; the caller owns the transaction."""
    if not users:
        raise SyncError("WeCom returned no members (is the app's visible range empty, or does "
                        "it lack contacts permission?); nothing was changed")
    result = SyncResult(departments=len(departments), members_seen=len(users))
    ids = await _sync_units(session, departments, result)
    fallback = ids[_roots(departments)[0]] if departments else None
    existing = {m.userid.lower(): m for m in (await session.execute(
        sa.select(Member))).scalars()}
    seen: set[str] = set()
    total = len(users)
    if progress is not None:
        progress(0, total)
    inserts: list[dict[str, Any]] = []
    for done, user in enumerate(users, start=1):
        userid = str(user["userid"])
        dept = _main_department(user, ids)
        unit_id = ids[dept] if dept is not None else fallback
        name = (str(user.get("name") or "").strip() or userid)[:64]
        active = _status(user) not in INACTIVE_STATUSES
        seen.add(userid.lower())
        member = existing.get(userid.lower())
        if member is None:
            inserts.append({"userid": userid, "name": name, "unit_id": unit_id,
                            "role": "member", "active": active, "following": True,
                            "created_at": now, "updated_at": now})
            result.members_added += 1
        elif (member.name, member.unit_id, member.active) != (name, unit_id, active):
            member.name, member.unit_id, member.active = name, unit_id, active
            member.updated_at = now
            session.add(member)
            result.members_updated += 1
        if len(inserts) >= BATCH or done == total or done % BATCH == 0:
            if inserts:
                await session.execute(sa.insert(Member), inserts)
                inserts = []
            await session.flush()
            if progress is not None:
                progress(done, total)
    synced_units = {u for (u,) in (await session.execute(
        sa.select(Unit.id).where(Unit.wecom_department_id.is_not(None)))).all()}
    gone = [m for key, m in existing.items()
            if key not in seen and m.active and m.unit_id in synced_units]
    for member in gone:
        member.active = False
        member.updated_at = now
        session.add(member)
    result.members_deactivated = len(gone)
    await session.flush()
    audit.record(session, at=now, actor=actor, action=AuditAction.ROSTER_SYNC, target=source,
                 detail={"departments": result.departments,
                         "units_added": result.units_added,
                         "units_updated": result.units_updated,
                         "members_seen": result.members_seen,
                         "members_added": result.members_added,
                         "members_updated": result.members_updated,
                         "members_deactivated": result.members_deactivated,
                         "deactivated": sorted(m.userid for m in gone)[:200]})
    return result


def _status(user: dict[str, Any]) -> int:
    try:
        return int(user.get("status") or 1)
    except (TypeError, ValueError):
        return 1


async def sync_directory(db: Database, client: Directory, *, now: datetime,
                         progress: Progress | None = None, actor: str = "cli",
                         source: str = "wecom") -> SyncResult:
    """Fetch the directory from WeCom, then apply it in one transaction."""
    departments, users = await fetch_directory(client)
    async with db.transaction() as session:
        return await apply_directory(session, departments, users, now=now,
                                     progress=progress, actor=actor, source=source)
