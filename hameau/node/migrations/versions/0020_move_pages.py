"""move pages: members' consent to automatic moves and proposals set aside, and the admins'
preset of automatic moves (issue 13)

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "move_choices",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("consent_at", sa.DateTime(), nullable=True),
        sa.Column("dismissed_peer", sa.String(length=40), nullable=True),
        sa.Column("dismissed_until", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_move_choices_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_move_choices")),
    )
    op.create_table(
        "move_presets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("changed_by", sa.String(length=40), nullable=True),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_move_presets")),
    )


def downgrade() -> None:
    op.drop_table("move_presets")
    op.drop_table("move_choices")
