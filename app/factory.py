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
    PROCESSOR,
    READY,
    SENDER,
    SETTINGS,
)
from handlers.processor import InboundProcessor
from handlers.router import dispatch
from handlers.sender import OutboxSender
from handlers.web import setup_web
from scheduler.jobs import JobDeps
from scheduler.setup import SchedulerLeader
from storage.db import Database
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
    app[CRYPTO] = WeComCrypto(settings.wecom.token.get_secret_value(),
                              settings.wecom.encoding_aes_key.get_secret_value(),
                              settings.wecom.corp_id)

    async def resources(app: web.Application) -> AsyncIterator[None]:
        db = Database(settings.database.url)
        await db.create_schema()
        http = aiohttp.ClientSession()
        client = WeComClient(http, settings.wecom, DbTokenStore(db), clock)
        sender = OutboxSender(db, client, settings.outbox, clock)
        deps = Deps(settings=settings, db=db, clock=clock, geocode=geo.locate)
        app[DATABASE] = db
        app[SENDER] = sender
        app[DEPS] = deps
        app[CLIENT] = client
        app[PROCESSOR] = InboundProcessor(deps, dispatch, on_commit=sender.wake)
        warm = asyncio.get_running_loop().run_in_executor(None, geo.warm)
        tasks = []
        if run_sender:
            tasks.append(asyncio.create_task(sender.run(), name="outbox"))
        if settings.schedule.enabled:
            leader = SchedulerLeader(JobDeps(settings, db, clock, wake=sender.wake))
            tasks.append(asyncio.create_task(leader.run(), name="scheduler"))
        await warm
        app[READY].set()
        log.info("yiqingtong ready on %s", settings.server.callback_path)
        try:
            yield
        finally:
            app[READY].clear()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await http.close()
            await db.dispose()

    app.cleanup_ctx.append(resources)
    app.router.add_get(settings.server.callback_path, verify_url)
    app.router.add_post(settings.server.callback_path, receive)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    setup_web(app, settings)
    return app
