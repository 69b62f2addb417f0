"""The backup part's navigation entry and home tile (see hameau/parts.py): a light module, so
the home page shows it without importing the part's pages."""

from __future__ import annotations

from hameau.errors import N_
from hameau.web.home import AppInfo, Tile

APP = AppInfo(
    "backup",
    (Tile(N_("Backups"), N_("Where the home server's backups go, the last one, back up now."), "/backup", admin_only=True),),
)  # fmt: skip
