"""The unit tree and who may act on whom: authorisation lives here and nowhere else.

A reviewer sees the units they review and every unit below them; an admin sees everything;
a member sees only themself.
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.members import REVIEWING, MemberRole
from storage.models import BasicInfo, Member, ReviewerAssignment, Unit


async def get_unit(session: AsyncSession, unit_id: str | None) -> Unit | None:
    return await session.get(Unit, unit_id) if unit_id else None


async def unit_tree(session: AsyncSession) -> dict[str, str | None]:
    """{unit_id: parent_id} for every unit (a university has at most a few thousand)."""
    rows = await session.execute(sa.select(Unit.id, Unit.parent_id))
    return {unit_id: parent for unit_id, parent in rows}


def ancestors(tree: dict[str, str | None], unit_id: str | None) -> list[str]:
    """The unit itself and every unit above it, nearest first."""
    chain: list[str] = []
    node = unit_id
    while node is not None and node not in chain:
        chain.append(node)
        node = tree.get(node)
    return chain


def descendants(tree: dict[str, str | None], roots: set[str]) -> set[str]:
    children: dict[str, list[str]] = defaultdict(list)
    for unit_id, parent in tree.items():
        if parent is not None:
            children[parent].append(unit_id)
    found: set[str] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if node in found:
            continue
        found.add(node)
        stack.extend(children.get(node, ()))
    return found


async def reviewed_units(session: AsyncSession, actor: Member,
                         tree: dict[str, str | None] | None = None) -> set[str] | None:
    """Units the actor may see: None means every unit (admin); empty means none. Pass `tree`
    (from `unit_tree`) when asking for many actors in a row."""
    if not actor.active:  # a deactivated admin or reviewer sees nothing
        return set()
    if actor.role == MemberRole.ADMIN:
        return None
    if actor.role != MemberRole.REVIEWER:
        return set()
    assigned = set((await session.execute(
        sa.select(ReviewerAssignment.unit_id).where(ReviewerAssignment.userid == actor.userid)
    )).scalars())
    if not assigned:
        return set()
    return descendants(tree if tree is not None else await unit_tree(session), assigned)


async def may_act_on(session: AsyncSession, actor: Member, subject: Member) -> bool:
    """Can `actor` report on behalf of, or see the records of, `subject`?"""
    if actor.userid == subject.userid:
        return True
    units = await reviewed_units(session, actor)
    if units is None:
        return True
    return subject.unit_id is not None and subject.unit_id in units


async def reviewers_of(session: AsyncSession, unit_id: str | None) -> list[Member]:
    """Active reviewers of the unit or of any unit above it (nearest unit's reviewers first)."""
    if unit_id is None:
        return []
    chain = ancestors(await unit_tree(session), unit_id)
    rows = await session.execute(
        sa.select(Member, ReviewerAssignment.unit_id)
        .join(ReviewerAssignment, ReviewerAssignment.userid == Member.userid)
        .where(ReviewerAssignment.unit_id.in_(chain), Member.active.is_(True),
               Member.role.in_(REVIEWING)))
    ranked = sorted(rows, key=lambda pair: chain.index(pair[1]))
    seen: set[str] = set()
    result = []
    for member, _unit in ranked:
        if member.userid not in seen:
            seen.add(member.userid)
            result.append(member)
    return result


async def responsible_for(session: AsyncSession, unit_id: str | None) -> list[Member]:
    """Who is told about a member's alerts and proxy requests: the reviewers of the unit and
    the units above it, or, where no unit up the tree has one, the admins — never nobody."""
    reviewers = await reviewers_of(session, unit_id)
    if reviewers:
        return reviewers
    return list((await session.execute(
        sa.select(Member).where(Member.role == MemberRole.ADMIN, Member.active.is_(True))
        .order_by(Member.userid))).scalars())


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _only_a_tail(member: Member, staff_no: str | None, query: str) -> bool:
    """True when `member` matched only as a name ending in `query` that is less than the whole
    rest after the first word ("San" for "张三 Zhang San"): not a match."""
    name, folded = member.name.lower(), query.lower()
    return (name.endswith(" " + folded) and name.partition(" ")[2] != folded
            and name != folded and not name.startswith(folded + " ")
            and folded not in (member.userid.lower(), (staff_no or "").lower()))


async def members_for_proxy(session: AsyncSession, actor: Member, query: str, *,
                            limit: int = 10) -> list[tuple[Member, str | None]]:
    """Active members `actor` may report for whose WeCom userid, student/staff ID (any case)
    (as entered in their basic information) or name is `query`, with that ID; the actor first
    if it is themself. Members outside the actor's units are never returned, so the caller
    cannot tell "not in the roster" from "not yours" (no probing of the roster)."""
    units = await reviewed_units(session, actor)
    query = query.strip()
    rows = await session.execute(
        sa.select(Member, BasicInfo.staff_no)
        .outerjoin(BasicInfo, BasicInfo.userid == Member.userid)
        .where(Member.active.is_(True),
               sa.or_(sa.func.lower(Member.userid) == query.lower(),
                      sa.func.lower(BasicInfo.staff_no) == query.lower(),
                      # the name in any case, or its first word ("李四" for "李四 Li Si")
                      sa.func.lower(Member.name) == query.lower(),
                      sa.func.lower(Member.name).like(_like_prefix(query.lower()) + " %",
                                                      escape="\\"),
                      # or the rest after it ("Zhang San" for "张三 Zhang San", any case)
                      sa.func.lower(Member.name).like("% " + _like_prefix(query.lower()),
                                                      escape="\\")))
        .order_by(Member.userid).limit(200))
    found = [(member, staff_no) for member, staff_no in rows
             if (member.userid == actor.userid or units is None
                 or (member.unit_id is not None and member.unit_id in units))
             and not _only_a_tail(member, staff_no, query)]
    found.sort(key=lambda pair: pair[0].userid != actor.userid)
    return found[:limit]


async def unit_names(session: AsyncSession) -> dict[str, str]:
    """{unit_id: name} for every unit."""
    return dict((await session.execute(sa.select(Unit.id, Unit.name))).all())
