"""footprint: the node as a device, energy counters' baseline, wall meter readings (issue 16)

Revision ID: 0024
Revises: 0022
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024"
down_revision: str | None = "0023"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "footprint_node",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=True),
        sa.Column("acquired_on", sa.Date(), nullable=True),
        sa.Column("lifetime_years", sa.Integer(), nullable=True),
        sa.Column("country", sa.String(length=3), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_footprint_node")),
    )
    op.create_table(
        "footprint_counters",
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("boot_id", sa.String(length=64), nullable=False),
        sa.Column("raw", sa.BigInteger(), nullable=False),
        sa.Column("read_at", sa.DateTime(), nullable=False),
        sa.Column("joules", sa.Float(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
        sa.Column("first_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", name=op.f("pk_footprint_counters")),
    )
    op.create_table(
        "footprint_meter_readings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(), nullable=False),
        sa.Column("entered_by", sa.String(length=80), nullable=False),
        sa.Column("watts", sa.Float(), nullable=False),
        sa.Column("kwh", sa.Float(), nullable=True),
        sa.Column("hours", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_footprint_meter_readings")),
    )


def downgrade() -> None:
    op.drop_table("footprint_meter_readings")
    op.drop_table("footprint_counters")
    op.drop_table("footprint_node")
