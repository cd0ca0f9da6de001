"""WeCom callback crypto (WXBizMsgCrypt scheme) around wechatpy.

wechatpy does the AES work; this module adds what it lacks: a constant-time signature compare and
one exception type for every way a payload can be bad (wechatpy leaks UnicodeDecodeError and
ValueError from a wrong key or a mangled ciphertext, which must never become an HTTP 500).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from wechatpy.enterprise.crypto import PrpCrypto
from wechatpy.enterprise.exceptions import InvalidCorpIdException


class _PrpCrypto(PrpCrypto):
    """wechatpy's scheme with the 16-character random prefix drawn from the OS's CSPRNG in one
    call (wechatpy draws it with `random.sample`, the non-cryptographic generator, a character
    at a time: slower, and predictable)."""

    def get_random_string(self) -> str:
        return secrets.token_hex(8)


class CallbackRejected(Exception):
    """A callback that must be refused; `status` is the HTTP status to answer with."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """sha1 over the lexicographically sorted four strings, as WeCom signs callbacks."""
    joined = "".join(sorted([token, timestamp, nonce, encrypted]))
    return hashlib.sha1(joined.encode("utf-8")).hexdigest()


class WeComCrypto:
    """Verify, decrypt and encrypt WeCom callback payloads for one (token, key, receiveid)."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str) -> None:
        key = base64.b64decode(encoding_aes_key + "=")
        if len(key) != 32:
            raise ValueError("EncodingAESKey must decode to 32 bytes")
        self._token = token
        self._key = key
        self._receive_id = receive_id

    def check_signature(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str
                        ) -> None:
        expected = signature(self._token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected.encode(), (msg_signature or "").encode("utf-8",
                                                                                    "replace")):
            raise CallbackRejected("bad signature", status=403)

    def decrypt(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> str:
        """Check the signature, decrypt, check receiveid; return the plaintext message."""
        self.check_signature(msg_signature, timestamp, nonce, encrypted)
        try:
            plaintext = _PrpCrypto(self._key).decrypt(encrypted, self._receive_id)
        except InvalidCorpIdException:
            raise CallbackRejected("receiveid does not match corp_id", status=403) from None
        except Exception:  # wechatpy raises many unrelated types here
            raise CallbackRejected("payload does not decrypt") from None
        if isinstance(plaintext, bytes):
            try:
                plaintext = plaintext.decode("utf-8")
            except UnicodeDecodeError:
                raise CallbackRejected("payload is not UTF-8") from None
        return plaintext

    def encrypt(self, plaintext: str, nonce: str | None = None, timestamp: str | None = None
                ) -> tuple[str, str, str, str]:
        """Encrypt and sign; returns (encrypted, msg_signature, timestamp, nonce)."""
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or secrets.token_hex(5)
        encrypted = _PrpCrypto(self._key).encrypt(plaintext, self._receive_id)
        if isinstance(encrypted, bytes):
            encrypted = encrypted.decode("ascii")
        return encrypted, signature(self._token, timestamp, nonce, encrypted), timestamp, nonce
