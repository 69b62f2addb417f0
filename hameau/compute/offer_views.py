"""The admins' page "What I lend" (/compute/offer): the offer's form (lending on or off, cores,
memory, hours, price, most fuel per job) and the node's idleness said in words. The same as
`hameau compute offer` on the command line."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Form
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hameau.compute import idle, idle_words, offers
from hameau.errors import N_, BadRequest, HameauError
from hameau.web.auth import DB, AdminVisitor
from hameau.web.i18n import Formatter

router = APIRouter(prefix="/compute/offer", include_in_schema=False)

Text = Annotated[str, Form(max_length=40)]


def _page(request: Request, db: Session, status: int = 200, **more: Any) -> Response:
    node = request.app.state.node
    login = request.state.visitor.login
    looking = idle.state(node, besides=login.id if login is not None else None)
    pages = request.app.state.pages
    gettext = pages.gettext(request)
    offer = more.pop("offer", None) or offers.current(node, db)
    fmt = Formatter(pages.locale_for(request))
    context = {
        "title": N_("What I lend"),
        "offer": offer,
        "memory": offers.size_typed(offer.memory_bytes),
        "price": offers.price_said(offer.price_per_mfuel),
        "state": idle_words.said(looking, offer.enabled, fmt, gettext),
        "idle_minutes": node.settings.compute_idle_minutes,
        "vacate_minutes": node.settings.compute_vacate_minutes,
        "saved": request.query_params.get("done") == "saved",
        **more,
    }
    return pages.render(request, "compute/offer.html", context, status)


@router.get("")
async def offer_page(request: Request, db: DB, visitor: AdminVisitor) -> Response:
    return _page(request, db)


@router.post("")
async def save_offer(
    request: Request, db: DB, visitor: AdminVisitor, cores: Text, memory: Text, start: Text,
    end: Text, price: Text, max_fuel: Text, lending: Annotated[str, Form(max_length=10)] = "",
) -> Response:  # fmt: skip
    node = request.app.state.node
    given = offers.current(node, db)
    try:
        offer = replace(given, enabled=bool(lending), cores=_whole(cores, "cores"),
                        memory_bytes=offers.parse_memory(memory),
                        hours=(_whole(start, "hours"), _whole(end, "hours")),
                        price_per_mfuel=offers.parse_price(price),
                        max_fuel=_whole(max_fuel, "fuel"))  # fmt: skip
        offers.save(node, db, offer)
    except HameauError as failure:
        said = failure.render(request.app.state.pages.gettext(request))
        db.rollback()
        return _page(request, db, failure.status, error=said)
    return RedirectResponse("/compute/offer?done=saved", status_code=303)


WHOLE = {
    "cores": N_("Give the cores as a whole number, e.g. 1."),
    "hours": N_("Give the hours as whole numbers from 0 to 24."),
    "fuel": N_("Give the most fuel per job as a whole number, e.g. 1000000000."),
}


def _whole(text: str, what: str) -> int:
    cleaned = text.strip().replace("\u202f", "").replace(" ", "").replace("_", "")
    if not cleaned.isdigit():
        raise BadRequest(WHOLE[what])
    return int(cleaned)
