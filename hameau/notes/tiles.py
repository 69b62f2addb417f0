"""The notes part's navigation entry and home tiles (see hameau/parts.py): a light module, so
the home page shows them without importing the part's pages."""

from __future__ import annotations

from hameau.errors import N_
from hameau.web.home import AppInfo, Tile

APP = AppInfo(
    "notes",
    (
        Tile(
            N_("Notes"),
            N_("Markdown notes that save themselves; search them and your files."),
            "/notes",
        ),
    ),
)
