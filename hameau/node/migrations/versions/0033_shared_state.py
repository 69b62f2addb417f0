"""state every process of a node shares (issue 17): the AI page's questions waiting for
their answer, the contents a satellite proved it holds, visitors on shared devices, and the
node's records (the weekly scrub's)

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "node_records",
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_node_records")),
    )
    op.create_table(
        "ai_asks",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("asked", sa.JSON(), nullable=False),
        sa.Column("posted", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"],
                                name=op.f("fk_ai_asks_member_id_members"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_ai_asks")),
    )  # fmt: skip
    op.create_index(op.f("ix_ai_asks_posted"), "ai_asks", ["posted"], unique=False)
    op.create_table(
        "travel_proofs",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("proved", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"],
                                name=op.f("fk_travel_proofs_member_id_members"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("member_id", "digest", name=op.f("pk_travel_proofs")),
    )  # fmt: skip
    op.create_index(op.f("ix_travel_proofs_proved"), "travel_proofs", ["proved"], unique=False)

    op.create_table(
        "hamlet_visitors",
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("started", sa.Float(), nullable=False),
        sa.Column("expires", sa.Float(), nullable=False),
        sa.Column("last_used", sa.Float(), nullable=False),
        sa.Column("idle_seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(["peer_id"], ["hamlet_peers.id"],
                                name=op.f("fk_hamlet_visitors_peer_id_hamlet_peers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_hamlet_visitors")),
    )  # fmt: skip
    op.create_index(
        op.f("ix_hamlet_visitors_last_used"), "hamlet_visitors", ["last_used"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_hamlet_visitors_last_used"), table_name="hamlet_visitors")
    op.drop_table("hamlet_visitors")
    op.drop_index(op.f("ix_travel_proofs_proved"), table_name="travel_proofs")
    op.drop_table("travel_proofs")
    op.drop_index(op.f("ix_ai_asks_posted"), table_name="ai_asks")
    op.drop_table("ai_asks")
    op.drop_table("node_records")
