"""Liveness and readiness for load balancers and orchestrators.

`/healthz` says the process is up and has finished starting (restart it if this fails);
`/readyz` says it can do its work right now: the database answers and its schema is current
(take it out of rotation while this fails, do not restart it).
"""

from __future__ import annotations

from aiohttp import web

from handlers.keys import DATABASE, READY
from storage.db import readiness


async def healthz(request: web.Request) -> web.Response:
    if not request.app[READY].is_set():
        return web.json_response({"status": "starting"}, status=503)
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if not request.app[READY].is_set():
        return web.json_response({"status": "starting"}, status=503)
    ok, reason = await readiness(request.app[DATABASE])
    return web.json_response({"status": "ready" if ok else "not ready", "reason": reason},
                             status=200 if ok else 503)
