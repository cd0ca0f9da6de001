"""Members' one door: the roster rows handlers and jobs read and change."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.models import BasicInfo, DailyReport, Member


class MemberRole(StrEnum):
    MEMBER = "member"
    REVIEWER = "reviewer"  # reviews their units (reviewer_assignment) and every unit below
    ADMIN = "admin"  # reviews everything; hears what no reviewer hears


#: Roles that may review, report on behalf and see statistics.
REVIEWING = (MemberRole.REVIEWER, MemberRole.ADMIN)


async def get(session: AsyncSession, userid: str) -> Member | None:
    return await session.get(Member, userid)


async def for_callback(session: AsyncSession, userid: str, *, lock: bool) -> Member | None:
    """The member a callback is from; `lock` (PostgreSQL) takes the row lock that orders one
    member's callbacks across instances until the transaction ends."""
    query = sa.select(Member).where(Member.userid == userid)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalars().first()


async def find(session: AsyncSession, userid: str) -> Member | None:
    """A member by a typed userid, ignoring case (WeCom userids are case-insensitive)."""
    return (await session.execute(
        sa.select(Member).where(sa.func.lower(Member.userid) == userid.lower()))
    ).scalars().first()


def save(session: AsyncSession, member: Member) -> None:
    """Write back a member whose fields the caller changed."""
    session.add(member)


async def active_with_role(session: AsyncSession, role: MemberRole) -> list[Member]:
    return list((await session.execute(
        sa.select(Member).where(Member.active.is_(True), Member.role == role)
        .order_by(Member.userid))).scalars())


async def to_remind(session: AsyncSession, day: date) -> list[tuple[Member, bool]]:
    """Active, following members with no report for `day` and not exempt that day, and
    whether they have basic information (those without it are reminded too: on rollout day
    that is everyone)."""
    from storage.exemptions import exempt_clause  # exemptions → units → members

    reported = sa.select(DailyReport.userid).where(DailyReport.report_date == day)
    rows = await session.execute(
        sa.select(Member, BasicInfo.userid)
        .outerjoin(BasicInfo, BasicInfo.userid == Member.userid)
        .where(Member.active.is_(True), Member.following.is_(True),
               Member.userid.not_in(reported), sa.not_(exempt_clause(Member.userid, day)))
        .order_by(Member.userid))
    return [(member, info is not None) for member, info in rows]


async def without_basic_info(session: AsyncSession) -> list[Member]:
    """Active, following members who never completed basic information."""
    return list((await session.execute(
        sa.select(Member).where(Member.active.is_(True), Member.following.is_(True),
                                Member.userid.not_in(sa.select(BasicInfo.userid)))
        .order_by(Member.userid))).scalars())


def accept_privacy(session: AsyncSession, member: Member, version: int, now: datetime) -> None:
    """Record that the member accepted privacy notice `version`."""
    member.privacy_version = version
    member.privacy_accepted_at = now
    member.privacy_pending = None
    member.updated_at = now
    session.add(member)


def set_privacy_pending(session: AsyncSession, member: Member, command: str | None,
                        now: datetime) -> None:
    """Remember (or, None, forget) the command the notice was shown instead of."""
    if member.privacy_pending != command:
        member.privacy_pending = command
        member.updated_at = now
        session.add(member)


async def accept_privacy_for_all(session: AsyncSession, version: int, now: datetime) -> int:
    """Mark every member as having accepted `version` (migrating a deployment whose members
    were told by other means; tests). Returns how many rows changed."""
    result = await session.execute(
        sa.update(Member).where(sa.or_(Member.privacy_version.is_(None),
                                       Member.privacy_version < version))
        .values(privacy_version=version, privacy_accepted_at=now)
        .execution_options(synchronize_session=False))
    return int(result.rowcount or 0)
