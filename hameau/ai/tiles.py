"""The ai part's navigation entry and home tiles (see hameau/parts.py): a light module, so
the home page shows them without importing the part's pages."""

from __future__ import annotations

from hameau.errors import N_
from hameau.web.home import AppInfo, Tile

APP = AppInfo(
    "ai",
    (Tile(N_("AI"), N_("Questions answered from your own documents, on the home server."), "/ai"),),
)
