"""member home: where a member's home is when it moved to another node, and the final
phase's freeze of their writes (issue 13)

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("moved_to", sa.String(length=300), nullable=True))
        batch.add_column(sa.Column("moved_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("frozen_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.drop_column("frozen_at")
        batch.drop_column("moved_at")
        batch.drop_column("moved_to")
