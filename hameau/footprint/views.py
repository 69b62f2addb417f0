"""The footprint's pages: a member's own share (/footprint) and, for admins, the household's
(/footprint/household) with the inventory's fields, the node's machine and a wall meter's
reading; charts drawn on the server (charts.py), every figure with its label and source."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Form
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hameau.accounts import devices, members
from hameau.accounts.models import DEVICE_KINDS
from hameau.errors import N_, BadRequest, HameauError
from hameau.footprint import charts, energy, inventory, machine, power, report, service
from hameau.footprint.factors import load
from hameau.footprint.figures import Figure
from hameau.footprint.model import Scenario
from hameau.web.auth import DB, AdminVisitor, MemberVisitor, member_of
from hameau.web.openapi import RowId

router = APIRouter(prefix="/footprint", include_in_schema=False)

NOTICES = {
    "device": N_("The device’s inventory is saved."),
    "node": N_("The home server’s machine is saved."),
    "meter": N_("The wall meter’s reading is kept."),
}
LABELS = {"measured": N_("measured"), "estimated": N_("estimated"), "unknown": N_("unknown")}
SECTIONS = {
    "node power": N_("home server power"), "household devices": N_("household devices"),
    "scenarios": N_("scenarios"), "member": N_("member"),
    "energy per app, 30 days": N_("energy per app, 30 days"),
    "compute lent and borrowed, 30 days": N_("compute lent and borrowed, 30 days"),
}  # fmt: skip
VERDICTS = {"met": N_("met"), "not met": N_("not met"),
            "not measurable here": N_("not measurable here")}  # fmt: skip


YEAR = N_("/year")
COUNTRIES = {
    "BEL": N_("Belgium"), "CHE": N_("Switzerland"), "DEU": N_("Germany"),
    "EEE": N_("Europe (average)"), "ESP": N_("Spain"), "FRA": N_("France"),
    "GBR": N_("United Kingdom"), "ITA": N_("Italy"), "WOR": N_("the world (average)"),
}  # fmt: skip


MINUS = re.compile(r"(?<![\w.])-(?=\d)")  # a negative number's sign, as a minus sign
POINT = re.compile(r"(?<=\d)\.(?=\d)")  # a decimal point, a comma in French


def _said(fig: Figure, gettext: Any) -> str:
    text = report.said(fig).replace("/year", gettext(YEAR))
    for word, msgid in LABELS.items():
        if text.endswith(", " + word):
            return text[: -len(word)] + gettext(msgid)
    return gettext("unknown") if not fig.known else text


@dataclass(frozen=True)
class Words:
    """The reader's language: its messages, and its way of writing a figure (29,4 in French)."""

    gettext: Any
    locale: str

    def said(self, fig: Figure) -> str:
        text = MINUS.sub("−", _said(fig, self.gettext))
        return POINT.sub(",", text) if self.locale == "fr" else text


def _bar(label: str, parts: list[Figure], whole: Figure, words: Words) -> charts.Bar:
    if not whole.known:
        return charts.Bar(label, said=words.gettext("unknown"), known=False)
    return charts.Bar(label, [p.value or 0.0 for p in parts if p.known], whole.low, whole.high,
                      words.said(whole))  # fmt: skip


def _device_chart(real: Scenario, words: Words) -> Any:
    gettext = words.gettext
    bars = [
        _bar(line.device.name if not line.device.node else gettext("the home server"),
             [line.embodied["gwp"], line.use["gwp"]], line.total("gwp"), words)
        for line in real.lines
    ]  # fmt: skip
    return charts.chart(gettext("Global warming per device and per year"), bars,
                        (gettext("manufacture"), gettext("use")))  # fmt: skip


def _scenario_chart(made: service.Report, words: Words) -> Any:
    gettext = words.gettext
    ours = made.share["gwp"] if made.share else made.real.total("gwp")
    theirs = made.own_share["gwp"] if made.own_share else made.own.total("gwp", with_extra=False)
    bars = [
        _bar(gettext("This household, as it is") if not made.share else gettext("Your share, as it is"),
             [ours], ours, words),
        _bar(gettext("Everyone owning their own, without the cloud share (unknown)"),
             [theirs], theirs, words),
    ]  # fmt: skip
    return charts.chart(gettext("Global warming per year, two ways of living"), bars)


def _context(request: Request, db: Session, member_id: int | None) -> dict[str, Any]:
    pages = request.app.state.pages
    words = Words(pages.gettext(request), pages.locale_for(request))
    made = service.build(request.app.state.node, db, member_id)
    return {
        "report": made, "said": words.said, "labels": LABELS, "country": _country(words),
        "verdicts": VERDICTS, "sections": SECTIONS, "rows": report.figure_rows(made),
        "scenario_chart": _scenario_chart(made, words),
        "device_chart": _device_chart(made.real, words),
        "notice": NOTICES.get(request.query_params.get("done", "")),
    }  # fmt: skip


def _country(words: Words) -> Any:
    """A country's name for its code in the reference data (FRA: France), the code if unnamed."""
    return lambda code: words.gettext(COUNTRIES[code]) if code in COUNTRIES else code


@router.get("")
async def member_page(request: Request, db: DB, visitor: MemberVisitor) -> Response:
    context = _context(request, db, member_of(visitor).id)
    context["title"] = N_("Footprint")
    return request.app.state.pages.render(request, "footprint/member.html", context)


def _kernel_cpu() -> dict[str, Any]:
    """What the system says of the node's CPU, and whether Boavizta's table has it."""
    said = machine.read_machine(energy.PROC).cpu
    found = machine.find_cpu(said, machine.specs()) if said else None
    return {"name": said, "found": found is not None}


def _household(request: Request, db: Session, status: int = 200, **more: Any) -> Response:
    context = _context(request, db, None)
    context.update(
        title=N_("Household footprint"), devices=devices.list_devices(db), kinds=DEVICE_KINDS,
        people=members.list_members(db, active_only=True), profile=inventory.node_profile(db),
        node_kinds=inventory.NODE_KINDS, countries=load().countries(),
        cpu_names=[cpu.name for cpu in machine.specs()], kernel=_kernel_cpu(), **more,
    )  # fmt: skip
    return request.app.state.pages.render(request, "footprint/household.html", context, status)


@router.get("/household")
async def household_page(request: Request, db: DB, visitor: AdminVisitor) -> Response:
    return _household(request, db)


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        raise BadRequest("The acquisition date must look like 2021-03-15.") from None


def _refused(request: Request, db: Session, failure: HameauError) -> Response:
    said = failure.render(request.app.state.pages.gettext(request))
    return _household(request, db, failure.status, error=said)


@router.post("/household/devices/{device_id}")
async def set_device(
    request: Request, db: DB, visitor: AdminVisitor, device_id: RowId,
    kind: Annotated[str, Form(max_length=20)], usage: Annotated[str, Form(max_length=10)],
    owner: Annotated[int | None, Form()] = None,
    acquired: Annotated[str, Form(max_length=10)] = "",
    lifetime_years: Annotated[int | None, Form()] = None,
) -> Response:  # fmt: skip
    try:
        if usage not in ("shared", "personal"):
            raise BadRequest("Say whether the device is shared or personal.")
        who = members.get_member(db, owner) if owner and usage == "personal" else None
        devices.set_inventory(devices.get_device(db, device_id), kind, usage == "shared",
                              owner=who, acquired_on=_date(acquired), lifetime_years=lifetime_years)  # fmt: skip
    except HameauError as failure:
        return _refused(request, db, failure)
    return RedirectResponse("/footprint/household?done=device", status_code=303)


@router.post("/household/node")
async def set_node(
    request: Request, db: DB, visitor: AdminVisitor,
    kind: Annotated[str, Form(max_length=20)], country: Annotated[str, Form(max_length=3)],
    acquired: Annotated[str, Form(max_length=10)] = "",
    lifetime_years: Annotated[int | None, Form()] = None,
    cpu: Annotated[str, Form(max_length=100)] = "",
    memory_gb: Annotated[float | None, Form()] = None,
) -> Response:  # fmt: skip
    try:
        inventory.set_node(db, kind=kind, acquired_on=_date(acquired),
                           lifetime_years=lifetime_years, country=country, cpu=cpu,
                           memory_gb=memory_gb or 0.0)  # fmt: skip
    except HameauError as failure:
        return _refused(request, db, failure)
    return RedirectResponse("/footprint/household?done=node", status_code=303)


@router.post("/household/meter")
async def add_meter_reading(
    request: Request, db: DB, visitor: AdminVisitor,
    watts: Annotated[float | None, Form()] = None, kwh: Annotated[float | None, Form()] = None,
    hours: Annotated[float | None, Form()] = None,
) -> Response:  # fmt: skip
    try:
        power.add_reading(db, member_of(visitor).name, watts=watts, kwh=kwh, hours=hours)
    except HameauError as failure:
        return _refused(request, db, failure)
    return RedirectResponse("/footprint/household?done=meter", status_code=303)
