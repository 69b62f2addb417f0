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


# Plain ALTER TABLE (SQLite ≥ 3.35 adds and drops columns in place): batch mode would copy,
# drop and rename `members`, and with foreign keys on, dropping it deletes every row that
# refers to a member (ON DELETE CASCADE).
def upgrade() -> None:
    op.add_column("members", sa.Column("moved_to", sa.String(length=300), nullable=True))
    op.add_column("members", sa.Column("moved_at", sa.DateTime(), nullable=True))
    op.add_column("members", sa.Column("frozen_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("members", "frozen_at")
    op.drop_column("members", "moved_at")
    op.drop_column("members", "moved_to")
