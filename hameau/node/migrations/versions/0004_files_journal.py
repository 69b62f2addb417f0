"""files journal

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "sync_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("space", sa.String(length=40), nullable=False),
        sa.Column("path", sa.String(length=4000), nullable=False),
        sa.Column("vector", sa.JSON(), nullable=False),
        sa.Column("blob", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_entries")),
        sa.UniqueConstraint("space", "path", name=op.f("uq_sync_entries_space")),
    )
    with op.batch_alter_table("sync_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sync_entries_seq"), ["seq"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("sync_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_entries_seq"))

    op.drop_table("sync_entries")
