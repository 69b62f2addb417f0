"""The travel part's navigation entry and home tiles (see hameau/parts.py): a light module, so
the home page shows them without importing the part's pages."""

from __future__ import annotations

from hameau.errors import N_
from hameau.web.home import AppInfo, Tile

APP = AppInfo(
    "travel",
    (Tile(N_("Travel"), N_("Take some of your things on a laptop, offline."), "/travel"),),
)
