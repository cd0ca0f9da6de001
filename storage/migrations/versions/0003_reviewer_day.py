"""A reviewer's day: 补报 marks (daily_report.late, late_reason), exemptions, notices and who
has read them.

Revision ID: 0003
Revises: 0003_passive_reply (re-pointed: both 0003s came from 0002)
Create Date: 2026-12-02 14:42:43.197188
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = '0003_passive_reply'
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table('notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.String(length=64), nullable=True),
    sa.Column('title', sa.String(length=128), nullable=False),
    sa.Column('body', sa.String(length=4000), nullable=False),
    sa.Column('cards', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('notice_recipient',
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('userid', sa.String(length=64), nullable=False),
    sa.Column('read_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['notice_id'], ['notice.id'], ),
    sa.PrimaryKeyConstraint('notice_id', 'userid')
    )
    with op.batch_alter_table('notice_recipient', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notice_recipient_userid'), ['userid'], unique=False)

    op.create_table('exemption',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('userid', sa.String(length=64), nullable=False),
    sa.Column('start', sa.Date(), nullable=False),
    sa.Column('end', sa.Date(), nullable=False),
    sa.Column('reason', sa.String(length=200), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['userid'], ['member.userid'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('exemption', schema=None) as batch_op:
        batch_op.create_index('ix_exemption_member_days', ['userid', 'start', 'end'], unique=False)

    # Plain ADD COLUMN (SQLite has it): batch mode would copy daily_report, which alert
    # references. Existing reports were all filed on their own day.
    op.add_column('daily_report', sa.Column('late', sa.Boolean(), nullable=False,
                                            server_default=sa.false()))
    op.add_column('daily_report', sa.Column('late_reason', sa.String(length=200),
                                            nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('daily_report', schema=None) as batch_op:
        batch_op.drop_column('late_reason')
        batch_op.drop_column('late')

    with op.batch_alter_table('exemption', schema=None) as batch_op:
        batch_op.drop_index('ix_exemption_member_days')

    op.drop_table('exemption')
    with op.batch_alter_table('notice_recipient', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notice_recipient_userid'))

    op.drop_table('notice_recipient')
    op.drop_table('notice')
