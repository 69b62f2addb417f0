"""files

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "file_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("is_dir", sa.Boolean(), nullable=False),
        sa.Column("blob", sa.String(length=64), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=120), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("charged_to", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("modified_at", sa.DateTime(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(), nullable=True),
        sa.Column("deleted_from", sa.String(length=4000), nullable=True),
        sa.ForeignKeyConstraint(
            ["charged_to"],
            ["members.id"],
            name=op.f("fk_file_entries_charged_to_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["members.id"],
            name=op.f("fk_file_entries_owner_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["file_entries.id"],
            name=op.f("fk_file_entries_parent_id_file_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_entries")),
    )
    with op.batch_alter_table("file_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_file_entries_blob"), ["blob"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_file_entries_charged_to"), ["charged_to"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_file_entries_deleted_at"), ["deleted_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_file_entries_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_file_entries_parent_id"), ["parent_id"], unique=False)
        batch_op.create_index(
            "uq_file_entries_live_name",
            ["parent_id", "name"],
            unique=True,
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )

    op.create_table(
        "file_shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["file_entries.id"],
            name=op.f("fk_file_shares_entry_id_file_entries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_file_shares_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_shares")),
    )
    with op.batch_alter_table("file_shares", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_file_shares_entry_id"), ["entry_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_file_shares_member_id"), ["member_id"], unique=False)

    op.create_table(
        "file_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("blob", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("charged_to", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["charged_to"],
            ["members.id"],
            name=op.f("fk_file_versions_charged_to_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["file_entries.id"],
            name=op.f("fk_file_versions_entry_id_file_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_file_versions")),
    )
    with op.batch_alter_table("file_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_file_versions_blob"), ["blob"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_file_versions_charged_to"), ["charged_to"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_file_versions_entry_id"), ["entry_id"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("file_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_file_versions_entry_id"))
        batch_op.drop_index(batch_op.f("ix_file_versions_charged_to"))
        batch_op.drop_index(batch_op.f("ix_file_versions_blob"))

    op.drop_table("file_versions")
    with op.batch_alter_table("file_shares", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_file_shares_member_id"))
        batch_op.drop_index(batch_op.f("ix_file_shares_entry_id"))

    op.drop_table("file_shares")
    with op.batch_alter_table("file_entries", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_file_entries_live_name",
            sqlite_where=sa.text("deleted_at IS NULL"),
            postgresql_where=sa.text("deleted_at IS NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_file_entries_parent_id"))
        batch_op.drop_index(batch_op.f("ix_file_entries_owner_id"))
        batch_op.drop_index(batch_op.f("ix_file_entries_deleted_at"))
        batch_op.drop_index(batch_op.f("ix_file_entries_charged_to"))
        batch_op.drop_index(batch_op.f("ix_file_entries_blob"))

    op.drop_table("file_entries")
