"""The application factory: every resource is created in a cleanup context, none is global."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from bot import geo
from bot.clock import Clock, SystemClock
from bot.settings import Settings
from bot.wecom.client import WeComClient
from bot.wecom.crypto import WeComCrypto
from handlers.callback import receive, verify_url
from handlers.context import Deps
from handlers.health import healthz, readyz
from handlers.keys import (
    CLIENT,
    CLOCK,
    CRYPTO,
    DATABASE,
    DEPS,
    LIMITER,
    METRICS,
    PROCESSOR,
    READY,
    SENDER,
    SETTINGS,
)
from handlers.metrics import Metrics, metrics
from handlers.processor import InboundProcessor
from handlers.ratelimit import InboundLimiter
from handlers.router import dispatch
from handlers.sender import OutboxSender
from handlers.web import setup_web
from scheduler.jobs import JobDeps
from scheduler.setup import SchedulerLeader
from storage.db import open_database
from storage.tokens import DbTokenStore

log = logging.getLogger("app.factory")


def create_app(settings: Settings, *, clock: Clock | None = None,
               run_sender: bool = True) -> web.Application:
    """Build the callback server; `run_sender=False` leaves delivery to the caller (tests).

    The scheduler runs when `[schedule] enabled` is true, on the one instance that wins the
    election (scheduler/setup.py)."""
    clock = clock or SystemClock(settings.schedule.tz)
    app = web.Application(client_max_size=settings.server.max_body_bytes)
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[READY] = asyncio.Event()
    app[METRICS] = Metrics()
    app[LIMITER] = InboundLimiter(settings.server.member_callbacks_per_minute)
    app[CRYPTO] = WeComCrypto(settings.wecom.token.get_secret_value(),
                              settings.wecom.encoding_aes_key.get_secret_value(),
                              settings.wecom.corp_id)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        async with open_database(settings.database.url) as db, aiohttp.ClientSession() as http:
            client = WeComClient(http, settings.wecom, DbTokenStore(db), clock)
            sender = OutboxSender(db, client, settings.outbox, clock,
                                  observer=app[METRICS].sent)
            deps = Deps(settings=settings, db=db, clock=clock, geocode=geo.locate)
            app[DATABASE] = db
            app[SENDER] = sender
            app[DEPS] = deps
            app[CLIENT] = client
            processor = InboundProcessor(deps, dispatch, on_commit=sender.wake,
                                         on_batch=app[METRICS].batch)
            app[PROCESSOR] = processor
            if not db.is_postgres:
                # One SQLite connection: a sender round waits (briefly) for queued callbacks.
                sender.yield_to = lambda: processor.wait_idle(0.05)
            warm = asyncio.get_running_loop().run_in_executor(None, geo.warm)
            tasks = []
            if run_sender:
                tasks.append(asyncio.create_task(sender.run(), name="outbox"))
            if settings.schedule.enabled:
                leader = SchedulerLeader(JobDeps(settings, db, clock, wake=sender.wake))
                app[METRICS].is_leader = lambda: leader.is_leader
                tasks.append(asyncio.create_task(leader.run(), name="scheduler"))
            await warm
            if await db.autovacuum_off():
                log.warning("PostgreSQL's autovacuum is off: tables are never analysed and "
                            "queries slow down as they grow; turn it on (its default) or run "
                            "ANALYZE regularly")
            app[READY].set()
            log.info("yiqingtong ready on %s", settings.server.callback_path)
            unwatch_gc = app[METRICS].watch_gc()
            try:
                yield
            finally:
                unwatch_gc()
                app[READY].clear()
                for task in tasks:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task

    app.cleanup_ctx.append(resources)
    app.router.add_get(settings.server.callback_path, verify_url)
    app.router.add_post(settings.server.callback_path, receive)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    setup_web(app, settings)
    return app
