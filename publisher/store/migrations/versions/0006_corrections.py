"""an admin's merges and splits of imported articles, replayed on re-import

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from publisher.store.models import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "corrections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("other", sa.String(length=300), nullable=False),
        sa.Column("heading", sa.Text(), nullable=False),
        sa.Column("undo", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corrections")),
    )
    op.create_index(op.f("ix_corrections_key"), "corrections", ["key"])


def downgrade() -> None:
    op.drop_index(op.f("ix_corrections_key"), table_name="corrections")
    op.drop_table("corrections")
