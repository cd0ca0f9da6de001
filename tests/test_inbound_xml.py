"""The callback XML reader (bot/wecom/inbound.py): the shape it gives is the one xmltodict gave
before it (the handlers were written against it), and what it refuses, it refuses as 400."""

from __future__ import annotations

import pytest
import xmltodict
from hypothesis import given
from hypothesis import strategies as st

from bot.wecom.crypto import CallbackRejected
from bot.wecom.inbound import (
    CardEventIn,
    LocationMessageIn,
    TextIn,
    _xml_root,
    parse_envelope,
    parse_plaintext,
)

# What members type: any text XML can carry (no control characters but tab and newlines),
# emoji and full-width digits included, up to WeCom's 2 KB.
member_text = st.text(st.characters(blacklist_categories=("Cs",),
                                    blacklist_characters="\x00\x0b\x0c\ufffe\uffff",
                                    min_codepoint=9).filter(lambda c: c >= " " or c in "\t\n\r"),
                      max_size=700)
tags = st.sampled_from(["Content", "MsgType", "FromUserName", "Label", "EventKey", "Pad"])


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


element = st.recursive(
    st.tuples(tags, member_text.map(_cdata)),
    lambda inner: st.tuples(tags, st.lists(inner, min_size=1, max_size=4).map(
        lambda children: "".join(f"<{t}>{body}</{t}>" for t, body in children))),
    max_leaves=8)


@given(st.lists(element, max_size=6))
def test_the_shape_is_xmltodicts(children: list[tuple[str, str]]) -> None:
    document = "<xml>" + "".join(f"<{t}>{body}</{t}>" for t, body in children) + "</xml>"
    expected = xmltodict.parse(document, disable_entities=True)["xml"] or {}
    if not children:
        with pytest.raises(CallbackRejected):  # <xml></xml>: no children, no dict
            _xml_root(document, "message")
        return
    assert _xml_root(document, "message") == expected
    assert _xml_root(document.encode("utf-8"), "body") == expected


@given(member_text)
def test_a_text_message_reads_as_xmltodict_read_it(content: str) -> None:
    plaintext = ("<xml><ToUserName><![CDATA[ww1]]></ToUserName><FromUserName><![CDATA[2019"
                 "0112345]]></FromUserName><CreateTime>1700000000</CreateTime><MsgType>"
                 f"<![CDATA[text]]></MsgType><Content>{_cdata(content)}</Content>"
                 "<MsgId>7301</MsgId><AgentID>1000002</AgentID></xml>")
    inbound = parse_plaintext(plaintext)
    assert isinstance(inbound, TextIn)
    assert inbound.userid == "20190112345"
    assert inbound.dedupe_key == "msg:7301"
    expected = xmltodict.parse(plaintext)["xml"]["Content"]
    assert inbound.content == (expected if isinstance(expected, str) else "")


def test_card_selections_one_and_several() -> None:
    plaintext = ("<xml><FromUserName>zhangsan</FromUserName><CreateTime>1</CreateTime>"
                 "<MsgType>event</MsgType><Event>template_card_event</Event>"
                 "<TaskId>t1</TaskId><EventKey>submit</EventKey><SelectedItems>"
                 "<SelectedItem><QuestionKey>q1</QuestionKey><OptionIds><OptionId>a</OptionId>"
                 "</OptionIds></SelectedItem>"
                 "<SelectedItem><QuestionKey>q2</QuestionKey><OptionIds><OptionId>b</OptionId>"
                 "<OptionId>c</OptionId></OptionIds></SelectedItem>"
                 "</SelectedItems></xml>")
    inbound = parse_plaintext(plaintext)
    assert isinstance(inbound, CardEventIn)
    assert inbound.selected == {"q1": ("a",), "q2": ("b", "c")}


def test_location_and_whitespace() -> None:
    inbound = parse_plaintext("<xml>\n  <FromUserName> lisi </FromUserName>\n"
                              "  <CreateTime>2</CreateTime><MsgType>location</MsgType>"
                              "<Location_X>39.95</Location_X><Location_Y>116.32</Location_Y>"
                              "<Label></Label></xml>")
    assert isinstance(inbound, LocationMessageIn)
    assert (inbound.userid, inbound.lat, inbound.lng, inbound.label) == ("lisi", 39.95,
                                                                          116.32, "")


@pytest.mark.parametrize("document", [
    # a declaration of any kind: entities can only be declared in one
    '<!DOCTYPE xml><xml><Encrypt>x</Encrypt></xml>',
    '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "zz">]><xml><Encrypt>&e;</Encrypt></xml>',
    '<!DOCTYPE x SYSTEM "http://example.com/x.dtd"><xml><Encrypt>x</Encrypt></xml>',
    # an entity nobody declared
    '<xml><Encrypt>&e;</Encrypt></xml>',
    # not XML, not our root, not one document
    "", "Encrypt=x", "<xml><Encrypt>x</Encrypt>", "<notxml><Encrypt>x</Encrypt></notxml>",
    "<xml>text only</xml>", "<xml><Encrypt>x</Encrypt></xml><xml/>",
])
def test_refused_documents(document: str) -> None:
    with pytest.raises(CallbackRejected) as refused:
        parse_envelope(document.encode("utf-8"))
    assert refused.value.status == 400


def test_another_encoding_cannot_hide_a_declaration() -> None:
    """A body in UTF-16 (which expat would read by its XML declaration) is not UTF-8: refused
    before the parser could see a DOCTYPE the check did not."""
    document = ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE x [<!ENTITY e "zz">]>'
                "<xml><Encrypt>&e;</Encrypt></xml>")
    with pytest.raises(CallbackRejected):
        parse_envelope(document.encode("utf-16"))
    with pytest.raises(CallbackRejected):  # and as a str, the declaration is still seen
        parse_plaintext(document)


def test_an_envelope_gives_encrypt_and_to_user() -> None:
    body = ("<xml><ToUserName><![CDATA[ww1]]></ToUserName><Encrypt><![CDATA[abc+/=]]>"
            "</Encrypt><AgentID><![CDATA[1000002]]></AgentID></xml>").encode()
    assert parse_envelope(body) == ("abc+/=", "ww1")
