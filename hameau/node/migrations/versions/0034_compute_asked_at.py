"""compute: when a run's asking home last asked about it (a provider stops a run its asker
no longer follows, issue 15)

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from hameau.node.db import UTCDateTime

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("compute_provided") as batch:
        batch.add_column(sa.Column("asked_at", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("compute_provided") as batch:
        batch.drop_column("asked_at")
