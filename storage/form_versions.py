"""Published form versions' one door (`form_version`): publish, list, and read them back.

A form is named by its `[form] id` (`basic_info`, `daily_report`). Until a version is
published the shipped file (`bot/forms/<name>.toml`) is the form; every publish stores the
whole TOML text as a new version, numbered after the newest one (or the shipped file's
version), in use for forms started on or after its `effective_from` day. The number stored is
also written into the text's `[form] version`, so that `form show` prints what runs and the
engine's version check (`ConvState.form_version`) names it. Rows are never changed or deleted:
every stored report and every form in progress keeps its version.

`current` and `by_version` here read the database every time (the CLI and the export);
`handlers/form_registry.py` is the cached view the callback path uses.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass, replace
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.conversation import form_files
from bot.conversation.form_files import FormFile, Problem
from storage.models import FormVersion

#: The forms the handlers know how to store; each starts from bot/forms/<name>.toml.
NAMES = ("basic_info", "daily_report")

_VERSION_LINE = re.compile(r"^[ \t]*version[ \t]*=[^\n]*\n?", re.MULTILINE)
_HEADER = re.compile(r"^[ \t]*\[", re.MULTILINE)
_FORM_HEADER = re.compile(r"^[ \t]*\[form\][ \t]*(#[^\n]*)?$", re.MULTILINE)


class PublishError(ValueError):
    """Nothing was published; `problems` (line numbers) when the file itself is wrong."""

    def __init__(self, message: str, problems: list[Problem] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


@dataclass(frozen=True)
class Head:
    """What the registry needs to know about a published version, without its text."""

    name: str
    version: int
    effective_from: date


# ---- the text: its [form] table's version line -----------------------------------------------


def _form_table(text: str) -> tuple[int, int] | None:
    """(start, end) offsets of the `[form]` table's body (up to the next table header)."""
    m = _FORM_HEADER.search(text)
    if m is None:
        return None
    start = m.end() + 1 if m.end() < len(text) else m.end()
    nxt = _HEADER.search(text, start)
    return start, nxt.start() if nxt else len(text)


def without_version(text: str) -> str:
    """The text with the `[form]` table's version line removed (what a checksum compares)."""
    span = _form_table(text)
    if span is None:
        return text
    start, end = span
    return text[:start] + _VERSION_LINE.sub("", text[start:end], count=1) + text[end:]


def with_version(text: str, version: int) -> str:
    """The text with `[form] version = <version>` (replaced, or added after `[form]`)."""
    span = _form_table(text)
    if span is None:
        raise ValueError("the text has no [form] table")
    start, end = span
    body = text[start:end]
    line = f"version = {version}\n"
    if _VERSION_LINE.search(body):
        body = _VERSION_LINE.sub(line, body, count=1)
    else:
        body = line + body
    result = text[:start] + body + text[end:]
    if tomllib.loads(result)["form"].get("version") != version:  # pragma: no cover - a guard
        raise ValueError("could not set the form's version")
    return result


def checksum(text: str) -> str:
    return hashlib.sha256(without_version(text).encode("utf-8")).hexdigest()


# ---- reading ---------------------------------------------------------------------------------


_PARSED: dict[str, FormFile] = {}


def parse(text: str) -> FormFile:
    """The FormFile a stored or shipped text declares (parsed once per process and text)."""
    key = hashlib.sha256(text.encode("utf-8")).hexdigest()
    found = _PARSED.get(key)
    if found is None:
        found = _PARSED[key] = form_files.load_text(text)
    return found


def shipped(name: str) -> FormFile:
    """The form shipped in the package under `name` (used until a version is published)."""
    if name not in NAMES:
        raise KeyError(name)
    return parse(form_files.shipped_text(name))


async def heads(session: AsyncSession) -> list[Head]:
    """Every published version (no texts): one small query."""
    rows = await session.execute(sa.select(FormVersion.name, FormVersion.version,
                                           FormVersion.effective_from))
    return [Head(name, version, effective) for name, version, effective in rows.all()]


async def text_of(session: AsyncSession, name: str, version: int) -> str | None:
    return (await session.execute(sa.select(FormVersion.text).where(
        FormVersion.name == name, FormVersion.version == version))).scalar_one_or_none()


async def versions(session: AsyncSession, name: str | None = None) -> list[FormVersion]:
    """The published versions (of one form), oldest first."""
    query = sa.select(FormVersion).order_by(FormVersion.name, FormVersion.version)
    if name is not None:
        query = query.where(FormVersion.name == name)
    return list((await session.execute(query)).scalars().all())


def pick(published: list[Head], name: str, day: date) -> int | None:
    """The version of `name` in use on `day`: the newest published one effective by then."""
    found = [h.version for h in published if h.name == name and h.effective_from <= day]
    return max(found) if found else None


def built(text: str, version: int) -> FormFile:
    """A stored text as a FormFile whose form carries the stored version number."""
    ff = parse(text)
    if ff.form.version != version:
        ff = FormFile(replace(ff.form, version=version), ff.abnormal, ff.text)
    return ff


def never_asked(form: FormFile, earlier: list[FormFile]) -> tuple[str, ...]:
    """The question keys `form` asks that none of the `earlier` versions asked: new data
    collected, which the privacy notice must cover (a reworded question is not new)."""
    asked = {q.key for ff in earlier for q in ff.form.questions}
    return tuple(q.key for q in form.form.questions if q.key not in asked)


async def current(session: AsyncSession, name: str, day: date) -> FormFile:
    """The form `name` as in use on `day` (the shipped file when none is published yet)."""
    version = pick(await heads(session), name, day)
    if version is None:
        return shipped(name)
    text = await text_of(session, name, version)
    assert text is not None
    return built(text, version)


async def by_version(session: AsyncSession, name: str, version: int) -> FormFile | None:
    """Version `version` of `name`: published, else the shipped file if it has that number."""
    text = await text_of(session, name, version)
    if text is not None:
        return built(text, version)
    if name in NAMES:
        ff = shipped(name)
        if ff.form.version == version:
            return ff
    return None


# ---- publishing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    name: str
    version: int
    effective_from: date
    questions: int
    previous: int  # the version in use before (published, or the shipped file's)
    added: tuple[str, ...]  # question keys the previous version did not have
    removed: tuple[str, ...]
    #: Question keys no earlier version (shipped or published) asked: new data collected, so
    #: every member is asked to accept the privacy notice again (handlers/privacy_notice.py).
    new_data: tuple[str, ...] = ()


async def publish(session: AsyncSession, text: str, *, effective_from: date, today: date,
                  now: datetime, by: str = "") -> Published:
    """Store `text` as the next version of the form it declares.

    Refused (PublishError, nothing stored) when the file has problems (`form check`), names a
    form the bot does not run, starts in the past, or is identical to the newest version."""
    problems = form_files.check_text(text)
    if problems:
        raise PublishError(f"{len(problems)} problem(s)", problems)
    ff = form_files.load_text(text)
    name = ff.form.id
    if name not in NAMES:
        raise PublishError(f"the file declares form {name!r}; the bot runs "
                           f"{', '.join(sorted(NAMES))}")
    if effective_from < today:
        raise PublishError(f"--from {effective_from.isoformat()} is in the past "
                           f"(today is {today.isoformat()})")
    published = await versions(session, name)
    base = shipped(name)
    newest_text = published[-1].text if published else base.text
    newest_version = published[-1].version if published else base.form.version
    if checksum(text) == checksum(newest_text):
        raise PublishError(f"{name} version {newest_version} is this very text")
    number = max(newest_version, base.form.version) + 1
    stored = with_version(text, number)
    before = await current(session, name, effective_from)
    row = FormVersion(name=name, version=number, text=stored, checksum=checksum(stored),
                      effective_from=effective_from, published_at=now, published_by=by[:64])
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError as exc:  # another publish took the number meanwhile
        raise PublishError(f"{name} version {number} was published meanwhile; "
                           "run the command again") from exc
    old = {q.key for q in before.form.questions}
    new = [q.key for q in ff.form.questions]
    earlier = [base, *(built(v.text, v.version) for v in published)]
    return Published(name=name, version=number, effective_from=effective_from,
                     questions=len(new), previous=before.form.version,
                     added=tuple(k for k in new if k not in old),
                     removed=tuple(q.key for q in before.form.questions if q.key not in new),
                     new_data=never_asked(ff, earlier))
