"""Conversations are updated in place: no index on updated_at, and room in each page.

Every answer rewrites the member's conversation row. With an index on updated_at (which
changes on every answer) PostgreSQL could never make that a HOT update: each answer wrote a new
entry in both indexes and left a dead version behind in each. Without it, and with a fillfactor
of 70 (room on the page for the new version), the update stays on its page and writes no index.
The daily housekeeping that read the index scans the table instead (one row per member at most).

Revision ID: 0008_conversation_hot
Revises: 0007_privacy_pending
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision: str = "0008_conversation_hot"
down_revision: str | None = "0007_privacy_pending"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.drop_index("ix_conversation_updated_at", table_name="conversation")
    if op.get_bind().dialect.name == "postgresql":
        # New pages keep 30 % free; pages already full fill up as rows move on update.
        op.execute("ALTER TABLE conversation SET (fillfactor = 70)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE conversation RESET (fillfactor)")
    op.create_index("ix_conversation_updated_at", "conversation", ["updated_at"])
