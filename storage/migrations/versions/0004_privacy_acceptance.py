"""The privacy notice: which version each member accepted, and when.

Revision ID: 0004_privacy
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004_privacy"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("member") as batch:
        batch.add_column(sa.Column("privacy_version", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("privacy_accepted_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("member") as batch:
        batch.drop_column("privacy_accepted_at")
        batch.drop_column("privacy_version")
