"""The footprint part's navigation entry and home tiles (see hameau/parts.py): a light module,
so the home page shows them without importing the part's pages."""

from __future__ import annotations

from hameau.errors import N_
from hameau.web.home import AppInfo, Tile

APP = AppInfo(
    "footprint",
    (
        Tile(N_("Footprint"), N_("What your devices and the home server cost the planet, measured or from open data."), "/footprint"),
        Tile(N_("Household footprint"), N_("The household’s devices, the home server’s energy, and the vision’s claims checked."), "/footprint/household", admin_only=True),
    ),
)  # fmt: skip
