"""The bot with its web pages on a known port, signed in through the emulator's OAuth."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import SecretStr

from app.emulator.api import WeComEmulator
from bot.clock import FixedClock
from bot.settings import WebSettings
from tests.harness import Bot, sqlite_url, start_bot

SECRET = "test-web-secret-0123456789abcdef"
ROSTER_EXTRA = "stranger"  # in the corp (the emulator) but not in the roster


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_web_bot(emulator: WeComEmulator, db: Path | str, clock: FixedClock,
                        **sections: Any) -> tuple[Bot, str]:
    """`db`: a database URL, or a directory for a fresh SQLite file."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    web = WebSettings(public_url=base, oauth_base=emulator.base_url or "",
                      secret=SecretStr(SECRET))
    url = db if isinstance(db, str) else sqlite_url(db)
    bot = await start_bot(emulator, url, clock=clock, port=port, web=web,
                          **sections)
    emulator.add_member(ROSTER_EXTRA, "路人甲")
    return bot, base


def http_client() -> aiohttp.ClientSession:
    # 127.0.0.1 cookies: aiohttp's jar refuses cookies from IP hosts unless unsafe.
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_in(http: aiohttp.ClientSession, base: str, userid: str,
                  path: str = "/h5/") -> aiohttp.ClientResponse:
    """Open a page, follow WeCom's authorize redirect, pick `userid` on the emulator's page."""
    first = await http.get(base + path, allow_redirects=False)
    assert first.status == 302, first.status
    authorize = first.headers["Location"].split("#", 1)[0]
    picked = await http.get(authorize + f"&pick_userid={userid}", allow_redirects=False)
    assert picked.status == 302
    return await http.get(picked.headers["Location"], allow_redirects=True)


CONFIRM = re.compile(r'name="confirm" value="([0-9a-f]+)"')


async def post_basic_info(http: aiohttp.ClientSession, base: str, data: dict[str, str]
                          ) -> aiohttp.ClientResponse:
    """Submit basic information on /h5/ as a member does: the page shows what will be stored
    and asks to confirm (a second POST carrying the shown answers' digest)."""
    first = await http.post(base + "/h5/info", data=data)
    match = CONFIRM.search(await first.text())
    if first.status != 200 or match is None:
        return first  # refused (403, 409, 400): nothing to confirm
    return await http.post(base + "/h5/info", data={**data, "confirm": match.group(1)})
