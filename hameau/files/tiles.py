"""The files part's navigation entry and home tiles (see hameau/parts.py): a light module, so
the home page shows them without importing the part's pages."""

from __future__ import annotations

from hameau.errors import N_
from hameau.web.home import AppInfo, Tile

APP = AppInfo(
    "files",
    (
        Tile(
            N_("Files"),
            N_("Your files, the household's, and what is shared with you."),
            "/files/mine/",
        ),
        Tile(
            N_("Space on the disk"),
            N_("What each member uses; empty trashes, delete earlier versions."),
            "/admin/space",
            admin_only=True,
        ),
    ),
)
