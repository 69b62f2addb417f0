"""The compute part's navigation entry and home tile for the offer (see hameau/parts.py): a
light module, so the home page shows it without importing the part's pages."""

from __future__ import annotations

from hameau.errors import N_
from hameau.web.home import AppInfo, Tile

APP = AppInfo(
    "compute",
    (Tile(N_("What I lend"), N_("The compute this home server lends to the hamlet when the household does not use it: when, how much, at what price."), "/compute/offer", admin_only=True),),
)  # fmt: skip
