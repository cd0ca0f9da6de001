"""The naive peer for bench/callback_bench.py: what people usually write for a WeCom callback.

Flask + wechatpy's WeChatCrypto under `gunicorn -w 2`, one SQLite insert (and commit) per
callback, an empty 200. Not part of the product: `pip install -e '.[bench]'`.

    YQT_PEER_DB=/tmp/peer.db gunicorn -w 2 -b 127.0.0.1:8099 bench.flask_peer:app
"""

from __future__ import annotations

import os
import sqlite3
import threading

import xmltodict
from flask import Flask, request
from wechatpy.enterprise.crypto import WeChatCrypto

TOKEN = os.environ.get("YQT_PEER_TOKEN", "")
AES_KEY = os.environ.get("YQT_PEER_AES_KEY", "")
CORP_ID = os.environ.get("YQT_PEER_CORP_ID", "")
DB = os.environ.get("YQT_PEER_DB", "peer.db")

app = Flask(__name__)
crypto = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
_local = threading.local()


def db() -> sqlite3.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(DB, timeout=30)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE IF NOT EXISTS inbound (dedupe_key TEXT PRIMARY KEY, "
                     "userid TEXT, content TEXT)")
        _local.conn = conn
    return conn


@app.get("/healthz")
def healthz() -> tuple[str, int]:
    return "ok", 200


@app.post("/wecom/callback")
def callback() -> tuple[str, int]:
    args = request.args
    try:
        plaintext = crypto.decrypt_message(request.get_data(), args["msg_signature"],
                                           args["timestamp"], args["nonce"])
        message = xmltodict.parse(plaintext)["xml"]
    except Exception:
        return "bad request", 400
    conn = db()
    conn.execute("INSERT OR IGNORE INTO inbound VALUES (?, ?, ?)",
                 (message.get("MsgId") or message.get("CreateTime"),
                  message.get("FromUserName"), message.get("Content")))
    conn.commit()
    return "", 200
