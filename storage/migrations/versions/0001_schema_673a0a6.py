"""The schema of commit 673a0a6, the last one created by `create_all`.

Deployments created then have these tables and no alembic_version table; storage/schema.py
recognises them and stamps them at this revision instead of running it.

Revision ID: 0001
Revises:
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target', sa.String(length=128), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_audit_log_at', 'audit_log', ['at'])
    op.create_table('card_task',
    sa.Column('task_id', sa.String(length=128), nullable=False),
    sa.Column('userid', sa.String(length=64), nullable=False),
    sa.Column('purpose', sa.String(length=64), nullable=False),
    sa.Column('ref', sa.String(length=128), nullable=False),
    sa.Column('live', sa.Boolean(), nullable=False),
    sa.Column('response_code', sa.String(length=256), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('task_id')
    )
    op.create_index('ix_card_task_userid', 'card_task', ['userid'])
    op.create_table('conversation',
    sa.Column('userid', sa.String(length=64), nullable=False),
    sa.Column('form_id', sa.String(length=32), nullable=False),
    sa.Column('form_version', sa.Integer(), nullable=False),
    sa.Column('state', sa.JSON(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('userid')
    )
    op.create_index('ix_conversation_updated_at', 'conversation', ['updated_at'])
    op.create_table('inbound_event',
    sa.Column('dedupe_key', sa.String(length=255), nullable=False),
    sa.Column('userid', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('received_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('dedupe_key')
    )
    op.create_index('ix_inbound_event_received_at', 'inbound_event', ['received_at'])
    op.create_index('ix_inbound_event_userid', 'inbound_event', ['userid'])
    op.create_table('job_run',
    sa.Column('job', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('enqueued', sa.Integer(), nullable=False),
    sa.Column('instance', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('job', 'day')
    )
    op.create_table('outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dedupe_key', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('touser', sa.String(length=64), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('payload_hash', sa.String(length=64), nullable=False),
    sa.Column('skip_if_reported', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('not_before', sa.DateTime(), nullable=False),
    sa.Column('claimed_until', sa.DateTime(), nullable=True),
    sa.Column('claimed_by', sa.String(length=32), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('msgid', sa.String(length=128), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('dedupe_key')
    )
    op.create_index('ix_outbox_due', 'outbox', ['status', 'not_before'])
    op.create_index('ix_outbox_member_sent', 'outbox', ['touser', 'sent_at'])
    op.create_table('schema_info',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('token_cache',
    sa.Column('key', sa.String(length=128), nullable=False),
    sa.Column('access_token', sa.String(length=1024), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_table('unit',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('parent_id', sa.String(length=64), nullable=True),
    sa.Column('wecom_department_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['parent_id'], ['unit.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_unit_parent_id', 'unit', ['parent_id'])
    op.create_index('ix_unit_wecom_department_id', 'unit', ['wecom_department_id'])
    op.create_table('member',
    sa.Column('userid', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('unit_id', sa.String(length=64), nullable=True),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('mobile', sa.String(length=20), nullable=True),
    sa.Column('following', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=True),
    sa.Column('rendering', sa.String(length=8), nullable=True),
    sa.Column('abroad_country', sa.String(length=64), nullable=True),
    sa.Column('last_lat', sa.Float(), nullable=True),
    sa.Column('last_lng', sa.Float(), nullable=True),
    sa.Column('last_location_at', sa.DateTime(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.PrimaryKeyConstraint('userid')
    )
    op.create_index('ix_member_unit_id', 'member', ['unit_id'])
    op.create_table('basic_info',
    sa.Column('userid', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('staff_no', sa.String(length=32), nullable=False),
    sa.Column('mobile', sa.String(length=20), nullable=False),
    sa.Column('beijing_hukou', sa.Boolean(), nullable=False),
    sa.Column('hukou_address', sa.String(length=200), nullable=True),
    sa.Column('member_type', sa.String(length=16), nullable=False),
    sa.Column('form_version', sa.Integer(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('submitted_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['userid'], ['member.userid'], ),
    sa.PrimaryKeyConstraint('userid')
    )
    op.create_table('daily_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('receipt', sa.String(length=16), nullable=False),
    sa.Column('userid', sa.String(length=64), nullable=False),
    sa.Column('report_date', sa.Date(), nullable=False),
    sa.Column('form_version', sa.Integer(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('temperature', sa.Float(), nullable=True),
    sa.Column('abnormal', sa.Boolean(), nullable=False),
    sa.Column('abnormal_reasons', sa.JSON(), nullable=False),
    sa.Column('location_kind', sa.String(length=16), nullable=False),
    sa.Column('province', sa.String(length=64), nullable=True),
    sa.Column('city', sa.String(length=64), nullable=True),
    sa.Column('district', sa.String(length=64), nullable=True),
    sa.Column('country', sa.String(length=64), nullable=True),
    sa.Column('filled_by', sa.String(length=64), nullable=False),
    sa.Column('proxy_reason', sa.String(length=200), nullable=True),
    sa.Column('submitted_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['userid'], ['member.userid'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('receipt'),
    sa.UniqueConstraint('userid', 'report_date', name='uq_report_once_a_day')
    )
    op.create_index('ix_daily_report_report_date', 'daily_report', ['report_date'])
    op.create_index('ix_daily_report_userid', 'daily_report', ['userid'])
    op.create_table('reviewer_assignment',
    sa.Column('userid', sa.String(length=64), nullable=False),
    sa.Column('unit_id', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['unit_id'], ['unit.id'], ),
    sa.ForeignKeyConstraint(['userid'], ['member.userid'], ),
    sa.PrimaryKeyConstraint('userid', 'unit_id')
    )
    op.create_table('alert',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('acknowledged_by', sa.String(length=64), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['report_id'], ['daily_report.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('report_id')
    )


def downgrade() -> None:
    op.drop_table('alert')
    op.drop_table('reviewer_assignment')
    op.drop_table('daily_report')
    op.drop_table('basic_info')
    op.drop_table('member')
    op.drop_table('unit')
    op.drop_table('token_cache')
    op.drop_table('schema_info')
    op.drop_table('outbox')
    op.drop_table('job_run')
    op.drop_table('inbound_event')
    op.drop_table('conversation')
    op.drop_table('card_task')
    op.drop_table('audit_log')
