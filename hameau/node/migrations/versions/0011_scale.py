"""scale: the quota as a counter kept by triggers, an index of the spaces' roots, and one
of each folder's entries in listing order

With 100,000 files, summing a member's rows on every write and finding a space's root
through the owner's index read every row of theirs; both now cost the same at any size.
The triggers and the expression index are SQLite's, as the search index of 0003 is.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None

CHARGED = ("file_entries", "file_versions", "dav_properties")

# A copy of hameau/files/quota.py:TRIGGERS as it was at this revision (migrations are frozen).
ADD = (
    "INSERT INTO file_usage (member_id, bytes) SELECT NEW.charged_to, NEW.size"
    " WHERE NEW.charged_to IS NOT NULL"
    " ON CONFLICT (member_id) DO UPDATE SET bytes = bytes + excluded.bytes;"
)
REMOVE = "UPDATE file_usage SET bytes = bytes - OLD.size WHERE member_id = OLD.charged_to;"


def _triggers(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER usage_{table}_insert AFTER INSERT ON {table}"
        f" WHEN NEW.charged_to IS NOT NULL AND NEW.size != 0 BEGIN {ADD} END",
        f"CREATE TRIGGER usage_{table}_delete AFTER DELETE ON {table}"
        f" WHEN OLD.charged_to IS NOT NULL AND OLD.size != 0 BEGIN {REMOVE} END",
        f"CREATE TRIGGER usage_{table}_update AFTER UPDATE OF size, charged_to ON {table}"
        " WHEN OLD.size IS NOT NEW.size OR OLD.charged_to IS NOT NEW.charged_to"
        f" BEGIN {REMOVE} {ADD} END",
    ]


# PostgreSQL's triggers run a function: one for the three tables, the same counting.
PG_FUNCTION = """
CREATE FUNCTION file_usage_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP <> 'INSERT' AND OLD.charged_to IS NOT NULL AND OLD.size <> 0 THEN
    UPDATE file_usage SET bytes = bytes - OLD.size WHERE member_id = OLD.charged_to;
  END IF;
  IF TG_OP <> 'DELETE' AND NEW.charged_to IS NOT NULL AND NEW.size <> 0 THEN
    INSERT INTO file_usage (member_id, bytes) VALUES (NEW.charged_to, NEW.size)
      ON CONFLICT (member_id) DO UPDATE SET bytes = file_usage.bytes + excluded.bytes;
  END IF;
  RETURN NULL;
END $$"""


def _pg_triggers(table: str) -> list[str]:
    run = "FOR EACH ROW EXECUTE FUNCTION file_usage_count()"
    return [
        f"CREATE TRIGGER usage_{table}_insert AFTER INSERT ON {table} {run}",
        f"CREATE TRIGGER usage_{table}_delete AFTER DELETE ON {table} {run}",
        f"CREATE TRIGGER usage_{table}_update AFTER UPDATE OF size, charged_to ON {table}"
        " FOR EACH ROW WHEN (OLD.size IS DISTINCT FROM NEW.size"
        f" OR OLD.charged_to IS DISTINCT FROM NEW.charged_to) EXECUTE FUNCTION file_usage_count()",
    ]


def upgrade() -> None:
    op.create_table(
        "file_usage",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_file_usage_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_file_usage")),
    )
    with op.batch_alter_table("file_entries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_file_entries_roots",
            ["owner_id"],
            unique=False,
            sqlite_where=sa.text("parent_id IS NULL"),
            postgresql_where=sa.text("parent_id IS NULL"),
        )
    # Expression-based: alembic cannot compare it on SQLite (it says so), so made by hand.
    op.execute(
        "CREATE INDEX ix_file_entries_listing ON file_entries"
        " (parent_id, is_dir DESC, lower(name)) WHERE deleted_at IS NULL"
    )
    op.execute(
        "INSERT INTO file_usage (member_id, bytes) SELECT charged_to, SUM(size) FROM ("
        " SELECT charged_to, size FROM file_entries UNION ALL"
        " SELECT charged_to, size FROM file_versions UNION ALL"
        " SELECT charged_to, size FROM dav_properties) AS charged"
        " WHERE charged_to IN (SELECT id FROM members) GROUP BY charged_to"
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute(PG_FUNCTION)
    for table in CHARGED:
        for statement in _pg_triggers(table) if postgres else _triggers(table):
            op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in CHARGED:
        for kind in ("insert", "delete", "update"):
            on = f" ON {table}" if postgres else ""
            op.execute(f"DROP TRIGGER IF EXISTS usage_{table}_{kind}{on}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS file_usage_count()")
    op.execute("DROP INDEX IF EXISTS ix_file_entries_listing")
    with op.batch_alter_table("file_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_file_entries_roots")
    op.drop_table("file_usage")
