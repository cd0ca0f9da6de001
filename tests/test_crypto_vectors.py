"""Every published WeCom crypto vector passes through WeComCrypto, and bad input is refused.

The vector files are copies of shared/docs (tests must not depend on ../shared).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import xmltodict
from Crypto.Cipher import AES

from bot.wecom import crypto as crypto_module
from bot.wecom.crypto import CallbackRejected, WeComCrypto, signature

FIXTURES = Path(__file__).parent / "fixtures"
VECTORS = json.loads((FIXTURES / "wecom-vectors.json").read_text("utf-8"))
HARNESS = json.loads((FIXTURES / "wecom-vectors-harness.json").read_text("utf-8"))


def _receiveid(entry: dict[str, Any], section: dict[str, Any]) -> str:
    return (section.get("expected_receiveid") or entry.get("receiveid")
            or entry.get("receive_id"))


def _url_cases() -> list[Any]:
    cases = []
    for entry in VECTORS["official"] + VECTORS["community_unofficial"]:
        verify = entry.get("url_verify")
        if verify:
            cases.append(pytest.param(entry, verify, id=entry["id"]))
    return cases


def _post_cases() -> list[Any]:
    cases = []
    for entry in VECTORS["official"] + VECTORS["community_unofficial"]:
        post = entry.get("decrypt_post")
        if post:
            cases.append(pytest.param(entry, post, id=entry["id"]))
    return cases


@pytest.mark.parametrize(("entry", "verify"), _url_cases())
def test_url_verification_vectors(entry: dict[str, Any], verify: dict[str, Any]) -> None:
    crypto = WeComCrypto(entry["token"], entry["encoding_aes_key"], _receiveid(entry, verify))
    if "raw_query" in verify:
        # Decode the query exactly once, as the server must (protocol doc §1.2).
        query = {k: v[0] for k, v in parse_qs(verify["raw_query"]).items()}
        assert query["echostr"] == verify["echostr_urldecoded"]
        echostr = query["echostr"]
    else:
        echostr = verify["echostr"]
    body = crypto.decrypt(verify["msg_signature"], verify["timestamp"], verify["nonce"],
                          echostr)
    assert body == verify["expected_reply_body"]


@pytest.mark.parametrize(("entry", "post"), _post_cases())
def test_post_vectors(entry: dict[str, Any], post: dict[str, Any]) -> None:
    crypto = WeComCrypto(entry["token"], entry["encoding_aes_key"], _receiveid(entry, post))
    encrypted = post["encrypt"]
    if "post_body" in post:
        assert xmltodict.parse(post["post_body"])["xml"]["Encrypt"] == encrypted
    plaintext = crypto.decrypt(post["msg_signature"], post["timestamp"], post["nonce"],
                               encrypted)
    assert plaintext == post["expected_plaintext"]


def _harness_cases(kind: str) -> list[Any]:
    return [pytest.param(v, id=v["name"]) for v in HARNESS["vectors"] if v["kind"] == kind]


@pytest.mark.parametrize("vector", _harness_cases("verify_url"))
def test_harness_verify_url(vector: dict[str, Any]) -> None:
    crypto = WeComCrypto(vector["token"], vector["encoding_aes_key"], vector["receive_id"])
    body = crypto.decrypt(vector["msg_signature"], vector["timestamp"], vector["nonce"],
                          vector["echostr"])
    assert body == vector["expect"]["plaintext"]


@pytest.mark.parametrize("vector", _harness_cases("decrypt_msg"))
def test_harness_decrypt_msg(vector: dict[str, Any]) -> None:
    crypto = WeComCrypto(vector["token"], vector["encoding_aes_key"], vector["receive_id"])
    plaintext = crypto.decrypt(vector["msg_signature"], vector["timestamp"], vector["nonce"],
                               vector["encrypt"])
    fields = xmltodict.parse(plaintext)["xml"]
    for name, expected in vector["expect"]["fields"].items():
        assert fields[name] == expected


@pytest.mark.parametrize("vector", _harness_cases("encrypt_fixed_random"))
def test_harness_encrypt_fixed_random(vector: dict[str, Any],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(crypto_module._PrpCrypto, "get_random_string",
                        lambda self: vector["random16"])
    crypto = WeComCrypto(vector["token"], vector["encoding_aes_key"], vector["receive_id"])
    encrypted, msg_signature, timestamp, nonce = crypto.encrypt(
        vector["plaintext"], nonce=vector["nonce"], timestamp=vector["timestamp"])
    assert encrypted == vector["expect"]["encrypt"]
    assert msg_signature == vector["expect"]["msg_signature"]
    assert (timestamp, nonce) == (vector["timestamp"], vector["nonce"])


def test_every_vector_kind_is_covered() -> None:
    assert {v["kind"] for v in HARNESS["vectors"]} == {"verify_url", "decrypt_msg",
                                                       "encrypt_fixed_random"}
    assert len(_url_cases()) >= 3 and len(_post_cases()) >= 4


# --------------------------------------------------------------------------- round trip

TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
CORP = "ww1436e0e65a779aee"


@pytest.mark.parametrize("text", [
    "<xml><Content><![CDATA[体温 36.5℃，今日无异常]]></Content></xml>",
    "你好" * 500,
    "x",
    "",
    "emoji 😷 and\nnewlines\r\n",
])
def test_round_trip_chinese(text: str) -> None:
    crypto = WeComCrypto(TOKEN, KEY, CORP)
    encrypted, msg_signature, timestamp, nonce = crypto.encrypt(text)
    assert signature(TOKEN, timestamp, nonce, encrypted) == msg_signature
    assert len(base64.b64decode(encrypted)) % 32 == 0  # PKCS#7 to 32-byte blocks
    assert crypto.decrypt(msg_signature, timestamp, nonce, encrypted) == text


def _signed(crypto_token: str, encrypted: str) -> tuple[str, str, str, str]:
    timestamp, nonce = "1700000000", "12345"
    return signature(crypto_token, timestamp, nonce, encrypted), timestamp, nonce, encrypted


def _good() -> tuple[str, str, str, str]:
    return WeComCrypto(TOKEN, KEY, CORP).encrypt("<xml><Content>你好</Content></xml>",
                                                 nonce="12345", timestamp="1700000000")


def test_wrong_key_is_rejected() -> None:
    encrypted, sig, ts, nonce = _good()
    other_key = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
    with pytest.raises(CallbackRejected):
        WeComCrypto(TOKEN, other_key, CORP).decrypt(sig, ts, nonce, encrypted)


def test_wrong_key_many_times_never_leaks_other_errors() -> None:
    # A wrong key yields random padding bytes; every outcome must be CallbackRejected.
    other_key = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
    sender = WeComCrypto(TOKEN, KEY, CORP)
    receiver = WeComCrypto(TOKEN, other_key, CORP)
    for n in range(50):
        encrypted, sig, ts, nonce = sender.encrypt(f"<xml>{n} 你好</xml>")
        with pytest.raises(CallbackRejected):
            receiver.decrypt(sig, ts, nonce, encrypted)


def test_wrong_token_is_a_bad_signature() -> None:
    encrypted, sig, ts, nonce = _good()
    with pytest.raises(CallbackRejected) as info:
        WeComCrypto("OtherToken", KEY, CORP).decrypt(sig, ts, nonce, encrypted)
    assert info.value.status == 403


@pytest.mark.parametrize("garbage", [
    "not base64 at all!!!",
    "====",
    "QUJD",  # valid base64, 3 bytes: not a block multiple
    base64.b64encode(b"\x00" * 31).decode(),
    base64.b64encode(b"\x00" * 32).decode(),
    base64.b64encode(bytes(range(256))).decode(),
    "",
])
def test_garbage_ciphertext_is_rejected(garbage: str) -> None:
    crypto = WeComCrypto(TOKEN, KEY, CORP)
    with pytest.raises(CallbackRejected):
        crypto.decrypt(*_signed(TOKEN, garbage))


def test_truncated_ciphertext_is_rejected() -> None:
    encrypted, *_ = _good()
    raw = base64.b64decode(encrypted)
    crypto = WeComCrypto(TOKEN, KEY, CORP)
    for cut in (16, 32, len(raw) - 32, len(raw) - 1):
        truncated = base64.b64encode(raw[:cut]).decode()
        with pytest.raises(CallbackRejected):
            crypto.decrypt(*_signed(TOKEN, truncated))
    with pytest.raises(CallbackRejected):
        crypto.decrypt(*_signed(TOKEN, encrypted[:-8]))


def test_wrong_receiveid_is_rejected() -> None:
    encrypted, sig, ts, nonce = _good()
    with pytest.raises(CallbackRejected) as info:
        WeComCrypto(TOKEN, KEY, "ww_someone_else").decrypt(sig, ts, nonce, encrypted)
    assert info.value.status == 403


def test_tampered_signature_is_rejected() -> None:
    encrypted, sig, ts, nonce = _good()
    crypto = WeComCrypto(TOKEN, KEY, CORP)
    for bad in ("", sig.upper(), sig[:-1] + ("0" if sig[-1] != "0" else "1"), "中文签名"):
        with pytest.raises(CallbackRejected):
            crypto.decrypt(bad, ts, nonce, encrypted)


def test_the_random_prefix_is_fresh_for_every_message() -> None:
    """The 16 bytes before the length are random per message (from the OS's generator), so
    the same text never encrypts the same way twice."""
    crypto = WeComCrypto("token", "a" * 43, "ww1")
    key = base64.b64decode("a" * 43 + "=")
    prefixes = set()
    for _ in range(50):
        encrypted, *_ = crypto.encrypt("<xml>同一条</xml>", nonce="n", timestamp="1")
        cipher = AES.new(key, AES.MODE_CBC, key[:16])
        plain = cipher.decrypt(base64.b64decode(encrypted))
        prefixes.add(plain[:16])
        assert plain[16:20] == len("<xml>同一条</xml>".encode()).to_bytes(4, "big")
    assert len(prefixes) == 50
