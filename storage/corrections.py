"""Changes only an administrator makes, from the command line, each one audited.

Why here and not in chat: basic information (基本信息) is final for the member once submitted,
as in the original app; when it is wrong, an administrator corrects one field at a time, and the
audit log keeps who changed what, when, from which value to which, and why. The values are
checked with the same validators as the form, so a correction cannot store what a member could
not have typed. Reviewer assignments are added here too, by an operator, never through chat.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from bot import catalog
from bot.conversation import validators as v
from storage import audit
from storage.form_versions import shipped
from storage.audit import AuditAction
from storage.models import BasicInfo, Member, ReviewerAssignment, Unit

FIELDS = ("name", "staff_no", "mobile", "beijing_hukou", "hukou_address", "member_type")
#: What each field is called on the screens, for the list of valid fields.
FIELD_LABELS = {"name": "姓名 Name", "staff_no": "学工号 Student/Staff ID",
                "mobile": "手机号 Mobile", "beijing_hukou": "北京户籍 Beijing hukou (yes/no)",
                "hukou_address": "户籍地址 Household address",
                "member_type": "人员类别 Member type"}
#: Other names a field goes by: every screen says 学工号 / Student/Staff ID for staff_no.
FIELD_ALIASES = {"student_id": "staff_no", "staff_id": "staff_no", "学工号": "staff_no",
                 "姓名": "name", "手机号": "mobile"}
_YES = frozenset({"yes", "y", "true", "1", "是", "京籍", "北京"})
_NO = frozenset({"no", "n", "false", "0", "否", "非京籍"})


class CorrectionError(ValueError):
    """The correction cannot be made; the message says why; nothing was changed."""


@dataclass(frozen=True)
class _Env:
    today: date


def _form_rule(parser: v.Parser, what: str) -> Callable[[str, date], Any]:
    def parse(raw: str, today: date) -> Any:
        try:
            return parser(raw, _Env(today))
        except v.InvalidAnswer as exc:
            # The form's own words for what is wrong (e.g. the emoji found in a name).
            raise CorrectionError(f"{raw!r} is not a valid {what}: "
                                  f"{catalog.stacked(exc.key, 'en', **exc.params)}") from exc

    return parse


def _hukou(raw: str, today: date) -> bool:
    word = raw.strip().casefold()
    if word in _YES:
        return True
    if word in _NO:
        return False
    raise CorrectionError(f"{raw!r} is not yes or no (beijing_hukou takes yes or no)")


def _member_type(raw: str, today: date) -> str:
    word = raw.strip().casefold()
    # The member types are the options of the basic-information form's question.
    types = tuple(o.id for o in shipped("basic_info").form.question("member_type").options)
    if word not in types:
        raise CorrectionError(f"{raw!r} is not a member type (use {', '.join(types)})")
    return word


PARSERS: dict[str, Callable[[str, date], Any]] = {
    "name": _form_rule(v.person_name, "name"),
    "staff_no": _form_rule(v.staff_no, "staff number (3-20 letters or digits, no spaces or dashes)"),
    "mobile": _form_rule(v.mobile, "mobile number (11-digit mainland, or + and 8-15 digits)"),
    "beijing_hukou": _hukou,
    "hukou_address": _form_rule(v.address, "household address"),
    "member_type": _member_type,
}


def field_of(field: str) -> str:
    """The field `field` names: its own name or an alias (student_id → staff_no)."""
    name = FIELD_ALIASES.get(field.strip().casefold(), field.strip().casefold())
    if name not in PARSERS:
        listed = "; ".join(f"{f} ({FIELD_LABELS[f]})" for f in FIELDS)
        raise CorrectionError(f"unknown field {field!r}; fields: {listed}")
    return name


def parse_value(field: str, raw: str, today: date) -> Any:
    """The stored form of `raw` for `field` (or an alias), validated as the basic-info form
    does."""
    return PARSERS[field_of(field)](raw, today)


@dataclass(frozen=True)
class Correction:
    userid: str
    field: str
    old: Any
    new: Any
    changed: bool
    also_cleared: dict[str, Any]


async def correct_basic_info(session: AsyncSession, userid: str, field: str, raw: str, *,
                             now: datetime, today: date, by: str, reason: str | None = None
                             ) -> Correction:
    """Change one field of one member's BasicInfo and audit it; the caller owns the
    transaction. Setting beijing_hukou to yes also clears hukou_address (the form asks for the
    address only without a Beijing hukou); both changes are in the same audit row."""
    field = field_of(field)
    value = parse_value(field, raw, today)
    info = await session.get(BasicInfo, userid, with_for_update=True)
    if info is None:
        member = await session.get(Member, userid)
        if member is None:
            raise CorrectionError(f"unknown member {userid!r}")
        raise CorrectionError(f"{userid} ({member.name}) has not submitted basic information; "
                              "there is nothing to correct")
    if field == "hukou_address" and info.beijing_hukou:
        raise CorrectionError(f"{userid} has a Beijing hukou, so no household address is "
                              "recorded; correct beijing_hukou to no first")
    old = getattr(info, field)
    cleared: dict[str, Any] = {}
    if old == value:
        return Correction(userid, field, old, value, False, cleared)
    setattr(info, field, value)
    answers = dict(info.answers or {})
    answers[field] = value
    if field == "beijing_hukou" and value is True and info.hukou_address is not None:
        cleared["hukou_address"] = info.hukou_address
        info.hukou_address = None
        answers.pop("hukou_address", None)
    info.answers = answers
    session.add(info)
    detail: dict[str, Any] = {"field": field, "old": old, "new": value, "by": by,
                              "reason": reason or ""}
    if cleared:
        detail["cleared"] = cleared
    audit.record(session, at=now, actor=by, action=AuditAction.BASIC_INFO_CORRECT,
                 target=userid, detail=detail)
    return Correction(userid, field, old, value, True, cleared)


async def find_unit(session: AsyncSession, unit: str) -> Unit:
    """A unit by id, or by name when exactly one unit has that name."""
    found = await session.get(Unit, unit)
    if found is not None:
        return found
    named = (await session.execute(sa.select(Unit).where(Unit.name == unit))).scalars().all()
    if len(named) == 1:
        return named[0]
    if len(named) > 1:
        raise CorrectionError(f"{len(named)} units are named {unit!r}; give the unit id "
                              f"({', '.join(sorted(u.id for u in named))})")
    raise CorrectionError(f"unknown unit {unit!r}")


@dataclass(frozen=True)
class ReviewerAdded:
    member: Member
    unit: Unit
    added: bool
    promoted: bool


async def add_reviewer(session: AsyncSession, userid: str, unit: str, *, now: datetime,
                       actor: str = "cli") -> ReviewerAdded:
    """Make `userid` a reviewer of `unit` (and so of every unit below it); a member becomes a
    reviewer, an admin stays an admin. Idempotent; audited when something changed."""
    member = await session.get(Member, userid)
    if member is None:
        raise CorrectionError(f"unknown member {userid!r} (import or sync the roster first)")
    if not member.active:
        raise CorrectionError(f"{userid} ({member.name}) is inactive; an inactive member "
                              "cannot review")
    target = await find_unit(session, unit)
    present = await session.get(ReviewerAssignment, (member.userid, target.id))
    promoted = member.role == "member"
    if present is not None and not promoted:
        return ReviewerAdded(member, target, False, False)
    if present is None:
        session.add(ReviewerAssignment(userid=member.userid, unit_id=target.id))
    if promoted:
        member.role = "reviewer"
        member.updated_at = now
        session.add(member)
    audit.record(session, at=now, actor=actor, action=AuditAction.REVIEWER_ADD,
                 target=member.userid, detail={"unit": target.id, "promoted": promoted})
    return ReviewerAdded(member, target, present is None, promoted)
