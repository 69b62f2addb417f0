"""The admins' page of the AI this node lends to its peers (`/hamlet/ai`): per peer, open or
closed, requests a day and models, changed at once; what each used today and per day; and
the log of their requests (a pseudonym per member, never a name). The same as `hameau hamlet
ai` on the command line."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hameau.ai import catalog
from hameau.ai import lending as ai_lending
from hameau.errors import N_, NotFound
from hameau.hamlet import service
from hameau.hamlet.models import HamletPeer
from hameau.web.auth import DB, AdminVisitor
from hameau.web.openapi import RowId

router = APIRouter(prefix="/hamlet/ai", include_in_schema=False)


@router.get("")
async def lending_page(request: Request, db: DB, visitor: AdminVisitor) -> Response:
    node = request.app.state.node
    peers = [peer for peer in service.peers(db) if peer.revoked_at is None]
    names = {peer.id: peer.name for peer in peers}
    today = {used.peer_id: used for used in ai_lending.usage(db, days=1)
             if used.day == ai_lending.today()}  # fmt: skip
    context = {
        "title": N_("The AI lent to other homes"),
        "rows": [(peer, ai_lending.policy_of(db, peer), today.get(peer.id)) for peer in peers],
        "models": [model.name for model in catalog.available(node)],
        "usage": ai_lending.usage(db),
        "log": ai_lending.log(db),
        "names": names,
        "question_of": ai_lending.question_of,
        "saved": request.query_params.get("done") == "saved",
    }
    return request.app.state.pages.render(request, "ai_lending.html", context)


@router.post("/{peer_id}")
async def set_lending(
    request: Request,
    db: DB,
    visitor: AdminVisitor,
    peer_id: RowId,
    per_day: Annotated[int, Form(ge=0, le=100_000)],
    models: Annotated[list[str], Form(max_length=50)] = [],  # noqa: B006 (FastAPI's form list)
    open_: Annotated[str, Form(alias="open")] = "",
) -> Response:
    peer = db.get(HamletPeer, peer_id)
    if peer is None or peer.revoked_at is not None:
        raise NotFound("No paired home server is called %(peer)s; see `hameau hamlet list`.",
                       peer=str(peer_id))  # fmt: skip
    node = request.app.state.node
    ai_lending.set_policy(db, peer, open_=bool(open_), per_day=per_day, models=models,
                          default_models=(node.settings.ai_model,))  # fmt: skip
    return RedirectResponse("/hamlet/ai?done=saved", status_code=303)
