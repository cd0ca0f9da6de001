"""Typed application keys: everything the server shares lives on the app, not in globals."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.settings import Settings
    from bot.wecom.client import WeComClient
    from bot.wecom.crypto import WeComCrypto
    from handlers.context import Deps
    from handlers.metrics import Metrics
    from handlers.processor import InboundProcessor
    from handlers.ratelimit import InboundLimiter
    from handlers.sender import OutboxSender
    from storage.db import Database

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
DATABASE: web.AppKey[Database] = web.AppKey("database")
CRYPTO: web.AppKey[WeComCrypto] = web.AppKey("crypto")
PROCESSOR: web.AppKey[InboundProcessor] = web.AppKey("processor")
SENDER: web.AppKey[OutboxSender] = web.AppKey("sender")
READY: web.AppKey[asyncio.Event] = web.AppKey("ready")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
LIMITER: web.AppKey[InboundLimiter] = web.AppKey("limiter")
DEPS: web.AppKey[Deps] = web.AppKey("deps")
CLIENT: web.AppKey[WeComClient] = web.AppKey("client")
