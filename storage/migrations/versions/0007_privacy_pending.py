"""The command a member sent before accepting the privacy notice, answered once they accept.

Revision ID: 0007_privacy_pending
Revises: 0006_paused
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007_privacy_pending"
down_revision: str | None = "0006_paused"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("member") as batch:
        batch.add_column(sa.Column("privacy_pending", sa.String(length=512), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("member") as batch:
        batch.drop_column("privacy_pending")
