"""Which form: the one place that answers it for the chat, the web pages and the alerts.

- `current(name, day)`: the form to start on `day` — the newest published version effective
  by then (`yiqingtong form publish`), else the file shipped in the package.
- `by_version(name, version)`: a form in progress finishes on the version it started with,
  and a stored report is shown with the version it answered.

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

    async def for_record(self, session: AsyncSession, name: str, version: int | None,
                         day: date, now: datetime) -> FormFile:
        """The form a stored record answered: its version, else (unknown or gone) the one in
        use on its day — so a summary is always shown with the questions' own labels."""
        if version is not None:
            found = await self.by_version(session, name, version)
            if found is not None:
                return found
        return await self.current(session, name, day, now)
