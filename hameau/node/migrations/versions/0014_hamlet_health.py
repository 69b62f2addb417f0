"""hamlet: each peer's health as the last calls found it (failures in a row, when to try
again, the last failure's sentence), so a down peer is not called again at once

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hamlet_peers") as batch:
        batch.add_column(sa.Column("failures", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("next_try_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("last_tried_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("last_error", sa.String(length=600), nullable=True))
    # "down" was the first name of "unreachable".
    op.execute("UPDATE hamlet_peers SET state = 'unreachable' WHERE state = 'down'")


def downgrade() -> None:
    with op.batch_alter_table("hamlet_peers") as batch:
        batch.drop_column("last_error")
        batch.drop_column("last_tried_at")
        batch.drop_column("next_try_at")
        batch.drop_column("failures")
