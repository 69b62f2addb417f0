"""The proposal to move home, the member's consent to automatic moves and the admins' preset.

The rule (`leading_peer`, pure): over the last `move_propose_days`, when `move_propose_share`
or more of a member's sessions (their login sessions, the visits' own included) were visits
through one peer, and at least MIN_VISITS of them, moving there is proposed. Never when this
node is no longer their home or their writes are frozen, while a move of theirs is under way,
toward a home this one left, nor toward the home they set aside ("not now") before the window
has passed. An automatic move (`automatic_move`) starts only when the proposal holds, the
admins' preset is on and the member consented: never for a member who did not.

Computed when the member's home page is shown: two counting queries, no timer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hameau.accounts.models import LoginSession, Member
from hameau.hamlet import visits
from hameau.hamlet.models import HamletPeer
from hameau.moving.proposal_models import MoveChoice, MovePreset
from hameau.node.db import utcnow

MIN_VISITS = 3  # one or two visits are an outing, not a life elsewhere
UNDER_WAY = ("waiting", "copying", "switching")


@dataclass(frozen=True)
class Proposal:
    peer: HamletPeer
    visits: int  # through that peer, in the window
    sessions: int  # all of the member's, in the window

    @property
    def percent(self) -> int:
        return round(100 * self.visits / max(self.sessions, 1))


def leading_peer(
    counts: dict[str, int], sessions: int, share: float, least: int = MIN_VISITS
) -> str | None:
    """The peer through which `share` or more of `sessions` were visits (at least `least`
    of them), or None. Visits are sessions too: the total is never below their sum."""
    if not counts:
        return None
    peer, count = max(sorted(counts.items()), key=lambda item: item[1])
    total = max(sessions, sum(counts.values()))
    # A tolerance for floating point: 4 of 5 sessions is 80 %, not a hair under.
    return peer if count >= least and count / total >= share - 1e-9 else None


def sessions_since(db: Session, member: Member, since: datetime) -> int:
    query = select(func.count(LoginSession.id)).where(
        LoginSession.member_id == member.id, LoginSession.created_at >= since
    )
    return int(db.scalar(query) or 0)


def choice_of(db: Session, member: Member) -> MoveChoice:
    """The member's choices (consent off, nothing set aside, until they say otherwise)."""
    found = db.get(MoveChoice, member.id)
    if found is None:
        found = MoveChoice(member_id=member.id, consent=False)
        db.add(found)
    return found


def under_way(node: Any, member_name: str) -> Any:
    """The member's move not finished yet, if any (the newest first)."""
    from hameau.moving import service  # the move's protocol: not for the home page's rule

    return next((m for m in service.moves(node, member_name) if m.state in UNDER_WAY), None)


def _set_aside(choice: MoveChoice | None, peer_node_id: str, now: datetime) -> bool:
    if choice is None or choice.dismissed_peer != peer_node_id:
        return False
    return choice.dismissed_until is not None and choice.dismissed_until > now


def proposal_for(db: Session, settings: Any, member: Member) -> Proposal | None:
    """The proposal the member's home page shows, if the rule holds (see the module)."""
    if not member.home_here or member.frozen_at is not None:
        return None
    now = utcnow()
    since = now - timedelta(days=settings.move_propose_days)
    counts = visits.counts_by_peer(db, member, since)
    sessions = sessions_since(db, member, since)
    leading = leading_peer(counts, sessions, settings.move_propose_share)
    if leading is None:
        return None
    if _set_aside(db.get(MoveChoice, member.id), leading, now):
        return None
    peer = db.scalars(select(HamletPeer).where(HamletPeer.node_id == leading)).first()
    if peer is None or peer.revoked_at is not None:
        return None
    return Proposal(peer, counts[leading], max(sessions, sum(counts.values())))


def dismiss(db: Session, settings: Any, member: Member, peer: HamletPeer) -> None:
    """ "Not now": that proposal is not shown (nor acted on) again for the window."""
    choice = choice_of(db, member)
    choice.dismissed_peer = peer.node_id
    choice.dismissed_until = utcnow() + timedelta(days=settings.move_propose_days)


def consents(db: Session, member: Member) -> bool:
    found = db.get(MoveChoice, member.id)
    return bool(found and found.consent)


def set_consent(db: Session, member: Member, consent: bool) -> None:
    choice = choice_of(db, member)
    if choice.consent != consent:
        choice.consent, choice.consent_at = consent, utcnow()


def preset(db: Session) -> MovePreset | None:
    return db.get(MovePreset, 1)


def automatic(db: Session) -> bool:
    """The admins' preset: automatic moves of consenting members (off until set)."""
    found = preset(db)
    return bool(found and found.automatic)


def set_automatic(db: Session, on: bool, by: str) -> None:
    found = preset(db)
    if found is None:
        found = MovePreset(id=1)
        db.add(found)
    found.automatic, found.changed_by, found.changed_at = on, by, utcnow()


def automatic_move(db: Session, member: Member, found: Proposal | None) -> bool:
    """Whether the move the proposal names starts by itself: the preset on and the member's
    consent given, both; never otherwise."""
    return found is not None and automatic(db) and consents(db, member)
