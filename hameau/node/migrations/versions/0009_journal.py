"""journal: a strictly increasing sequence

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

Concurrent writers could take the same sequence number (each read the highest one before
either wrote), and a satellite paging "after the last number seen" could then skip the rest
of a group. The numbers now come from a one-row counter, and each is unique. Duplicates
already there are given new numbers above the highest, so every cursor held by a satellite
still sees them (again: applying a change twice is harmless).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sync_sequence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_sequence")),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, seq FROM sync_entries ORDER BY seq, id")).all()
    highest = max((seq for _id, seq in rows), default=0)
    seen: set[int] = set()
    for entry_id, seq in rows:
        if seq in seen:
            highest += 1
            connection.execute(
                sa.text("UPDATE sync_entries SET seq = :seq WHERE id = :id"),
                {"seq": highest, "id": entry_id},
            )
        seen.add(seq)
    connection.execute(
        sa.text("INSERT INTO sync_sequence (id, value) VALUES (1, :value)"), {"value": highest}
    )
    with op.batch_alter_table("sync_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_entries_seq"))
        batch_op.create_index(batch_op.f("ix_sync_entries_seq"), ["seq"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("sync_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sync_entries_seq"))
        batch_op.create_index(batch_op.f("ix_sync_entries_seq"), ["seq"], unique=False)
    op.drop_table("sync_sequence")
