"""The per-member inbound limit: a client or script sending more than N callbacks a minute is
answered once and then ignored until the minute is over, without costing other members.

Checked after the callback is verified (so the userid is WeCom's, not a forger's) and before
any database work, in this process: each instance protects itself, which is what matters for
cost. Times come from the app's clock.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from enum import StrEnum

WINDOW = timedelta(minutes=1)


class Verdict(StrEnum):
    OK = "ok"
    FIRST_OVER = "first_over"  # answer once: "you are sending too fast"
    OVER = "over"  # ignore (answer 200, do nothing)


class InboundLimiter:
    def __init__(self, per_minute: int) -> None:
        self._limit = per_minute
        self._seen: dict[str, deque[datetime]] = {}
        self._blocked: dict[str, datetime] = {}

    def check(self, userid: str, now: datetime) -> Verdict:
        until = self._blocked.get(userid)
        if until is not None:
            if now < until:
                return Verdict.OVER
            del self._blocked[userid]
            self._seen.pop(userid, None)
        seen = self._seen.setdefault(userid, deque())
        while seen and now - seen[0] >= WINDOW:
            seen.popleft()
        seen.append(now)
        if len(seen) > self._limit:
            self._blocked[userid] = now + WINDOW
            return Verdict.FIRST_OVER
        if len(self._seen) > 10_000:
            self._forget_idle(now)
        return Verdict.OK

    def _forget_idle(self, now: datetime) -> None:
        for userid in [u for u, s in self._seen.items() if not s or now - s[-1] >= WINDOW]:
            del self._seen[userid]
