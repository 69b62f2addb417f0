"""footprint: CPU time per day, app and member (the sync's energy, issue 16)

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "footprint_app_cpu",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("app", sa.String(length=20), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("cpu_seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_footprint_app_cpu_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_footprint_app_cpu")),
        sa.UniqueConstraint("day", "app", "member_id", name=op.f("uq_footprint_app_cpu_day")),
    )


def downgrade() -> None:
    op.drop_table("footprint_app_cpu")
