"""ai queries: each member's own AI history

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ai_queries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("model", sa.String(length=200), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("energy_wh", sa.Float(), nullable=False),
        sa.Column("ran_on", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_ai_queries_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ai_queries")),
    )
    with op.batch_alter_table("ai_queries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ai_queries_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_ai_queries_member_id"), ["member_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ai_queries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ai_queries_member_id"))
        batch_op.drop_index(batch_op.f("ix_ai_queries_created_at"))
    op.drop_table("ai_queries")
