"""backup offers: the space this node offers each paired peer for its restic repository
(issue 13)

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "backup_offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("peer_node_id", sa.String(length=40), nullable=False),
        sa.Column("quota_bytes", sa.BigInteger(), nullable=False),
        sa.Column("offered_at", sa.DateTime(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(), nullable=True),
        sa.Column("last_snapshot_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backup_offers")),
        sa.UniqueConstraint("peer_node_id", name=op.f("uq_backup_offers_peer_node_id")),
    )


def downgrade() -> None:
    op.drop_table("backup_offers")
