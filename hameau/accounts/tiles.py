"""The accounts part's navigation entry and home tiles (see hameau/parts.py): a light module, so
the home page shows them without importing the account and admin pages."""

from __future__ import annotations

from hameau.errors import N_
from hameau.web.home import AppInfo, Tile

APP = AppInfo(
    "accounts",
    (
        Tile(N_("My account"), N_("Name, language and password."), "/account"),
        Tile(N_("My sessions"), N_("Where you are logged in; end any of them."), "/account/sessions"),
        Tile(N_("App passwords"), N_("For file, calendar and other apps."), "/account/tokens"),
        Tile(N_("Members"), N_("Add, disable, set quotas."), "/admin/members", admin_only=True),
        Tile(N_("Devices"), N_("The household's terminals; enrol this browser."), "/admin/devices", admin_only=True),
    ),
)  # fmt: skip
