"""inbound_event.reply: the passive reply a callback was answered with, for its re-sends.

Revision ID: 0003_passive_reply
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003_passive_reply"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_event") as batch:
        batch.add_column(sa.Column("reply", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("inbound_event") as batch:
        batch.drop_column("reply")
