"""accounts: failed logins in the database, shared by several processes (issue 17)

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("stamps", sa.Text(), nullable=False),
        sa.Column("last", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "key", name=op.f("pk_login_failures")),
    )
    op.create_index(op.f("ix_login_failures_last"), "login_failures", ["last"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_login_failures_last"), table_name="login_failures")
    op.drop_table("login_failures")
