"""compute: the node's offer, what it lends, when and at what price (issue 15)

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "compute_offer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("cores", sa.Integer(), nullable=False),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=False),
        sa.Column("hours_start", sa.Integer(), nullable=False),
        sa.Column("hours_end", sa.Integer(), nullable=False),
        sa.Column("price_per_mfuel", sa.Integer(), nullable=False),
        sa.Column("max_fuel", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compute_offer")),
    )


def downgrade() -> None:
    op.drop_table("compute_offer")
