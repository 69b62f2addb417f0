"""The moving part's navigation entry, home tile and home page section (see hameau/parts.py):
a light module, so the home page shows them without importing the part's pages."""

from __future__ import annotations

from typing import Any

from hameau.errors import N_
from hameau.web.home import AppInfo, Tile

APP = AppInfo(
    "moving",
    (Tile(N_("Moves"), N_("Members moving their home here or away; automatic moves."), "/moves", admin_only=True),),
)  # fmt: skip


async def home_section(request: Any, db: Any, visitor: Any) -> str:
    """The home page's proposal to move, or nothing: the rule's two counting queries here;
    the pages' module (and the move's protocol behind it) loads only when it holds."""
    from hameau.moving import proposal
    from hameau.web.auth import member_of

    settings = request.app.state.node.settings
    if proposal.proposal_for(db, settings, member_of(visitor)) is None:
        return ""
    from hameau.moving import views

    return await views.home_section(request, db, visitor)
