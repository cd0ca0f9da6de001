"""Prometheus metrics (`GET /metrics`): what operators watch.

Counters and the latency histogram are updated as things happen; the outbox, reminder, report
and leader gauges are read from the database when scraped, so every instance reports the same
shared figures. Each app has its own registry (no process globals), and no label ever holds a
userid or any content — only kinds, results, APIs and errcodes.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from bot.clock import local_date
from handlers.keys import CLOCK, DATABASE, METRICS
from storage import outbox as outbox_repo
from storage.summary import reports_on

#: The callback kinds we label by (anything else is "other", so labels stay bounded).
KINDS = frozenset({"text", "location", "LOCATION", "subscribe", "unsubscribe", "enter_agent",
                   "click", "template_card_event", "other", "unknown"})


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.callbacks = Counter("yqt_callbacks", "Callbacks by kind and result "
                                 "(ok, duplicate, rejected, limited, error)",
                                 ["kind", "result"], registry=r)
        self.callback_seconds = Histogram(
            "yqt_callback_seconds", "Time from request to answer for a callback POST",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0), registry=r)
        self.batch_size = Histogram(
            "yqt_callback_batch_size", "Callbacks applied and committed together in one "
            "transaction (group commit)", buckets=(1, 2, 4, 8, 16, 32, 64), registry=r)
        self.batch_seconds = Histogram(
            "yqt_callback_batch_seconds", "Time to apply and commit one batch of callbacks",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
            registry=r)
        self.wecom_calls = Counter("yqt_wecom_sends", "Outbox calls to WeCom by API and errcode",
                                   ["api", "errcode"], registry=r)
        self.wecom_seconds = Histogram("yqt_wecom_send_seconds", "WeCom send call latency",
                                       registry=r)
        self.outbox = Gauge("yqt_outbox_rows", "Outbox rows by status", ["status"], registry=r)
        self.reminders = Gauge("yqt_reminders_today", "Today's reminder rows by status "
                               "(pending = queued, sent, cancelled = reported first, dead)",
                               ["status"], registry=r)
        self.reports = Gauge("yqt_reports_today", "Daily reports stored for today", registry=r)
        self.leader = Gauge("yqt_scheduler_leader",
                            "1 if this instance runs the scheduler", registry=r)
        self.gc_pauses = Histogram(
            "yqt_gc_pause_seconds", "Garbage-collection pauses of this process by generation: "
            "the whole process stops for each", ["generation"],
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0), registry=r)
        self.gc_frozen = Gauge("yqt_gc_frozen_objects", "Objects moved out of the collector's "
                               "way at startup (gc.freeze)", registry=r)
        self.is_leader: Callable[[], bool] = lambda: False
        self._gc_started = 0.0

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            self.gc_pauses.labels(str(info["generation"])).observe(
                time.perf_counter() - self._gc_started)

    def watch_gc(self) -> Callable[[], None]:
        """Time this process's collections (`gc.callbacks` is process-wide: call the returned
        function when the app stops)."""
        gc.callbacks.append(self._on_gc)
        return lambda: gc.callbacks.remove(self._on_gc)

    def callback(self, kind: str, result: str, seconds: float | None = None) -> None:
        self.callbacks.labels(kind if kind in KINDS else "other", result).inc()
        if seconds is not None:
            self.callback_seconds.observe(seconds)

    def batch(self, size: int, seconds: float) -> None:
        """The callback processor's observer (handlers.processor.InboundProcessor)."""
        self.batch_size.observe(size)
        self.batch_seconds.observe(seconds)

    def sent(self, api: str, errcode: int, seconds: float, rows: int) -> None:
        """The outbox sender's observer (handlers.sender.SendObserver)."""
        self.wecom_calls.labels(api, str(errcode)).inc()
        self.wecom_seconds.observe(seconds)


async def metrics(request: web.Request) -> web.Response:
    m = request.app[METRICS]
    clock = request.app[CLOCK]
    today = local_date(clock)
    async with request.app[DATABASE].session() as session:
        for status, n in (await outbox_repo.counts_by_status(session)).items():
            m.outbox.labels(status).set(n)
        for status, n in (await outbox_repo.reminder_counts(session, today)).items():
            m.reminders.labels(status).set(n)
        m.reports.set(await reports_on(session, today))
    m.leader.set(1 if m.is_leader() else 0)
    m.gc_frozen.set(gc.get_freeze_count())
    return web.Response(body=generate_latest(m.registry),
                        headers={"Content-Type": CONTENT_TYPE_LATEST})
