"""hamlet ai: the AI lent to peers — each peer's policy, its usage per day, the lender's log

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def _peer(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["peer_id"], ["hamlet_peers.id"], name=op.f(f"fk_{table}_peer_id_hamlet_peers"),
        ondelete="CASCADE",
    )  # fmt: skip


def upgrade() -> None:
    op.create_table(
        "hamlet_ai_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("open", sa.Boolean(), nullable=False),
        sa.Column("per_day", sa.Integer(), nullable=False),
        sa.Column("models", sa.JSON(), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        _peer("hamlet_ai_policies"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hamlet_ai_policies")),
        sa.UniqueConstraint("peer_id", name=op.f("uq_hamlet_ai_policies_peer_id")),
    )
    op.create_table(
        "hamlet_ai_usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cpu_seconds", sa.Float(), nullable=False),
        _peer("hamlet_ai_usage"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hamlet_ai_usage")),
        sa.UniqueConstraint("peer_id", "day", name=op.f("uq_hamlet_ai_usage_peer_id")),
    )
    op.create_table(
        "hamlet_ai_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("peer_id", sa.Integer(), nullable=False),
        sa.Column("pseudonym", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cpu_seconds", sa.Float(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        _peer("hamlet_ai_requests"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hamlet_ai_requests")),
    )
    with op.batch_alter_table("hamlet_ai_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_hamlet_ai_requests_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_hamlet_ai_requests_peer_id"), ["peer_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("hamlet_ai_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hamlet_ai_requests_peer_id"))
        batch_op.drop_index(batch_op.f("ix_hamlet_ai_requests_created_at"))
    op.drop_table("hamlet_ai_requests")
    op.drop_table("hamlet_ai_usage")
    op.drop_table("hamlet_ai_policies")
