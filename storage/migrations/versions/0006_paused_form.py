"""A reviewer's own form is kept (paused) while they 代报/补报 for a member.

Revision ID: 0006_paused
Revises: 0005_forms
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006_paused"
down_revision: str | None = "0005_forms"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversation") as batch:
        batch.add_column(sa.Column("paused", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversation") as batch:
        batch.drop_column("paused")
