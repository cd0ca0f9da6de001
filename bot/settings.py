"""The operations contract: settings.toml plus YQT_<SECTION>__<KEY> environment overrides.

One frozen `Settings` object is built at startup and passed explicitly to everything that needs
it; nothing reads the environment at import time. A bad value fails at startup with one line that
names the key, and secrets are `SecretStr` so they never show up in logs, reprs or errors.
"""

from __future__ import annotations

import contextvars
import os
import re
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

DEFAULT_CONFIG = Path("settings.toml")
ENV_PREFIX = "YQT_"

_AES_KEY_RE = re.compile(r"^[A-Za-z0-9]{43}$")
_TOKEN_RE = re.compile(r"^[A-Za-z0-9]{1,32}$")
_HHMM_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

# Which TOML file the settings sources read; set only inside load_settings().
_toml_path: contextvars.ContextVar[Path | None] = contextvars.ContextVar("yqt_toml", default=None)


class ConfigError(Exception):
    """A configuration value is missing or wrong; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WeComSettings(_Section):
    corp_id: str = ""
    agent_id: int = Field(default=0, ge=0)
    secret: SecretStr = SecretStr("")
    token: SecretStr = SecretStr("")
    encoding_aes_key: SecretStr = SecretStr("")
    api_base: str = "https://qyapi.weixin.qq.com"
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)

    @field_validator("token")
    @classmethod
    def _token_shape(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if raw and not _TOKEN_RE.match(raw):
            raise ValueError("must be at most 32 letters or digits")
        return value

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes_key_shape(cls, value: SecretStr) -> SecretStr:
        raw = value.get_secret_value()
        if raw and not _AES_KEY_RE.match(raw):
            raise ValueError("must be exactly 43 characters from [A-Za-z0-9]")
        return value

    @field_validator("corp_id")
    @classmethod
    def _corp_id_shape(cls, value: str) -> str:
        if value and not re.match(r"^[A-Za-z0-9_-]{1,64}$", value):
            raise ValueError("must be the corp id shown in the admin console (letters, digits)")
        return value

    @field_validator("api_base")
    @classmethod
    def _api_base_shape(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+(:\d+)?/?$", value):
            raise ValueError("must be a base URL such as https://qyapi.weixin.qq.com")
        return value.rstrip("/")


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    callback_path: str = "/wecom/callback"
    max_body_bytes: int = Field(default=65536, ge=1024, le=10 * 1024 * 1024)
    timestamp_window_seconds: int = Field(default=300, ge=0)
    # A member (or a script using their account) sending more callbacks than this in a minute
    # is answered once and then ignored until the minute is over; others are not affected.
    member_callbacks_per_minute: int = Field(default=60, ge=1, le=10_000)

    @field_validator("callback_path")
    @classmethod
    def _path_shape(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value


class DatabaseSettings(_Section):
    url: str = "sqlite:///yiqingtong.db"

    @field_validator("url")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        if not re.match(r"^(sqlite|postgresql)(\+\w+)?://", value):
            raise ValueError("must be sqlite:///PATH or postgresql+asyncpg://USER@HOST/DB")
        return value


class BotSettings(_Section):
    default_language: Literal["zh", "en"] = "zh"
    default_rendering: Literal["text", "cards"] = "text"
    form_timeout_minutes: int = Field(default=30, ge=1, le=24 * 60)
    location_fresh_minutes: int = Field(default=10, ge=1, le=24 * 60)
    fever_threshold: float = Field(default=37.3, ge=36.0, le=39.0)
    # Answer a member's message with the first reply inside the callback's own HTTP answer
    # (WeCom's encrypted passive reply) instead of a message/send through the outbox.
    passive_replies: bool = True


class OutboxSettings(_Section):
    batch_size: int = Field(default=200, ge=1, le=5000)
    # Transient failures (429, 5xx, timeouts, -1, 45009) back off exponentially up to
    # max_backoff_seconds; 20 attempts at up to an hour each span about ten hours.
    max_attempts: int = Field(default=20, ge=1, le=100)
    max_backoff_seconds: float = Field(default=3600.0, ge=1, le=24 * 3600)
    # A claim lasts this long and is renewed while the sender works on it, so rows held by a
    # process that died are sent again within seconds.
    lease_seconds: float = Field(default=10.0, ge=2, le=600)
    poll_interval_seconds: float = Field(default=2.0, gt=0, le=60)
    # WeCom silently drops a member's 31st message in a minute and 1001st in an hour; the
    # pacing counts every instance's sends (the outbox table), so a small margin suffices.
    per_member_per_minute: int = Field(default=25, ge=1, le=30)
    per_member_per_hour: int = Field(default=900, ge=1, le=1000)


class ScheduleSettings(_Section):
    enabled: bool = True
    timezone: str = "Asia/Shanghai"
    morning_reminder: str = "07:25"
    second_reminder: str = "10:55"
    reviewer_digest: str = "12:05"
    admin_summary: str = "20:05"
    basic_info_reminder: str = "19:05"
    housekeeping: str = "03:35"
    skip_weekends: bool = False
    holidays: tuple[date, ...] = ()
    misfire_grace_minutes: int = Field(default=60, ge=1, le=12 * 60)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("must be an IANA time zone such as Asia/Shanghai") from exc
        return value

    @field_validator(
        "morning_reminder", "second_reminder", "reviewer_digest", "admin_summary",
        "basic_info_reminder", "housekeeping",
    )
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM_RE.match(value):
            raise ValueError("must be a time of day as HH:MM")
        return value

    def job_time(self, name: str) -> time:
        hours, minutes = getattr(self, name).split(":")
        return time(int(hours), int(minutes))

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class WebSettings(_Section):
    """The member page (/h5/) and the reviewers' dashboard (/dashboard/), signed in with WeCom
    OAuth2. `secret` signs the session cookies: set it in the environment (YQT_WEB__SECRET)."""

    enabled: bool = True
    public_url: str = "http://127.0.0.1:8080"
    secret: SecretStr = SecretStr("")
    oauth_base: str = "https://open.weixin.qq.com"
    session_hours: float = Field(default=8.0, gt=0, le=24)

    @field_validator("public_url", "oauth_base")
    @classmethod
    def _url_shape(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+(/[^\s]*)?$", value):
            raise ValueError("must be an http(s) URL such as https://yqt.example.edu.cn")
        return value.rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")


class LogSettings(_Section):
    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class PrivacySettings(_Section):
    # GPS coordinates in reports and member.last_lat/lng are reduced to province/city/district
    # after this many days.
    raw_location_days: int = Field(default=14, ge=1, le=3650)
    # Reports older than this many days are deleted; 0 keeps them.
    report_days: int = Field(default=0, ge=0, le=36500)
    # Raise when the privacy notice changes: every member is shown the new one once.
    notice_version: int = Field(default=1, ge=1)


class Settings(BaseSettings):
    """Everything configurable. Build it with `load_settings`; tests may construct it directly."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", frozen=True, extra="ignore",
        case_sensitive=False,
    )

    wecom: WeComSettings = WeComSettings()
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    bot: BotSettings = BotSettings()
    outbox: OutboxSettings = OutboxSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    log: LogSettings = LogSettings()
    privacy: PrivacySettings = PrivacySettings()
    web: WebSettings = WebSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = _toml_path.get()
        if toml_path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=toml_path))
        return tuple(sources)

    def require_wecom(self) -> None:
        """Fail unless everything needed to talk to a real WeCom corp is set."""
        missing = [
            key for key, present in (
                ("wecom.corp_id", bool(self.wecom.corp_id)),
                ("wecom.agent_id", self.wecom.agent_id > 0),
                ("wecom.secret", bool(self.wecom.secret.get_secret_value())),
                ("wecom.token", bool(self.wecom.token.get_secret_value())),
                ("wecom.encoding_aes_key", bool(self.wecom.encoding_aes_key.get_secret_value())),
            ) if not present
        ]
        if missing:
            raise ConfigError("config error: " + missing_text(missing))


def missing_text(missing: list[str]) -> str:
    """What to set for the missing keys: plain settings in settings.toml or the environment,
    secrets (SECRET_KEYS) as environment variables only (a file holding one is refused)."""
    plain = [key for key in missing if key not in SECRET_KEYS]
    secret = [key for key in missing if key in SECRET_KEYS]
    parts = []
    if plain:
        them = "it" if len(plain) == 1 else "them"
        parts.append(f"{' and '.join(plain)} {'is' if len(plain) == 1 else 'are'} required "
                     f"(set {them} in settings.toml or {', '.join(map(env_name, plain))})")
    if secret:
        parts.append(f"{' and '.join(secret)} "
                     + ("is a secret: set it" if len(secret) == 1 else "are secrets: set them")
                     + f" in the environment ({', '.join(map(env_name, secret))})")
    return "; ".join(parts)


def env_name(dotted_key: str) -> str:
    section, _, key = dotted_key.partition(".")
    return f"{ENV_PREFIX}{section.upper()}__{key.upper()}"


def _describe(error: dict[str, Any]) -> str:
    # Never echo the offending input: it may be a secret.
    key = ".".join(str(part) for part in error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    return f"config error: {key}: {message} (env {env_name(key)})"


SECRET_KEYS = ("wecom.secret", "wecom.token", "wecom.encoding_aes_key")


def _refuse_file_secrets(path: Path) -> None:
    """Secrets are read from the environment only (a settings file gets copied, committed and
    shown around); a non-empty one in the file stops startup, naming the key, not the value."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config error: {path}: {exc}") from None
    for dotted in SECRET_KEYS:
        section, _, key = dotted.partition(".")
        value = (data.get(section) or {}).get(key) if isinstance(data.get(section), dict) else None
        if value not in (None, ""):
            raise ConfigError(f"config error: {dotted} must not be in {path}; secrets are read "
                              f"from the environment only: set {env_name(dotted)}")


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read the TOML file (``--config``, then ``$YQT_CONFIG``, then ./settings.toml) plus env."""
    chosen = Path(path or os.environ.get("YQT_CONFIG") or DEFAULT_CONFIG)
    if (path or os.environ.get("YQT_CONFIG")) and not chosen.is_file():
        raise ConfigError(f"config error: config file {chosen} does not exist")
    if chosen.is_file():
        _refuse_file_secrets(chosen)
    token = _toml_path.set(chosen if chosen.is_file() else None)
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_describe(exc.errors()[0])) from None
    except ValueError as exc:  # broken TOML, or an env value that is not valid JSON
        raise ConfigError(f"config error: {chosen}: {exc}") from None
    finally:
        _toml_path.reset(token)
