"""The hamlet part's navigation entry and home tiles (see hameau/parts.py): a light module, so
the home page shows them without importing the part's pages."""

from __future__ import annotations

from hameau.errors import N_
from hameau.web.home import AppInfo, Tile

APP = AppInfo(
    "hamlet",
    (Tile(N_("Hamlet"), N_("Pair with other homes; see which ones answer."), "/hamlet", admin_only=True),),
)  # fmt: skip
