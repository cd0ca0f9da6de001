"""Operator commands: `check` against the emulator (the console values, and one fix line per
WeCom error), `roster reviewer add`, and `admin correct` with its audit row; bad input gets a
clear answer, exit code 2, and changes nothing."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from app.cli import build_parser
from app.emulator.api import DEFAULT_AES_KEY, DEFAULT_TOKEN, WeComEmulator
from bot.clock import FixedClock
from bot.settings import DatabaseSettings, ServerSettings, Settings
from storage.db import Database
from storage.models import AuditLog, BasicInfo, Member, ReviewerAssignment, Unit
from tests.test_export import JOINED, SHANGHAI, member

NOW = datetime(2026, 11, 30, 9, 30, tzinfo=SHANGHAI)


async def run(settings: Settings, *argv: str) -> int:
    args = build_parser().parse_args(list(argv))
    args.clock = FixedClock(NOW, SHANGHAI)
    return await args.run(args, settings)


# ---- check ------------------------------------------------------------------------------------


def check_settings(emulator: WeComEmulator, tmp_path: Path, **wecom: Any) -> Settings:
    return Settings(wecom=emulator.wecom_settings(**wecom),
                    database=DatabaseSettings(url=f"sqlite:///{tmp_path / 'check.db'}"),
                    server=ServerSettings(host="10.0.0.5", port=8080))


async def test_check_ok_prints_the_console_values(emulator: WeComEmulator, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    settings = check_settings(emulator, tmp_path)
    assert await run(settings, "check", "--public-url", "https://yqt.example.edu.cn/") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "config         ok: corp ww_emulated_corp, agent 1000002"
    assert lines[1] == "gettoken       ok: corp id and secret accepted"
    assert lines[2] == "agent id       ok: 1000002 belongs to this secret"
    assert lines[3] == "database       ok: sqlite"
    assert "  URL             https://yqt.example.edu.cn/wecom/callback" in lines
    assert f"  Token           {DEFAULT_TOKEN}" in lines
    assert f"  EncodingAESKey  {DEFAULT_AES_KEY}" in lines
    assert lines[-1] == "everything is fine"
    assert emulator.api_call_count("gettoken") == 1


async def test_check_without_public_url_uses_the_server_address(
        emulator: WeComEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(check_settings(emulator, tmp_path), "check") == 0
    out = capsys.readouterr().out
    assert "  URL             http://10.0.0.5:8080/wecom/callback" in out
    assert "pass --public-url https://your.host" in out


@pytest.mark.parametrize(("api", "errcode", "what", "fix"), [
    ("gettoken", 40001, "gettoken       FAILED: errcode 40001 from gettoken",
     "fix: wecom.secret is wrong"),
    ("gettoken", 60020, "gettoken       FAILED: errcode 60020 from gettoken",
     "fix: this server's IP is not trusted: add its public IP under 应用管理 → the app → "
     "企业可信IP"),
    ("gettoken", 40013, "gettoken       FAILED: errcode 40013 from gettoken",
     "fix: wecom.corp_id is wrong"),
    ("message/send", 301002, "agent id       FAILED: errcode 301002 from message/send",
     "fix: wecom.agent_id belongs to another app than wecom.secret"),
    ("message/send", 60020, "agent id       FAILED: errcode 60020 from message/send",
     "企业可信IP"),
])
async def test_check_names_the_problem_and_the_fix(
        emulator: WeComEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], api: str,
        errcode: int, what: str, fix: str) -> None:
    emulator.inject_fault(api, errcode)
    assert await run(check_settings(emulator, tmp_path), "check") == 1
    out = capsys.readouterr().out
    assert what in out
    assert fix in out
    assert out.splitlines()[-1] == "1 problem found"
    # The console values are printed anyway: they come from the configuration.
    assert f"  Token           {DEFAULT_TOKEN}" in out


async def test_check_real_wrong_values(emulator: WeComEmulator, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(check_settings(emulator, tmp_path, secret="not-the-secret"), "check") == 1
    out = capsys.readouterr().out
    assert "errcode 40001" in out and "wecom.secret is wrong" in out
    assert "YQT_WECOM__SECRET" in out

    assert await run(check_settings(emulator, tmp_path, corp_id="", secret=""), "check") == 1
    out = capsys.readouterr().out
    assert "wecom.corp_id is required (set it in settings.toml or YQT_WECOM__CORP_ID)" in out
    assert "wecom.secret is a secret: set it in the environment (YQT_WECOM__SECRET)" in out
    assert "secrets in the environment only" in out

    assert await run(check_settings(emulator, tmp_path, corp_id="ww_wrong"), "check") == 1
    assert "wecom.corp_id is wrong" in capsys.readouterr().out

    assert await run(check_settings(emulator, tmp_path, agent_id=1000099), "check") == 1
    out = capsys.readouterr().out
    assert "agent id       FAILED: errcode 40056" in out
    assert "fix: wecom.agent_id is wrong" in out


async def test_check_incomplete_config_and_unreachable_wecom(
        emulator: WeComEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = check_settings(emulator, tmp_path, token="", encoding_aes_key="",
                              api_base="http://127.0.0.1:9")
    assert await run(settings, "check") == 1
    out = capsys.readouterr().out
    # Secrets are named as environment variables only: a secret in the file is refused.
    (config,) = [line for line in out.splitlines() if line.startswith("config ")]
    assert "FAILED: wecom.token and wecom.encoding_aes_key are secrets: set them in the " \
        "environment (YQT_WECOM__TOKEN, YQT_WECOM__ENCODING_AES_KEY)" in config
    assert "settings.toml" not in out
    assert "gettoken       FAILED: network error" in out
    assert "fix: check wecom.api_base (http://127.0.0.1:9)" in out
    assert "EncodingAESKey" not in out  # nothing to paste yet
    assert out.splitlines()[-1] == "2 problems found"


async def test_check_refuses_a_malformed_public_url(emulator: WeComEmulator, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert await run(check_settings(emulator, tmp_path), "check", "--public-url",
                     "yqt.example.edu.cn") == 2
    assert "is not a URL such as https://" in capsys.readouterr().err
    assert emulator.api_call_count("gettoken") == 0


# ---- roster reviewer add and admin correct ----------------------------------------------------


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Database]:
    database = Database(db_url)
    await database.create_schema()
    async with database.transaction() as s:
        s.add(Unit(id="大学", name="大学"))
        await s.flush()
        s.add_all([Unit(id="民族学院", name="民族学院", parent_id="大学"),
                   Unit(id="x1", name="一班", parent_id="大学")])
        await s.flush()
        s.add(Unit(id="x2", name="一班", parent_id="民族学院"))
        s.add_all([member("s1", "张三", "民族学院"), member("s2", "李四", "民族学院"),
                   member("gone", "走了", "民族学院", active=False),
                   member("root", "管理员", "大学", role="admin")])
        await s.flush()
        s.add(BasicInfo(userid="s1", name="张三", staff_no="2021001", mobile="13800000002",
                        beijing_hukou=False, hukou_address="内蒙古呼和浩特市",
                        member_type="student", form_version=1,
                        answers={"name": "张三", "staff_no": "2021001", "mobile": "13800000002",
                                 "beijing_hukou": False, "hukou_address": "内蒙古呼和浩特市",
                                 "member_type": "student", "form_version": 1},
                        submitted_at=JOINED))
    yield database
    await database.dispose()


def db_settings(db_url: str) -> Settings:
    return Settings(database=DatabaseSettings(url=db_url))


async def rows(db: Database, model: type) -> list:
    async with db.session() as session:
        return list((await session.exec(select(model))).all())


async def test_reviewer_add(db: Database, db_url: str,
                            capsys: pytest.CaptureFixture[str]) -> None:
    settings = db_settings(db_url)
    assert await run(settings, "roster", "reviewer", "add", "s2", "民族学院") == 0
    assert capsys.readouterr().out == ("s2 (李四) reviews 民族学院 and every unit below it and "
                                       "is now a reviewer\n")
    assert await run(settings, "roster", "reviewer", "add", "s2", "民族学院") == 0
    assert "already reviews 民族学院; nothing was changed" in capsys.readouterr().out
    assert await run(settings, "roster", "reviewer", "add", "root", "x2") == 0
    capsys.readouterr()

    members = {m.userid: m for m in await rows(db, Member)}
    assert members["s2"].role == "reviewer" and members["root"].role == "admin"
    assert {(a.userid, a.unit_id) for a in await rows(db, ReviewerAssignment)} == {
        ("s2", "民族学院"), ("root", "x2")}
    audits = [a for a in await rows(db, AuditLog) if a.action == "reviewer.add"]
    assert [(a.actor, a.target, a.detail, a.at) for a in audits] == [
        ("cli", "s2", {"unit": "民族学院", "promoted": True}, NOW),
        ("cli", "root", {"unit": "x2", "promoted": False}, NOW)]


@pytest.mark.parametrize(("userid", "unit", "message"), [
    ("nobody", "民族学院", "unknown member 'nobody'"),
    ("s2", "没有这个学院", "unknown unit '没有这个学院'"),
    ("s2", "一班", "2 units are named '一班'; give the unit id (x1, x2)"),
    ("gone", "民族学院", "gone (走了) is inactive"),
])
async def test_reviewer_add_refusals(db: Database, db_url: str,
                                     capsys: pytest.CaptureFixture[str], userid: str, unit: str,
                                     message: str) -> None:
    assert await run(db_settings(db_url), "roster", "reviewer", "add", userid, unit) == 2
    captured = capsys.readouterr()
    assert message in captured.err and "nothing was changed" in captured.err
    assert captured.out == ""
    assert await rows(db, ReviewerAssignment) == []
    assert {m.userid: m.role for m in await rows(db, Member)}["s2"] == "member"
    assert await rows(db, AuditLog) == []


async def test_admin_correct_changes_one_field_and_audits_it(
        db: Database, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    settings = db_settings(db_url)
    assert await run(settings, "admin", "correct", "s1", "mobile", "+86 139-0000-0001",
                     "--by", "王老师", "--reason", "学生换号") == 0
    assert capsys.readouterr().out == ("s1: mobile changed from '13800000002' to "
                                       "'13900000001' (by 王老师, audited)\n")
    [info] = await rows(db, BasicInfo)
    assert info.mobile == "13900000001" and info.answers["mobile"] == "13900000001"
    assert (info.name, info.staff_no, info.member_type) == ("张三", "2021001", "student")
    [audit] = await rows(db, AuditLog)
    assert (audit.actor, audit.action, audit.target, audit.at) == (
        "王老师", "basic_info.correct", "s1", NOW)
    assert audit.detail == {"field": "mobile", "old": "13800000002", "new": "13900000001",
                            "by": "王老师", "reason": "学生换号"}

    # The same value again changes nothing and writes no audit row.
    assert await run(settings, "admin", "correct", "s1", "mobile", "13900000001") == 0
    assert "already '13900000001'; nothing was changed" in capsys.readouterr().out
    assert len(await rows(db, AuditLog)) == 1

    assert await run(settings, "admin", "correct", "s1", "member_type", "Faculty") == 0
    # As in the form: an ID with spaces or dashes is refused, not joined (QA #13).
    assert await run(settings, "admin", "correct", "s1", "staff_no", "ab-12 34") == 2
    assert "is not a valid staff number (3-20 letters or digits, no spaces or dashes)" in \
        capsys.readouterr().err
    assert await run(settings, "admin", "correct", "s1", "staff_no", "ab1234") == 0
    assert await run(settings, "admin", "correct", "s1", "name", "张 三丰") == 0
    [info] = await rows(db, BasicInfo)
    assert (info.member_type, info.staff_no, info.name) == ("faculty", "ab1234", "张 三丰")
    audits = await rows(db, AuditLog)
    assert [(a.actor, a.detail["field"], a.detail["old"], a.detail["new"])
            for a in audits[1:]] == [("cli", "member_type", "student", "faculty"),
                                     ("cli", "staff_no", "2021001", "ab1234"),
                                     ("cli", "name", "张三", "张 三丰")]


async def test_admin_correct_takes_the_field_by_its_screen_name_and_says_what_is_wrong(
        db: Database, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """QA3 #14: every screen says 学工号 / Student/Staff ID; an unknown field lists the valid
    ones with their labels; a name with an emoji names the symbol, as the chat does."""
    settings = db_settings(db_url)
    assert await run(settings, "admin", "correct", "s1", "student_id", "ab1234") == 0
    assert capsys.readouterr().out == ("s1: staff_no changed from '2021001' to 'ab1234' "
                                       "(by cli, audited)\n")
    [info] = await rows(db, BasicInfo)
    assert info.staff_no == "ab1234"
    assert await run(settings, "admin", "correct", "s1", "phone", "13900000001") == 2
    err = capsys.readouterr().err
    assert "unknown field 'phone'" in err and "staff_no (学工号 Student/Staff ID)" in err
    assert "mobile (手机号 Mobile)" in err and "nothing was changed" in err
    assert await run(settings, "admin", "correct", "s1", "name", "张三😀") == 2
    err = capsys.readouterr().err
    assert "'张三😀' is not a valid name: A name can't contain emoji or symbols (😀)" in err
    [info] = await rows(db, BasicInfo)
    assert (info.name, info.mobile) == ("张三", "13800000002")
    assert len(await rows(db, AuditLog)) == 1


def test_export_help_names_every_status(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["export", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "status reported, missing, exempt or unfollowed" in text


async def test_admin_correct_hukou(db: Database, db_url: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    settings = db_settings(db_url)
    assert await run(settings, "admin", "correct", "s1", "hukou_address", "内蒙古包头市") == 0
    assert await run(settings, "admin", "correct", "s1", "beijing_hukou", "是") == 0
    out = capsys.readouterr().out
    assert "hukou_address cleared (was '内蒙古包头市')" in out
    [info] = await rows(db, BasicInfo)
    assert info.beijing_hukou is True and info.hukou_address is None
    assert info.answers["beijing_hukou"] is True and "hukou_address" not in info.answers
    audit = (await rows(db, AuditLog))[-1]
    assert audit.detail["cleared"] == {"hukou_address": "内蒙古包头市"}
    assert (audit.detail["old"], audit.detail["new"]) == (False, True)

    assert await run(settings, "admin", "correct", "s1", "hukou_address", "河北省保定市") == 2
    assert "has a Beijing hukou" in capsys.readouterr().err
    assert await run(settings, "admin", "correct", "s1", "beijing_hukou", "no") == 0
    assert "now set hukou_address" in capsys.readouterr().out


@pytest.mark.parametrize(("argv", "message"), [
    (["s2", "mobile", "13900000001"], "s2 (李四) has not submitted basic information"),
    (["nobody", "mobile", "13900000001"], "unknown member 'nobody'"),
    (["s1", "email", "a@b.c"], "unknown field 'email'; fields: name (姓名 Name); staff_no "),
    (["s1", "mobile", "12345"], "'12345' is not a valid mobile number (11-digit mainland"),
    (["s1", "beijing_hukou", "maybe"], "'maybe' is not yes or no"),
    (["s1", "member_type", "teacher"], "'teacher' is not a member type (use student, faculty, "
     "staff)"),
    (["s1", "name", "12345"], "'12345' is not a valid name"),
    (["s1", "staff_no", "!"], "is not a valid staff number"),
    (["s1", "hukou_address", "x"], "'x' is not a valid household address"),
    (["s1", "mobile", "13900000001", "--by", ""], "--by must be a name of 1 to 64 characters"),
])
async def test_admin_correct_refusals(db: Database, db_url: str,
                                      capsys: pytest.CaptureFixture[str], argv: list[str],
                                      message: str) -> None:
    assert await run(db_settings(db_url), "admin", "correct", *argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""
    [info] = await rows(db, BasicInfo)
    assert info.mobile == "13800000002" and info.member_type == "student"
    assert await rows(db, AuditLog) == []


# ---- the command tree -------------------------------------------------------------------------


def _parsers(parser: argparse.ArgumentParser, path: str = "yiqingtong"
             ) -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _parsers(child, f"{path} {name}")
    return found


def test_every_command_and_option_explains_itself() -> None:
    undocumented = []
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                undocumented += [f"{path} {a.dest}" for a in action._choices_actions
                                 if not a.help]
            elif not action.help:
                undocumented.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert undocumented == []


def test_roster_import_help_lists_the_csv_columns(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["roster", "import", "--help"])
    text = capsys.readouterr().out
    for column in ("userid", "name", "unit", "role", "mobile", "parent_unit", "reviews"):
        assert column in text
