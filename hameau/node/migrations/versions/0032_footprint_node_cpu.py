"""footprint: the node's CPU and memory named by an admin, when the kernel does not name them
(a virtual machine's /proc/cpuinfo says "AMD EPYC" or "QEMU Virtual CPU"; issue 16)

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("footprint_node") as batch:
        batch.add_column(sa.Column("cpu", sa.String(length=100), nullable=True))
        batch.add_column(sa.Column("memory_gb", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("footprint_node") as batch:
        batch.drop_column("memory_gb")
        batch.drop_column("cpu")
