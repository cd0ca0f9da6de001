"""The encrypted passive reply: a text message in the HTTP answer to a callback.

Plaintext per DOC-90241 (text: ToUserName = member, FromUserName = CorpID, Content up to 2048
bytes), encrypted and signed into the envelope of DOC-90238 §1.5 (Encrypt, MsgSignature,
TimeStamp, Nonce).
"""

from __future__ import annotations

from bot.text import TEXT_LIMIT_BYTES
from bot.wecom.crypto import WeComCrypto


def _fit(text: str) -> str:
    """At most WeCom's 2048 bytes (texts are already cut so by their renderer)."""
    return text.encode("utf-8")[:TEXT_LIMIT_BYTES].decode("utf-8", errors="ignore")


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply_plaintext(userid: str, corp_id: str, content: str, create_time: int) -> str:
    return (f"<xml><ToUserName>{_cdata(userid)}</ToUserName>"
            f"<FromUserName>{_cdata(corp_id)}</FromUserName>"
            f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
            f"<Content>{_cdata(_fit(content))}</Content></xml>")


def passive_reply_xml(crypto: WeComCrypto, userid: str, corp_id: str, content: str,
                      nonce: str, create_time: int) -> bytes:
    """The HTTP body answering a callback with `content` as a text message."""
    plaintext = text_reply_plaintext(userid, corp_id, content, create_time)
    encrypted, msg_signature, timestamp, nonce = crypto.encrypt(
        plaintext, nonce=nonce, timestamp=str(create_time))
    return (f"<xml><Encrypt>{_cdata(encrypted)}</Encrypt>"
            f"<MsgSignature>{_cdata(msg_signature)}</MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp><Nonce>{_cdata(nonce)}</Nonce></xml>"
            ).encode("utf-8")
