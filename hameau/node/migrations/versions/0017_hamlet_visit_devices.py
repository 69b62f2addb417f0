"""hamlet visit devices: device sign-ins (RFC 8628) for terminals that cannot reach home

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

TABLE = "hamlet_visit_devices"


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("device_code_hash", sa.String(length=64), nullable=False),
        sa.Column("user_code", sa.String(length=8), nullable=False),
        sa.Column("peer_node_id", sa.String(length=40), nullable=False),
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("nonce", sa.String(length=200), nullable=True),
        sa.Column("device_label", sa.String(length=100), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("approved", sa.Boolean(), nullable=True),
        sa.Column("interval", sa.Integer(), nullable=False),
        sa.Column("polled_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f(f"fk_{TABLE}_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{TABLE}")),
        sa.UniqueConstraint("device_code_hash", name=op.f(f"uq_{TABLE}_device_code_hash")),
        sa.UniqueConstraint("user_code", name=op.f(f"uq_{TABLE}_user_code")),
    )
    op.create_index(op.f(f"ix_{TABLE}_expires_at"), TABLE, ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f(f"ix_{TABLE}_expires_at"), table_name=TABLE)
    op.drop_table(TABLE)
