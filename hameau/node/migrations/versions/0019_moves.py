"""moves: one row per move of a member between two nodes, on each of them (issue 13)

Revision ID: 0019
Revises: 0018
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "moves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("move_id", sa.String(length=40), nullable=False),
        sa.Column("role", sa.String(length=3), nullable=False),
        sa.Column("member_name", sa.String(length=40), nullable=False),
        sa.Column("member_since", sa.DateTime(), nullable=True),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("by", sa.String(length=20), nullable=False),
        sa.Column("rollback_of", sa.String(length=40), nullable=True),
        sa.Column("bytes_total", sa.BigInteger(), nullable=False),
        sa.Column("bytes_sent", sa.BigInteger(), nullable=False),
        sa.Column("bytes_skipped", sa.BigInteger(), nullable=False),
        sa.Column("items_total", sa.Integer(), nullable=False),
        sa.Column("verified", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=600), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(), nullable=True),
        sa.Column("switched_at", sa.DateTime(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.Column("rollback_until", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["peer_id"],
            ["hamlet_peers.id"],
            ondelete="CASCADE",
            name=op.f("fk_moves_peer_id_hamlet_peers"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moves")),
        sa.UniqueConstraint("move_id", "role", name=op.f("uq_moves_move_id")),
    )
    op.create_index(op.f("ix_moves_move_id"), "moves", ["move_id"], unique=False)
    op.create_index(op.f("ix_moves_member_name"), "moves", ["member_name"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_moves_member_name"), table_name="moves")
    op.drop_index(op.f("ix_moves_move_id"), table_name="moves")
    op.drop_table("moves")
