"""compute jobs: jobs, their inputs, their runs at providers with receipts and escrows,
providers' records, and the runs this node did for others (issue 15)

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "compute_provided",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run", sa.String(length=32), nullable=False),
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("asker", sa.String(length=40), nullable=False),
        sa.Column("asker_name", sa.String(length=100), nullable=False),
        sa.Column("module", sa.String(length=64), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=False),
        sa.Column("fuel", sa.BigInteger(), nullable=False),
        sa.Column("wall_seconds", sa.Integer(), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("escrow_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("fuel_used", sa.BigInteger(), nullable=False),
        sa.Column("output_hash", sa.String(length=64), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("receipt", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("cpu_seconds", sa.Float(), nullable=False),
        sa.Column("paid_cents", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compute_provided")),
        sa.UniqueConstraint("run", name=op.f("uq_compute_provided_run")),
    )
    op.create_table(
        "compute_records",
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("agreed", sa.Integer(), nullable=False),
        sa.Column("disagreed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("streak", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("provider", name=op.f("pk_compute_records")),
    )
    op.create_table(
        "compute_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("module", sa.String(length=64), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.Column("memory_bytes", sa.BigInteger(), nullable=False),
        sa.Column("fuel", sa.BigInteger(), nullable=False),
        sa.Column("deadline_at", sa.DateTime(), nullable=False),
        sa.Column("budget_cents", sa.Integer(), nullable=False),
        sa.Column("price_max", sa.Integer(), nullable=False),
        sa.Column("redundancy", sa.Integer(), nullable=False),
        sa.Column("needed", sa.Integer(), nullable=False),
        sa.Column("input_hash", sa.String(length=64), nullable=False),
        sa.Column("output_hash", sa.String(length=64), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("cost_cents", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("state_at", sa.DateTime(), nullable=False),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_compute_jobs_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compute_jobs")),
        sa.UniqueConstraint("uid", name=op.f("uq_compute_jobs_uid")),
    )
    op.create_index(op.f("ix_compute_jobs_member_id"), "compute_jobs", ["member_id"], unique=False)
    op.create_index(op.f("ix_compute_jobs_state"), "compute_jobs", ["state"], unique=False)
    op.create_table(
        "compute_inputs",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["compute_jobs.id"],
            name=op.f("fk_compute_inputs_job_id_compute_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", "name", name=op.f("pk_compute_inputs")),
    )
    op.create_table(
        "compute_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("provider_name", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("escrow_id", sa.String(length=64), nullable=False),
        sa.Column("escrow_cents", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("fuel_used", sa.BigInteger(), nullable=False),
        sa.Column("output_hash", sa.String(length=64), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("receipt", sa.Text(), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("paid_cents", sa.Integer(), nullable=False),
        sa.Column("settled", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.Column("cpu_seconds", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["compute_jobs.id"],
            name=op.f("fk_compute_runs_job_id_compute_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_compute_runs")),
        sa.UniqueConstraint("uid", name=op.f("uq_compute_runs_uid")),
    )
    op.create_index(op.f("ix_compute_runs_job_id"), "compute_runs", ["job_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_compute_runs_job_id"), table_name="compute_runs")
    op.drop_table("compute_runs")
    op.drop_table("compute_inputs")
    op.drop_index(op.f("ix_compute_jobs_state"), table_name="compute_jobs")
    op.drop_index(op.f("ix_compute_jobs_member_id"), table_name="compute_jobs")
    op.drop_table("compute_jobs")
    op.drop_table("compute_records")
    op.drop_table("compute_provided")
