"""The pages of moving home: the member's "Move my home" (choose a paired home, see the plan,
start), the report of a move (for the member and the admins of both homes, refreshed by htmx
while it runs), the admins' page (incoming moves to accept or refuse, the automatic moves'
preset) and the proposal on the member's home page (hameau/moving/proposal.py).

The pages never do a move's work: hameau/moving/service.py does, called in a worker thread
after the request's session is committed, so that no write lock is held meanwhile; a move
looked at is run on by hameau/moving/driving.py."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Form
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hameau.errors import N_, Conflict, Forbidden, HameauError, NotFound
from hameau.hamlet import service as hamlet
from hameau.hamlet.errors import PeerNotFound
from hameau.hamlet.models import HamletPeer
from hameau.moving import proposal, service
from hameau.node.db import utcnow
from hameau.web.auth import DB, AdminVisitor, MemberVisitor, Visitor, member_of

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)

# What moves, by part of the plan (move-core names them after the registry's parts).
PART_WORDS = {
    "files": N_("Files, with their versions, trash and shares"),
    "calendar": N_("Calendars and contacts"),
    "notes": N_("Notes"),
    "messages": N_("Messages"),
    "ai": N_("AI history"),
    "ledger": N_("Credit account and its key"),
    "accounts": N_("Profile, app passwords and devices"),
    "travel": N_("Travel satellites"),
}
STATES = {
    "waiting": N_("waiting for the receiving home to accept"),
    "refused": N_("refused by the receiving home"),
    "copying": N_("copying"),
    "switching": N_("switching over"),
    "done": N_("done"),
    "rolled_back": N_("undone"),
    "failed": N_("stopped by an error"),
}
ADVICE = {
    "waiting": N_("The receiving home's admins accept the move; nothing changes until then."),
    "refused": N_("Nothing changed: everything stays where it was. Talk with that home's admins, or choose another home."),
    "copying": N_("Things are being copied and can be used meanwhile; this page updates by itself."),
    "switching": N_("The last changes are being sent: for a minute, changes wait; reading goes on."),
    "done": N_("The home is now %(peer)s: addresses of the home left send apps and browsers there."),
    "failed": N_("Nothing was lost: everything is still at the home it left and works as before. Start the move again from “Move my home”, or ask an admin."),
    "rolled_back": N_("The move was undone: the home is back where it was, with what was written meanwhile."),
}  # fmt: skip
NOTICES = {
    "consent": N_("Saved."),
    "accepted": N_("Accepted: the copy begins."),
    "refused": N_("Refused: nothing moves."),
    "automatic": N_("Saved."),
    "rolled-back": N_("The move back has begun: its report is below."),
    "unreachable": N_(
        "The other home cannot be reached right now: the move is offered again while this page is open."
    ),
}


def _drive(request: Request, move: Any) -> None:
    """Run the move on in a worker thread, if it is this home's to run (see driving.py)."""
    if move is not None:
        request.app.state.moving_drives.drive(move)


async def _run(work: Any, *args: Any, **named: Any) -> Any:
    """A service call in a worker thread: a move's steps may wait on the peer or the disk."""
    return await anyio.to_thread.run_sync(partial(work, *args, **named))


def _peers(db: Session) -> dict[int, HamletPeer]:
    return {peer.id: peer for peer in hamlet.peers(db)}


def _chosen(db: Session, peer_id: int) -> HamletPeer:
    peer = _peers(db).get(peer_id)
    if peer is None or peer.revoked_at is not None:
        raise PeerNotFound("No paired home has this number; choose one in the list.")
    return peer


def _render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    context.setdefault("notice", NOTICES.get(request.query_params.get("done", "")))
    context.update(states=STATES, advice=ADVICE, part_words=PART_WORDS, now=utcnow())
    return request.app.state.pages.render(request, template, context, status)


async def _plan(request: Request, member: Any, chosen: HamletPeer, ask: bool) -> tuple[Any, str]:
    """The plan; with `ask`, what the other home lacks of it (it is asked: it may not answer,
    then the plan without, and why)."""
    node = request.app.state.node
    if ask:
        try:
            return await _run(service.plan, node, member.name, chosen.name, ask_peer=True), ""
        except HameauError as failure:
            said = failure.render(request.app.state.pages.gettext(request))
            return await _run(service.plan, node, member.name, chosen.name), said
    return await _run(service.plan, node, member.name, chosen.name), ""


async def _plan_page(
    request: Request, db: Session, visitor: Visitor, peer_id: int | None, status: int = 200,
    error: str | None = None, ask: bool = False,
) -> Response:  # fmt: skip
    member = member_of(visitor)
    node = request.app.state.node
    peers = [peer for peer in hamlet.peers(db) if peer.revoked_at is None]
    chosen = _chosen(db, peer_id) if peer_id is not None else None
    db.commit()  # the plan reads in its own session
    moving = await _run(proposal.under_way, node, member.name)
    _drive(request, moving)
    made = None
    if chosen is not None and moving is None and member.home_here:
        made, unasked = await _plan(request, member, chosen, ask)
        error = error or unasked or None
    history = await _run(service.moves, node, member.name)
    return _render(
        request, "moving/plan.html", status, title=N_("Move my home"), member=member,
        peers=peers, chosen=chosen, plan=made, moving=moving, history=history,
        names=_peers(db), consent=proposal.consents(db, member), error=error,
    )  # fmt: skip


@router.get("/account/move")
async def plan_page(
    request: Request, db: DB, visitor: MemberVisitor, peer: int | None = None, ask: bool = False
) -> Response:
    """`ask`: the other home is asked what it already has (a longer wait: on demand)."""
    return await _plan_page(request, db, visitor, peer, ask=ask)


@router.post("/account/move")
async def start_move(
    request: Request, db: DB, visitor: MemberVisitor, peer: Annotated[int, Form()]
) -> Response:
    member = member_of(visitor)
    chosen = _chosen(db, peer)
    node = request.app.state.node
    db.commit()  # no write lock held while the move starts (it calls the peer)
    try:
        move = await _run(service.start, node, member.name, chosen.name, by="member")
    except HameauError as failure:
        # Recorded, then not offered (the other home unreachable): offered again when looked at.
        move = await _run(proposal.under_way, node, member.name)
        if move is None:
            said = failure.render(request.app.state.pages.gettext(request))
            return await _plan_page(request, db, visitor, peer, failure.status, said)
        return RedirectResponse(f"/moves/{move.move_id}?done=unreachable", status_code=303)
    _drive(request, move)
    return RedirectResponse(f"/moves/{move.move_id}", status_code=303)


@router.post("/account/move/consent")
async def change_consent(
    db: DB, visitor: MemberVisitor, consent: Annotated[str, Form(max_length=3)] = ""
) -> Response:
    proposal.set_consent(db, member_of(visitor), consent == "yes")
    return RedirectResponse("/account/move?done=consent#consent", status_code=303)


@router.post("/account/move/not-now")
async def not_now(
    request: Request, db: DB, visitor: MemberVisitor, peer: Annotated[int, Form()]
) -> Response:
    """The proposal set aside for the window; the home page without it."""
    proposal.dismiss(db, request.app.state.node.settings, member_of(visitor), _chosen(db, peer))
    return RedirectResponse("/", status_code=303)


async def _visible(request: Request, visitor: Visitor, move_id: str) -> Any:
    """The move, for its member or an admin of this home; others get 404 as if absent."""
    if len(move_id) > 64:
        raise NotFound("No move has this number here.")
    move = await _run(service.get, request.app.state.node, move_id)
    member = member_of(visitor)
    if not member.is_admin and move.member_name != member.name:
        raise NotFound("No move has this number here.")
    return move


def _report_context(db: Session, move: Any, visitor: Visitor) -> dict[str, Any]:
    peer = _peers(db).get(move.peer_id)
    end = move.finished_at or utcnow()
    began = move.accepted_at or move.created_at
    return {
        "move": move, "peer": peer, "peer_name": peer.name if peer else "?",
        "seconds": max(0.0, (end - began).total_seconds()),
        "admin": member_of(visitor).is_admin, "running": move.state in proposal.UNDER_WAY,
        "may_roll_back": _may_roll_back(move, visitor),
    }  # fmt: skip


def _may_roll_back(move: Any, visitor: Visitor) -> bool:
    """Admins of the member's new home (where a rollback starts: the move back), within the
    rollback window."""
    until: datetime | None = move.rollback_until
    inside = until is not None and until > utcnow()
    return member_of(visitor).is_admin and move.role == "in" and move.state == "done" and inside


@router.get("/moves/{move_id}")
async def report_page(request: Request, db: DB, visitor: MemberVisitor, move_id: str) -> Response:
    move = await _visible(request, visitor, move_id)
    _drive(request, move)
    context = _report_context(db, move, visitor)
    return _render(request, "moving/report.html", title=N_("Moving home"), **context)


@router.get("/moves/{move_id}/state")
async def report_state(request: Request, db: DB, visitor: MemberVisitor, move_id: str) -> Response:
    """The report's changing part, which htmx asks for while the move runs."""
    move = await _visible(request, visitor, move_id)
    _drive(request, move)
    return _render(request, "moving/_report.html", **_report_context(db, move, visitor))


@router.post("/moves/{move_id}/rollback")
async def roll_back(request: Request, db: DB, visitor: AdminVisitor, move_id: str) -> Response:
    move = await _visible(request, visitor, move_id)
    if not _may_roll_back(move, visitor):
        raise Forbidden("Only a finished move to this home can be undone, within its window.")
    db.commit()
    back = await _run(service.rollback, request.app.state.node, move.member_name)
    _drive(request, back)
    return RedirectResponse(f"/moves/{back.move_id}?done=rolled-back", status_code=303)


@router.get("/moves")
async def admin_page(request: Request, db: DB, visitor: AdminVisitor) -> Response:
    node = request.app.state.node
    every = await _run(service.moves, node)
    waiting = [move for move in every if move.role == "in" and move.state == "waiting"]
    for move in every:
        _drive(request, move)
    rule = getattr(node.settings, "moving_accept_from", "")  # move-core's standing rule
    return _render(
        request, "moving/admin.html", title=N_("Moves"), waiting=waiting, every=every,
        names=_peers(db), automatic=proposal.preset(db), rule=rule,
    )  # fmt: skip


async def _waiting(request: Request, move_id: str) -> Any:
    move = await _run(service.get, request.app.state.node, move_id[:64])
    if move.role != "in" or move.state != "waiting":
        raise Conflict("This move is not waiting for an answer any more; reload the page.")
    return move


@router.post("/moves/{move_id}/accept")
async def accept(request: Request, db: DB, visitor: AdminVisitor, move_id: str) -> Response:
    move = await _waiting(request, move_id)
    db.commit()
    by = member_of(visitor).name
    await _run(service.accept, request.app.state.node, move.move_id, by=by)
    return RedirectResponse("/moves?done=accepted", status_code=303)


@router.post("/moves/{move_id}/refuse")
async def refuse(
    request: Request, db: DB, visitor: AdminVisitor, move_id: str,
    why: Annotated[str, Form(max_length=300)] = "",
) -> Response:  # fmt: skip
    move = await _waiting(request, move_id)
    db.commit()
    by = member_of(visitor).name
    await _run(service.refuse, request.app.state.node, move.move_id, by=by, why=why)
    return RedirectResponse("/moves?done=refused", status_code=303)


@router.post("/moves/preset")
async def set_automatic(
    db: DB, visitor: AdminVisitor, automatic: Annotated[str, Form(max_length=3)] = ""
) -> Response:
    proposal.set_automatic(db, automatic == "yes", member_of(visitor).name)
    return RedirectResponse("/moves?done=automatic", status_code=303)


async def home_section(request: Request, db: Session, visitor: Visitor) -> str:
    """The home page's proposal to move (or the move it started by itself), or nothing."""
    member = member_of(visitor)
    node = request.app.state.node
    found = proposal.proposal_for(db, node.settings, member)
    if found is None:
        return ""
    db.commit()  # the service reads and writes in its own sessions
    moving = await _run(proposal.under_way, node, member.name)
    _drive(request, moving)
    if moving is None and proposal.automatic_move(db, member, found):
        try:
            moving = await _run(service.start, node, member.name, found.peer.name, by="automatic")
            _drive(request, moving)
        except HameauError as failure:
            log.warning("automatic move of %s not offered: %s", member.name, failure)
            moving = await _run(proposal.under_way, node, member.name)  # recorded, if it was
    context = {"proposal": found, "moving": moving}
    return request.app.state.pages.render(request, "moving/_proposal.html", context).body.decode()
