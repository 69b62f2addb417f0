"""hamlet over TLS: each peer's pinned certificate fingerprint (SHA-256 of its public key)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("hamlet_peers") as batch:
        batch.add_column(sa.Column("tls_fingerprint", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hamlet_peers") as batch:
        batch.drop_column("tls_fingerprint")
