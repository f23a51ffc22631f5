"""analytics_snapshots: the workspace's funnel and forecast as last computed

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 16:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import funnelcast.book.tables

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "analytics_snapshots",
        sa.Column("view", sa.String(length=64), nullable=False),
        sa.Column("as_of", funnelcast.book.tables.Instant(timezone=True), nullable=False),
        sa.Column("computed_at", funnelcast.book.tables.Instant(timezone=True), nullable=False),
        sa.Column("model_version", sa.String(length=128), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("view"),
    )


def downgrade() -> None:
    op.drop_table("analytics_snapshots")
