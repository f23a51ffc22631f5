"""the book's clock as one row instead of an index on lead_scores.as_of

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import funnelcast.book.tables

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clock",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("as_of", funnelcast.book.tables.Instant(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    # the newest score's time, read while lead_scores.as_of still has its index
    op.execute(
        "INSERT INTO clock (name, as_of) SELECT 'scores', max(as_of) FROM "
        "(SELECT max(as_of) AS as_of FROM lead_scores UNION ALL SELECT max(as_of) FROM deal_scores) s "
        "HAVING max(as_of) IS NOT NULL"
    )
    with op.batch_alter_table("lead_scores", schema=None) as batch_op:
        batch_op.drop_index("ix_lead_scores_as_of")


def downgrade() -> None:
    with op.batch_alter_table("lead_scores", schema=None) as batch_op:
        batch_op.create_index("ix_lead_scores_as_of", ["as_of"], unique=False)
    op.drop_table("clock")
