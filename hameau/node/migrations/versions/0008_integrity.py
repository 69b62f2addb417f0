"""integrity: no schema change (kept so that revisions stay in order)

A damaged file is one whose content is not in the store (found damaged, it is moved to the
quarantine), so there is no column to add: a second record of the damage could drift.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from collections.abc import Sequence

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: Sequence[str] | None = None
depends_on: Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
