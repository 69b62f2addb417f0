"""The messages part's navigation entry and home tiles (see hameau/parts.py): a light module, so
the home page shows them without importing the part's pages."""

from __future__ import annotations

from hameau.errors import N_
from hameau.web.home import AppInfo, Tile

APP = AppInfo(
    "messages",
    (Tile(N_("Messages"), N_("Conversations within the household."), "/messages"),),
)
