"""search: each search row's rowid made from its (kind, ref), found by lookup, not by scan

Revision ID: 0026
Revises: 0022
Create Date: 2026-11-30

FTS5 indexes no column but the text: `DELETE … WHERE kind = … AND ref = …` read the whole
table for each file or note indexed (an import of thousands of text files was quadratic).
hameau/search/index.py now gives each row the rowid ref * 4 + its kind's number; this
renumbers the rows made before. No change of schema: the downgrade leaves them as they are.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":  # a plain table: its rows renumbered
        op.execute(
            "UPDATE search_index SET rowid = -(CAST(ref AS BIGINT) * 4"
            " + CASE kind WHEN 'note' THEN 1 ELSE 2 END)"
        )
        op.execute("DELETE FROM search_index WHERE kind NOT IN ('note', 'file')")
        op.execute("UPDATE search_index SET rowid = -rowid")
        return
    op.execute(
        "CREATE TEMP TABLE search_before AS "
        "SELECT kind, ref, owner_id, title, body FROM search_index"
    )
    op.execute("DELETE FROM search_index")
    op.execute(
        "INSERT OR REPLACE INTO search_index (rowid, kind, ref, owner_id, title, body) "
        "SELECT CAST(ref AS INTEGER) * 4 + CASE kind WHEN 'note' THEN 1 ELSE 2 END, "
        "kind, ref, owner_id, title, body FROM search_before WHERE kind IN ('note', 'file')"
    )
    op.execute("DROP TABLE search_before")


def downgrade() -> None:
    pass
