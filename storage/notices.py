"""Policy notices: who a notice went to and who has read it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from storage import audit
from storage.models import Member, Notice, NoticeRecipient
from storage.units import descendants, unit_tree

MAX_TITLE = 128
MAX_BODY = 4000


class NoticeError(ValueError):
    """The notice cannot be sent as asked; nothing was stored."""


@dataclass(frozen=True)
class NoticeStatus:
    notice: Notice
    read: list[tuple[str, str, datetime]]  # (userid, name, read_at)
    unread: list[tuple[str, str]]  # (userid, name)


def parse_notice(text: str) -> tuple[str, str]:
    """A notice file: the first non-empty line is the title, the rest the body."""
    lines = text.replace("\r\n", "\n").strip().split("\n")
    title = lines[0].strip().lstrip("#").strip() if lines and lines[0].strip() else ""
    body = "\n".join(lines[1:]).strip()
    if not title:
        raise NoticeError("the notice file is empty: its first line is the title")
    if not body:
        raise NoticeError("the notice has a title but no text below it")
    if len(title) > MAX_TITLE:
        raise NoticeError(f"the title is longer than {MAX_TITLE} characters")
    if len(body) > MAX_BODY:
        raise NoticeError(f"the text is longer than {MAX_BODY} characters")
    return title, body


async def notice_audience(session: AsyncSession, unit: str | None) -> list[Member]:
    """Active, following members of `unit` and the units below it (None: everyone)."""
    query = sa.select(Member).where(Member.active.is_(True), Member.following.is_(True))
    if unit is not None:
        tree = await unit_tree(session)
        if unit not in tree:
            raise NoticeError(f"unknown unit {unit!r}")
        query = query.where(Member.unit_id.in_(sorted(descendants(tree, {unit}))))
    return list((await session.execute(query.order_by(Member.userid))).scalars())


async def create_notice(session: AsyncSession, *, unit: str | None, title: str, body: str,
                        cards: bool, by: str, now: datetime, recipients: list[Member]
                        ) -> Notice:
    notice = Notice(unit_id=unit, title=title, body=body, cards=cards, created_by=by[:64],
                    created_at=now)
    session.add(notice)
    await session.flush()
    assert notice.id is not None
    if recipients:
        await session.execute(sa.insert(NoticeRecipient), [
            {"notice_id": notice.id, "userid": m.userid, "read_at": None} for m in recipients])
    audit.record(session, at=now, actor=by, action=audit.AuditAction.NOTICE_SEND,
                 target=str(notice.id),
                 detail={"unit": unit, "recipients": len(recipients), "cards": cards})
    return notice


async def recipient(session: AsyncSession, notice_id: int, userid: str
                    ) -> NoticeRecipient | None:
    return await session.get(NoticeRecipient, (notice_id, userid))


async def latest_unread(session: AsyncSession, userid: str) -> NoticeRecipient | None:
    return (await session.execute(
        sa.select(NoticeRecipient).where(NoticeRecipient.userid == userid,
                                         NoticeRecipient.read_at.is_(None))
        .order_by(NoticeRecipient.notice_id.desc()).limit(1))).scalars().first()


async def mark_read(session: AsyncSession, row: NoticeRecipient, now: datetime) -> bool:
    """Record the first reading; False when it was read before (the first time stays)."""
    if row.read_at is not None:
        return False
    row.read_at = now
    session.add(row)
    return True


async def notice_status(session: AsyncSession, notice_id: int) -> NoticeStatus | None:
    notice = await session.get(Notice, notice_id)
    if notice is None:
        return None
    rows = (await session.execute(
        sa.select(NoticeRecipient.userid, Member.name, NoticeRecipient.read_at)
        .outerjoin(Member, Member.userid == NoticeRecipient.userid)
        .where(NoticeRecipient.notice_id == notice_id)
        .order_by(NoticeRecipient.userid))).all()
    read = sorted(((u, n or u, at) for u, n, at in rows if at is not None), key=lambda r: r[2])
    unread = [(u, n or u) for u, n, at in rows if at is None]
    return NoticeStatus(notice, read, unread)
