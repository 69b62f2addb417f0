"""hamlet: paired nodes with their pinned keys, one-time invitations (hashed), signed
requests' nonces (kept until their signature expires)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hamlet_invitations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.Column("used_by", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hamlet_invitations")),
        sa.UniqueConstraint("secret_hash", name=op.f("uq_hamlet_invitations_secret_hash")),
    )
    op.create_table(
        "hamlet_nonces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(length=40), nullable=False),
        sa.Column("nonce", sa.String(length=100), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hamlet_nonces")),
        sa.UniqueConstraint("node_id", "nonce", name=op.f("uq_hamlet_nonces_node_id")),
    )
    op.create_index(
        op.f("ix_hamlet_nonces_expires_at"), "hamlet_nonces", ["expires_at"], unique=False
    )
    op.create_table(
        "hamlet_peers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("node_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("address", sa.String(length=300), nullable=False),
        sa.Column("public_key", sa.String(length=64), nullable=False),
        sa.Column("paired_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.Column("last_seen_at", sa.DateTime(), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hamlet_peers")),
        sa.UniqueConstraint("node_id", name=op.f("uq_hamlet_peers_node_id")),
    )


def downgrade() -> None:
    op.drop_table("hamlet_peers")
    op.drop_index(op.f("ix_hamlet_nonces_expires_at"), table_name="hamlet_nonces")
    op.drop_table("hamlet_nonces")
    op.drop_table("hamlet_invitations")
