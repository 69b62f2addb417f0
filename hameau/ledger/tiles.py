"""The credit part's navigation entry and home tiles (see hameau/parts.py): a light module, so
the home page shows them without importing the ledger."""

from __future__ import annotations

from hameau.errors import N_
from hameau.web.home import AppInfo, Tile

APP = AppInfo(
    "ledger",
    (
        Tile(N_("Credit"), N_("Your balance in the hamlet's credit, paying a member, your contracts."), "/credit"),
        Tile(N_("Cooperative"), N_("Credit limits, issuing and redeeming credit, the ledger's notaries."), "/credit/admin", admin_only=True),
    ),
)  # fmt: skip
