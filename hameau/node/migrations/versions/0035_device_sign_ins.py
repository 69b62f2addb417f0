"""hamlet: device sign-ins under way on this node's terminals (RFC 8628, terminal_device.py)
kept in the database, so the waiting page's polls may reach any process serving the node
(issue 17)

Revision ID: 0035
Revises: 0034
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0035"
down_revision: str | None = "0034"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hamlet_device_sign_ins",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("user_code", sa.String(length=20), nullable=False),
        sa.Column("verification_uri", sa.String(length=300), nullable=False),
        sa.Column("complete", sa.String(length=400), nullable=False),
        sa.Column("started", sa.Float(), nullable=False),
        sa.Column("expires", sa.Float(), nullable=False),
        sa.Column("interval", sa.Float(), nullable=False),
        sa.Column("next_poll", sa.Float(), nullable=False),
        sa.Column("outcome", sa.String(length=10), nullable=False),
        sa.Column("unreachable", sa.Boolean(), nullable=False),
        sa.Column("polling_until", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["peer_id"], ["hamlet_peers.id"],
                                name=op.f("fk_hamlet_device_sign_ins_peer_id_hamlet_peers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_hamlet_device_sign_ins")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_hamlet_device_sign_ins_started"), "hamlet_device_sign_ins", ["started"],
        unique=False,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index(op.f("ix_hamlet_device_sign_ins_started"), table_name="hamlet_device_sign_ins")
    op.drop_table("hamlet_device_sign_ins")
