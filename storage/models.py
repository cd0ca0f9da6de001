"""Every table, in one place, so that migrations have one metadata to diff against.

A change here needs an Alembic revision in storage/migrations/versions (README: "Schema
migrations"); tests/test_migrations.py fails until the revisions match these models.

Datetimes are stored as naive UTC and come back timezone-aware (`UtcDateTime`), so SQLite and
PostgreSQL behave the same. Answers are JSON so forms can evolve; each record keeps the version
of the form it answered.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UtcDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, naive UTC in the database."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UtcDateTime column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utc_column(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_type=UtcDateTime, nullable=nullable, index=index)


def json_field(default_factory: Any = dict) -> Any:
    return Field(default_factory=default_factory, sa_type=sa.JSON, nullable=False)


class Unit(SQLModel, table=True):
    """A college, department or class. Units form a tree through parent_id."""

    __tablename__ = "unit"
    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=128)
    parent_id: str | None = Field(default=None, foreign_key="unit.id", index=True, max_length=64)
    wecom_department_id: int | None = Field(default=None, index=True)


class Member(SQLModel, table=True):
    """A roster member. `following` stays true until WeCom says otherwise (subscribe is sent
    only when someone is added to the app's visible range)."""

    __tablename__ = "member"
    userid: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=64)
    unit_id: str | None = Field(default=None, foreign_key="unit.id", index=True, max_length=64)
    role: str = Field(default="member", max_length=16)  # member | reviewer | admin
    mobile: str | None = Field(default=None, max_length=20)
    following: bool = True
    active: bool = True
    language: str | None = Field(default=None, max_length=8)  # zh | en; None = deployment default
    rendering: str | None = Field(default=None, max_length=8)  # text | cards; None = default
    abroad_country: str | None = Field(default=None, max_length=64)
    last_lat: float | None = None
    last_lng: float | None = None
    last_location_at: datetime | None = utc_column(nullable=True)
    # The privacy notice version the member accepted (None: never), and when.
    privacy_version: int | None = None
    privacy_accepted_at: datetime | None = utc_column(nullable=True)
    # The command (text or menu key) that was answered with the notice instead; it is run
    # once the member accepts (handlers/privacy_notice.py), then cleared.
    privacy_pending: str | None = Field(default=None, max_length=512)
    created_at: datetime = utc_column()
    updated_at: datetime = utc_column()


class ReviewerAssignment(SQLModel, table=True):
    """Who reviews which unit (and, through the tree, every unit below it)."""

    __tablename__ = "reviewer_assignment"
    userid: str = Field(primary_key=True, foreign_key="member.userid", max_length=64)
    unit_id: str = Field(primary_key=True, foreign_key="unit.id", max_length=64)


class InboundEvent(SQLModel, table=True):
    """One row per accepted callback; the primary key makes WeCom's re-sends harmless."""

    __tablename__ = "inbound_event"
    dedupe_key: str = Field(primary_key=True, max_length=255)
    userid: str = Field(default="", max_length=64, index=True)
    kind: str = Field(default="", max_length=64)
    received_at: datetime = utc_column(index=True)
    # The text of the passive reply this callback was answered with (None: empty answer), so
    # that a callback WeCom re-sends is answered with the identical reply.
    reply: str | None = Field(default=None, sa_type=sa.Text, nullable=True)


class Conversation(SQLModel, table=True):
    """The form a member is filling in, persisted at every step."""

    __tablename__ = "conversation"
    # The hottest row: every answer rewrites it. No index but the key, and room left in each
    # page (PostgreSQL's fillfactor), so that an answer's UPDATE is a HOT update: the new row
    # version goes on the same page and no index is written. An index on updated_at (only the
    # daily housekeeping reads it, scanning at most one row per member) made every answer
    # write both indexes and leave a dead version in each (migration 0008).
    __table_args__ = {"postgresql_with": {"fillfactor": 70}}
    userid: str = Field(primary_key=True, max_length=64)
    form_id: str = Field(max_length=32)
    form_version: int
    state: dict[str, Any] = json_field()
    started_at: datetime = utc_column()
    updated_at: datetime = utc_column()  # the engine decides when a form is stale
    # A reviewer's own form, kept while they 代报/补报 for a member; it comes back when that
    # form ends (storage/conversations.py: pause, end). {form_id, form_version, state,
    # started_at, updated_at}
    paused: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON, nullable=True)


class CardTask(SQLModel, table=True):
    """Every interactive card we sent: whose it is and whether it can still be answered."""

    __tablename__ = "card_task"
    task_id: str = Field(primary_key=True, max_length=128)
    userid: str = Field(max_length=64, index=True)
    purpose: str = Field(max_length=64)  # e.g. "form:daily_report:temperature", "alert:ack"
    ref: str = Field(default="", max_length=128)  # conversation step id, alert id, ...
    live: bool = True
    response_code: str | None = Field(default=None, max_length=256)
    created_at: datetime = utc_column()


class BasicInfo(SQLModel, table=True):
    """基本信息: filled once; the primary key forbids a second submission."""

    __tablename__ = "basic_info"
    userid: str = Field(primary_key=True, foreign_key="member.userid", max_length=64)
    name: str = Field(max_length=64)
    staff_no: str = Field(max_length=32)
    mobile: str = Field(max_length=20)
    beijing_hukou: bool
    hukou_address: str | None = Field(default=None, max_length=200)
    member_type: str = Field(max_length=16)  # student | faculty | staff
    form_version: int
    answers: dict[str, Any] = json_field()
    submitted_at: datetime = utc_column()


class DailyReport(SQLModel, table=True):
    """每日上报: one per member per calendar day in the configured time zone."""

    __tablename__ = "daily_report"
    __table_args__ = (sa.UniqueConstraint("userid", "report_date", name="uq_report_once_a_day"),)
    id: int | None = Field(default=None, primary_key=True)
    receipt: str = Field(max_length=16, unique=True)
    userid: str = Field(foreign_key="member.userid", max_length=64, index=True)
    report_date: date = Field(index=True)
    form_version: int
    answers: dict[str, Any] = json_field()
    temperature: float | None = None
    abnormal: bool = False
    abnormal_reasons: list[str] = json_field(list)
    location_kind: str = Field(default="", max_length=16)  # gps | typed | abroad | unknown
    province: str | None = Field(default=None, max_length=64)
    city: str | None = Field(default=None, max_length=64)
    district: str | None = Field(default=None, max_length=64)
    country: str | None = Field(default=None, max_length=64)
    filled_by: str = Field(max_length=64)  # the member, or the reviewer who filled on behalf
    proxy_reason: str | None = Field(default=None, max_length=200)
    late: bool = False  # 补报: filed by a reviewer after the day was over
    late_reason: str | None = Field(default=None, max_length=200)
    submitted_at: datetime = utc_column()


class FormVersion(SQLModel, table=True):
    """A published version of a form (`yiqingtong form publish`): its TOML as published, in
    use for forms started on or after `effective_from`. Rows are never changed or deleted:
    stored reports and forms in progress name their version."""

    __tablename__ = "form_version"
    __table_args__ = (sa.UniqueConstraint("name", "version", name="uq_form_version"),)
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=32)
    version: int
    text: str = Field(sa_type=sa.Text)
    checksum: str = Field(max_length=64)  # sha256 of the text without its version line
    effective_from: date
    published_at: datetime = utc_column()
    published_by: str = Field(default="", max_length=64)


class Exemption(SQLModel, table=True):
    """免报: a member need not report from `start` to `end` (inclusive): leave, graduated,
    hospitalised. Exempt members are not reminded and not counted missing."""

    __tablename__ = "exemption"
    __table_args__ = (sa.Index("ix_exemption_member_days", "userid", "start", "end"),)
    id: int | None = Field(default=None, primary_key=True)
    userid: str = Field(foreign_key="member.userid", max_length=64)
    start: date
    end: date
    reason: str = Field(max_length=200)
    created_by: str = Field(max_length=64)
    created_at: datetime = utc_column()


class Notice(SQLModel, table=True):
    """A policy notice sent to a unit (and the units below it) or to everyone."""

    __tablename__ = "notice"
    id: int | None = Field(default=None, primary_key=True)
    unit_id: str | None = Field(default=None, max_length=64)  # None: everyone
    title: str = Field(max_length=128)
    body: str = Field(max_length=4000)
    cards: bool = False
    created_by: str = Field(max_length=64)
    created_at: datetime = utc_column()


class NoticeRecipient(SQLModel, table=True):
    """Who a notice went to, and when they said they had read it."""

    __tablename__ = "notice_recipient"
    notice_id: int = Field(primary_key=True, foreign_key="notice.id")
    userid: str = Field(primary_key=True, max_length=64, index=True)
    read_at: datetime | None = utc_column(nullable=True)


class Alert(SQLModel, table=True):
    """An abnormal report pushed to a unit's reviewers, once, and who acknowledged it."""

    __tablename__ = "alert"
    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="daily_report.id", unique=True)
    reasons: list[str] = json_field(list)
    created_at: datetime = utc_column()
    acknowledged_by: str | None = Field(default=None, max_length=64)
    acknowledged_at: datetime | None = utc_column(nullable=True)


class Outbox(SQLModel, table=True):
    """Every outbound WeCom call, written in the same transaction as the change that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_due", "status", "not_before"),
                      sa.Index("ix_outbox_member_sent", "touser", "sent_at"))
    id: int | None = Field(default=None, primary_key=True)
    dedupe_key: str = Field(max_length=255, unique=True)
    kind: str = Field(default="send", max_length=24)  # send | update_card
    touser: str = Field(default="", max_length=64)
    payload: dict[str, Any] = json_field()
    payload_hash: str = Field(default="", max_length=64)
    skip_if_reported: date | None = None  # reminders: drop if the member reported that day
    status: str = Field(default="pending", max_length=12)  # pending | sent | dead | cancelled
    attempts: int = 0
    not_before: datetime = utc_column()
    claimed_until: datetime | None = utc_column(nullable=True)
    claimed_by: str | None = Field(default=None, max_length=32)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = utc_column()
    sent_at: datetime | None = utc_column(nullable=True)
    msgid: str | None = Field(default=None, max_length=128)


class JobRun(SQLModel, table=True):
    """One row per scheduled job and reporting day: what ran, so a restart can catch up a
    missed job inside its grace window and never run it twice for the same day."""

    __tablename__ = "job_run"
    job: str = Field(primary_key=True, max_length=64)
    day: date = Field(primary_key=True)
    started_at: datetime = utc_column()
    finished_at: datetime | None = utc_column(nullable=True)
    enqueued: int = 0
    instance: str = Field(default="", max_length=64)


class TokenCache(SQLModel, table=True):
    """The access token, shared by every instance so they do not each call gettoken."""

    __tablename__ = "token_cache"
    key: str = Field(primary_key=True, max_length=128)
    access_token: str = Field(max_length=1024)
    expires_at: datetime = utc_column()


class AuditLog(SQLModel, table=True):
    __tablename__ = "audit_log"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = utc_column(index=True)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=64)
    target: str = Field(default="", max_length=128)
    detail: dict[str, Any] = json_field()


metadata = SQLModel.metadata
