"""travel: notes get a stable id across nodes; app passwords can belong to a device

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("uid", sa.String(length=32), nullable=True))
    connection = op.get_bind()
    for (note_id,) in connection.execute(sa.text("SELECT id FROM notes")).all():
        connection.execute(
            sa.text("UPDATE notes SET uid = :uid WHERE id = :id"),
            {"uid": uuid.uuid4().hex, "id": note_id},
        )
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.alter_column("uid", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_index(batch_op.f("ix_notes_uid"), ["uid"], unique=True)

    with op.batch_alter_table("app_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("device_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_app_tokens_device_id"), ["device_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_app_tokens_device_id_devices"),
            "devices",
            ["device_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("app_tokens", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_app_tokens_device_id_devices"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_app_tokens_device_id"))
        batch_op.drop_column("device_id")
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notes_uid"))
        batch_op.drop_column("uid")
