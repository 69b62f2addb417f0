"""The compute part's navigation entry and home tiles (see hameau/parts.py): a light module."""

from __future__ import annotations

from hameau.errors import N_
from hameau.web.home import AppInfo, Tile

APP = AppInfo(
    "compute",
    (
        Tile(N_("Compute"), N_("Jobs you submitted to the hamlet's idle machines, and the jobs this home ran."), "/compute"),
        Tile(N_("What I lend"), N_("The compute this home server lends to the hamlet when the household does not use it: when, how much, at what price."), "/compute/offer", admin_only=True),
    ),
)  # fmt: skip
