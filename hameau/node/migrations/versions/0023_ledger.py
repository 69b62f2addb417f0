"""ledger: the hamlet's signed, hash-chained credit journal and escrows (issue 14)

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_accounts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("public_key", sa.String(length=60), nullable=False),
        sa.Column("limit", sa.BigInteger(), nullable=True),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("nonce", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_accounts")),
    )
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_accounts_label"), ["label"], unique=False)

    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("author", sa.String(length=40), nullable=False),
        sa.Column("nonce", sa.Integer(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_entries_author"), ["author"], unique=False)
        batch_op.create_index(batch_op.f("ix_ledger_entries_seq"), ["seq"], unique=False)

    op.create_table(
        "ledger_escrows",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("payer", sa.String(length=40), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("conditions", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("paid", sa.Text(), nullable=False),
        sa.Column("receipt", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_escrows")),
    )
    with op.batch_alter_table("ledger_escrows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_escrows_payer"), ["payer"], unique=False)

    op.create_table(
        "ledger_head",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("last_ts", sa.BigInteger(), nullable=False),
        sa.Column("notaries", sa.Text(), nullable=False),
        sa.Column("coop", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_head")),
    )
    op.create_table(
        "ledger_keys",
        sa.Column("account", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("made_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("account", name=op.f("pk_ledger_keys")),
        sa.UniqueConstraint("member_id", name=op.f("uq_ledger_keys_member_id")),
    )
    with op.batch_alter_table("ledger_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_keys_name"), ["name"], unique=False)

    op.create_table(
        "ledger_signatures",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("notary", sa.String(length=40), nullable=False),
        sa.Column("entry_hash", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("seq", "notary", name=op.f("pk_ledger_signatures")),
    )


def downgrade() -> None:
    op.drop_table("ledger_signatures")
    with op.batch_alter_table("ledger_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_keys_name"))

    op.drop_table("ledger_keys")
    op.drop_table("ledger_head")
    with op.batch_alter_table("ledger_escrows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_escrows_payer"))

    op.drop_table("ledger_escrows")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_entries_seq"))
        batch_op.drop_index(batch_op.f("ix_ledger_entries_author"))

    op.drop_table("ledger_entries")
    with op.batch_alter_table("ledger_accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_accounts_label"))

    op.drop_table("ledger_accounts")
