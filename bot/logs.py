"""Logging setup: plain text or one JSON object per line (`[log] format = "json"`), and the
callback id that ties together every line written while one callback is handled.

The id is a context variable set by the callback endpoint; asyncio copies the context into
every task the handler starts, so lines from the database retry loop or the router carry it
too. Nothing personal is ever put on a record here: messages name kinds and counts, and the
database engine hides statement parameters (storage/db.py).
"""

from __future__ import annotations

import json
import logging
import secrets
from contextvars import ContextVar
from datetime import UTC, datetime

from bot.settings import LogSettings

#: The id of the callback being handled in this context ("" outside a callback).
callback_id: ContextVar[str] = ContextVar("callback_id", default="")


def new_callback_id() -> str:
    """A short random id for one callback (set it with `callback_id.set`)."""
    return secrets.token_hex(6)


class CallbackIdFilter(logging.Filter):
    """Puts the current callback id on every record as `record.callback_id`."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.callback_id = callback_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, callback_id (when set), exc_type."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        cid = getattr(record, "callback_id", "") or callback_id.get()
        if cid:
            entry["callback_id"] = cid
        if record.exc_info and record.exc_info[0] is not None:
            # The type and the stack, not the exception's message (it may quote values).
            entry["exc_type"] = record.exc_info[0].__name__
            entry["stack"] = self.formatException(record.exc_info).splitlines()[-3:-1]
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(cid)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        cid = getattr(record, "callback_id", "") or callback_id.get()
        record.cid = f" [{cid}]" if cid else ""
        return super().format(record)


def configure(settings: LogSettings, *, verbose: bool = False, path: str | None = None
              ) -> None:
    """Install one handler on the root logger for the chosen format (replacing earlier ones):
    standard error, or the file `path` (appended to; the demo, whose terminal is the chat)."""
    handler: logging.Handler = (logging.FileHandler(path, encoding="utf-8") if path
                                else logging.StreamHandler())
    handler.setFormatter(JsonFormatter() if settings.format == "json" else TextFormatter())
    handler.addFilter(CallbackIdFilter())
    handler.yqt = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "yqt", False):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else getattr(logging, settings.level))
    # These log statements with their parameters at DEBUG: never, whatever the level.
    for noisy in ("aiosqlite", "sqlalchemy.engine", "asyncpg"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Alembic says "Running upgrade …" at INFO on every schema upgrade, which every command
    # may do first: operators' noise, shown with -v only.
    logging.getLogger("alembic").setLevel(logging.NOTSET if verbose else logging.WARNING)
