"""The calendar part's navigation entry and home tiles (see hameau/parts.py): a light module, so
the home page shows them without importing the part's pages."""

from __future__ import annotations

from hameau.errors import N_
from hameau.web.home import AppInfo, Tile

APP = AppInfo(
    "calendar",
    (
        Tile(N_("Agenda"), N_("Your calendar and the household's, by week or month."), "/agenda"),
        Tile(N_("Contacts"), N_("Your address book."), "/contacts"),
    ),
)
