"""hamlet visits: the one-time codes of a visit's sign-in (hashed) and the visits of this
home's members to paired homes' shared terminals

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "hamlet_visit_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("peer_node_id", sa.String(length=40), nullable=False),
        sa.Column("redirect_uri", sa.String(length=400), nullable=False),
        sa.Column("scope", sa.String(length=100), nullable=False),
        sa.Column("nonce", sa.String(length=200), nullable=True),
        sa.Column("code_challenge", sa.String(length=128), nullable=False),
        sa.Column("code_challenge_method", sa.String(length=10), nullable=False),
        sa.Column("device_label", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_hamlet_visit_codes_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hamlet_visit_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_hamlet_visit_codes_code_hash")),
    )
    op.create_index(
        op.f("ix_hamlet_visit_codes_expires_at"), "hamlet_visit_codes", ["expires_at"], unique=False
    )
    op.create_table(
        "hamlet_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("peer_node_id", sa.String(length=40), nullable=False),
        sa.Column("peer_name", sa.String(length=100), nullable=False),
        sa.Column("device_label", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("login_session_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("ended_by", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["login_session_id"],
            ["login_sessions.id"],
            name=op.f("fk_hamlet_visits_login_session_id_login_sessions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_hamlet_visits_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hamlet_visits")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_hamlet_visits_token_hash")),
    )
    op.create_index(
        op.f("ix_hamlet_visits_member_id"), "hamlet_visits", ["member_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_hamlet_visits_member_id"), table_name="hamlet_visits")
    op.drop_table("hamlet_visits")
    op.drop_index(op.f("ix_hamlet_visit_codes_expires_at"), table_name="hamlet_visit_codes")
    op.drop_table("hamlet_visit_codes")
