"""The operations contract: settings.toml, env overrides, one clear line for a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from bot.settings import ConfigError, Settings, load_settings

GOOD_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_repository_settings_file_loads_with_the_documented_defaults(
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("YQT_"):
            monkeypatch.delenv(name)
    settings = load_settings(Path(__file__).parent.parent / "settings.toml")
    assert settings.wecom.api_base == "https://qyapi.weixin.qq.com"
    assert settings.server.host == "127.0.0.1" and settings.server.port == 8080
    assert settings.server.callback_path == "/wecom/callback"
    assert settings.database.url == "sqlite:///yiqingtong.db"
    assert settings.schedule.timezone == "Asia/Shanghai"


def test_env_overrides_every_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, '[wecom]\napi_base = "https://qyapi.weixin.qq.com"\n')
    monkeypatch.setenv("YQT_WECOM__API_BASE", "http://127.0.0.1:9999")
    monkeypatch.setenv("YQT_DATABASE__URL", "postgresql+asyncpg://u@h/db")
    monkeypatch.setenv("YQT_SERVER__PORT", "9090")
    monkeypatch.setenv("YQT_SCHEDULE__HOLIDAYS", '["2026-10-01"]')
    settings = load_settings(path)
    assert settings.wecom.api_base == "http://127.0.0.1:9999"
    assert settings.database.url == "postgresql+asyncpg://u@h/db"
    assert settings.server.port == 9090
    assert [d.isoformat() for d in settings.schedule.holidays] == ["2026-10-01"]


def test_yqt_config_selects_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[server]\nport = 7070\n")
    monkeypatch.setenv("YQT_CONFIG", str(path))
    assert load_settings().server.port == 7070


@pytest.mark.parametrize("key", ["secret", "token", "encoding_aes_key"])
def test_a_secret_in_the_config_file_is_refused(tmp_path: Path, key: str) -> None:
    value = GOOD_KEY if key == "encoding_aes_key" else "abc123"
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, f'[wecom]\n{key} = "{value}"\n'))
    message = str(info.value)
    assert f"wecom.{key}" in message and f"YQT_WECOM__{key.upper()}" in message
    assert value not in message and "\n" not in message


def test_empty_secret_placeholders_in_the_file_are_fine(tmp_path: Path) -> None:
    path = write(tmp_path, '[wecom]\nsecret = ""\ntoken = ""\nencoding_aes_key = ""\n')
    assert load_settings(path).wecom.secret.get_secret_value() == ""


@pytest.mark.parametrize(("toml", "key"), [
    ('[wecom]\nencoding_aes_key = "short"\n', "wecom.encoding_aes_key"),
    (f'[wecom]\nencoding_aes_key = "{GOOD_KEY[:-1]}!"\n', "wecom.encoding_aes_key"),
    ('[wecom]\ntoken = "has spaces in it"\n', "wecom.token"),
    ('[wecom]\ntoken = "' + "a" * 33 + '"\n', "wecom.token"),
    ('[server]\nport = "eighty"\n', "server.port"),
    ('[database]\nurl = "mysql://x"\n', "database.url"),
    ('[schedule]\ntimezone = "Mars/Olympus"\n', "schedule.timezone"),
    ('[schedule]\nmorning_reminder = "25:00"\n', "schedule.morning_reminder"),
    ('[bot]\ndefault_rendering = "html"\n', "bot.default_rendering"),
])
def test_a_bad_value_fails_with_one_line_naming_the_key(tmp_path: Path, toml: str,
                                                        key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, toml))
    message = str(info.value)
    assert "\n" not in message and key in message


def test_secrets_never_appear_in_errors_or_reprs(tmp_path: Path) -> None:
    secret_token = "not alnum secret!"
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, f'[wecom]\ntoken = "{secret_token}"\n'))
    assert secret_token not in str(info.value)
    settings = Settings(wecom={"secret": "s3cr3t-value", "token": "tok123",
                               "encoding_aes_key": GOOD_KEY})
    for text in (repr(settings), str(settings), repr(settings.wecom)):
        assert "s3cr3t-value" not in text and GOOD_KEY not in text and "tok123" not in text


def test_serve_refuses_to_start_without_wecom_credentials(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("YQT_"):
            monkeypatch.delenv(name)
    path = write(tmp_path, '[wecom]\ncorp_id = "ww123"\n')
    assert main(["--config", str(path), "serve"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "wecom.agent_id" in err[0]


def test_a_bad_value_stops_the_cli_with_exit_2(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, '[wecom]\nencoding_aes_key = "short"\n')
    assert main(["--config", str(path), "serve"]) == 2
    assert "wecom.encoding_aes_key" in capsys.readouterr().err


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_broken_toml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings(write(tmp_path, "[wecom\ncorp_id = \n"))
