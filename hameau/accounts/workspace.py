"""Where each member left off: the app and item last open, when and on which device."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from hameau.accounts.models import LoginSession, Workspace
from hameau.node.db import utcnow

# A page seen again within this time, on the same session, is not written again.
REWRITE_AFTER = timedelta(seconds=20)


def remember(
    session: Session, login: LoginSession, app: str, path: str, item: str = "", title: str = ""
) -> None:
    """Record the member's place; cheap when nothing changed."""
    workspace = session.get(Workspace, login.member_id)
    now = utcnow()
    if workspace is None:
        workspace = Workspace(member_id=login.member_id)
        session.add(workspace)
    elif (
        workspace.path == path
        and workspace.session_id == login.id
        and now - workspace.updated_at < REWRITE_AFTER
    ):
        return
    workspace.app = app[:40]
    workspace.item = item[:200]
    workspace.title = title[:200]
    workspace.path = path[:500]
    workspace.session_id = login.id
    workspace.device_id = login.device_id
    workspace.updated_at = now


def resume_offer(session: Session, login: LoginSession) -> Workspace | None:
    """The place to offer on a fresh login: the last one, if left in another session."""
    workspace = session.get(Workspace, login.member_id)
    if workspace is None or workspace.session_id == login.id:
        return None
    return workspace
