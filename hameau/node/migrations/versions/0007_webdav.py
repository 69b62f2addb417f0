"""webdav: locks and dead properties per resource

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dav_properties",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=1000), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("charged_to", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["charged_to"],
            ["members.id"],
            name=op.f("fk_dav_properties_charged_to_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["file_entries.id"],
            name=op.f("fk_dav_properties_entry_id_file_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dav_properties")),
        sa.UniqueConstraint("entry_id", "name", name=op.f("uq_dav_properties_entry_id")),
    )
    with op.batch_alter_table("dav_properties", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dav_properties_entry_id"), ["entry_id"])
        batch_op.create_index(batch_op.f("ix_dav_properties_charged_to"), ["charged_to"])

    op.create_table(
        "dav_locks",
        sa.Column("token", sa.String(length=100), nullable=False),
        sa.Column("root", sa.String(length=4000), nullable=False),
        sa.Column("principal", sa.String(length=200), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("depth", sa.String(length=20), nullable=False),
        sa.Column("owner", sa.LargeBinary(), nullable=False),
        sa.Column("timeout", sa.Float(), nullable=False),
        sa.Column("expire", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_dav_locks")),
    )
    with op.batch_alter_table("dav_locks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dav_locks_root"), ["root"])
        batch_op.create_index(batch_op.f("ix_dav_locks_expire"), ["expire"])


def downgrade() -> None:
    with op.batch_alter_table("dav_locks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dav_locks_expire"))
        batch_op.drop_index(batch_op.f("ix_dav_locks_root"))
    op.drop_table("dav_locks")
    with op.batch_alter_table("dav_properties", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dav_properties_charged_to"))
        batch_op.drop_index(batch_op.f("ix_dav_properties_entry_id"))
    op.drop_table("dav_properties")
