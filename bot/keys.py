"""Typed application keys: everything the server shares lives on the app, not in globals."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.clock import Clock
    from bot.outbox import OutboxSender
    from bot.settings import Settings
    from bot.wecom.crypto import WeComCrypto
    from handlers.processor import InboundProcessor
    from storage.db import Database

SETTINGS = web.AppKey("settings", "Settings")
CLOCK = web.AppKey("clock", "Clock")
DATABASE = web.AppKey("database", "Database")
CRYPTO = web.AppKey("crypto", "WeComCrypto")
PROCESSOR = web.AppKey("processor", "InboundProcessor")
SENDER = web.AppKey("sender", "OutboxSender")
READY = web.AppKey("ready", asyncio.Event)
