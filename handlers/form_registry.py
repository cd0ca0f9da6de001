"""Which form: the one place that answers it for the chat, the web pages and the alerts.

- `current(name, day)`: the form to start on `day` — the newest published version effective
  by then (`yiqingtong form publish`), else the file shipped in the package.
- `by_version(name, version)`: a form in progress finishes on the version it started with,
  and a stored report is shown with the version it answered.

- `widening(day)`: how many published versions in use by `day` ask something (a question
  key) that no earlier version of their form asked — each raises the privacy notice version
  members must have accepted (handlers/privacy_notice.py).

A running instance picks a publish up without a restart: the list of published versions
(names, numbers and days, no texts) is read again when it is older than `check_seconds` by the
injected clock — one tiny query every few seconds at most, never one per callback. A
version's text is read once, the first time it is needed, and kept: versions never change.
"""

from __future__ import annotations

from datetime import date, datetime

from bot.conversation.form_files import FormFile
from storage import form_versions
from storage.db import AsyncSession

__all__ = ["BASIC", "CHECK_SECONDS", "DAILY", "FormRegistry"]

BASIC = "basic_info"
DAILY = "daily_report"
#: How stale the list of published versions may get (seconds of the injected clock).
CHECK_SECONDS = 5.0


class FormRegistry:
    """Per application (in `Deps`): the published versions as last read, and parsed forms."""

    def __init__(self, check_seconds: float = CHECK_SECONDS) -> None:
        self.check_seconds = check_seconds
        self._heads: list[form_versions.Head] | None = None
        self._checked_at: datetime | None = None
        self._forms: dict[tuple[str, int], FormFile] = {}
        self._widens: dict[tuple[str, int], bool] = {}  # versions never change: kept
        self.reads = 0  # how many times the list was read (tests count it)

    async def _heads_now(self, session: AsyncSession, now: datetime
                         ) -> list[form_versions.Head]:
        checked = self._checked_at
        if (self._heads is None or checked is None or now < checked
                or (now - checked).total_seconds() >= self.check_seconds):
            self._heads = await form_versions.heads(session)
            self._checked_at = now
            self.reads += 1
        return self._heads

    def forget(self) -> None:
        """Read the list of published versions again at the next use (after a publish)."""
        self._heads = None

    async def current(self, session: AsyncSession, name: str, day: date, now: datetime
                      ) -> FormFile:
        """The form `name` to start on `day`."""
        version = form_versions.pick(await self._heads_now(session, now), name, day)
        if version is None:
            return form_versions.shipped(name)
        found = await self.by_version(session, name, version)
        assert found is not None, (name, version)
        return found

    async def by_version(self, session: AsyncSession, name: str, version: int
                         ) -> FormFile | None:
        """Version `version` of `name` (published or shipped); None when there is no such one."""
        key = (name, version)
        found = self._forms.get(key)
        if found is None:
            found = await form_versions.by_version(session, name, version)
            if found is None:
                return None
            self._forms[key] = found
        return found

    async def widening(self, session: AsyncSession, day: date, now: datetime) -> int:
        """How many published versions in use by `day` (effective on or before it) ask a
        question no earlier version of the same form (shipped or published) asked."""
        heads = await self._heads_now(session, now)
        count = 0
        for head in heads:
            if head.effective_from > day:
                continue  # not collecting anything yet
            key = (head.name, head.version)
            widens = self._widens.get(key)
            if widens is None:
                widens = self._widens[key] = await self._asks_new(session, head, heads)
            count += widens
        return count

    async def _asks_new(self, session: AsyncSession, head: form_versions.Head,
                        heads: list[form_versions.Head]) -> bool:
        form = await self.by_version(session, head.name, head.version)
        assert form is not None, head
        earlier = [form_versions.shipped(head.name)]
        for other in sorted(heads, key=lambda h: h.version):
            if other.name == head.name and other.version < head.version:
                found = await self.by_version(session, other.name, other.version)
                assert found is not None, other
                earlier.append(found)
        return bool(form_versions.never_asked(form, earlier))

    async def for_record(self, session: AsyncSession, name: str, version: int | None,
                         day: date, now: datetime) -> FormFile:
        """The form a stored record answered: its version, else (unknown or gone) the one in
        use on its day — so a summary is always shown with the questions' own labels."""
        if version is not None:
            found = await self.by_version(session, name, version)
            if found is not None:
                return found
        return await self.current(session, name, day, now)
