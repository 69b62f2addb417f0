"""What this node lends (issue 15; docs/compute.md, "Offers: owner first").

The admin sets one offer: lending on or off, how many cores (jobs at once) and how much memory
a job may have, the local hours when jobs may start, the price in cents of credit per million
fuel (Wasmtime's meter: about one unit per WebAssembly instruction) and the most fuel one job
may ask. A node lends nothing until an admin turns lending on.

`accepts` is the node's half of the two-sided match (ClassAds' spirit): a pure function of the
offer and the job's requirements, saying None or the one sentence why not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from hameau.compute.offer_models import ComputeOffer
from hameau.errors import BadRequest
from hameau.node.datadir import Node
from hameau.node.db import utcnow

if TYPE_CHECKING:
    from hameau.compute.sandbox import Limits

MIB = 1 << 20
MFUEL = 1_000_000
MAX_CORES = 256
MAX_MEMORY = 1 << 40  # 1 TiB: past it, a typo
MAX_PRICE = 1_000_000  # cents per million fuel
MAX_FUEL = 10**15


@dataclass(frozen=True)
class Offer:
    """What this node lends (one row; admin-set)."""

    enabled: bool
    cores: int
    memory_bytes: int
    hours: tuple[int, int]  # local hours [start, end) when lending is allowed; (0, 24) = always
    price_per_mfuel: int  # cents of credit per million fuel
    max_fuel: int  # the most fuel one job may ask


# Not lending until the admin turns it on; then one core, 512 MiB, always, 1 cent per million.
DEFAULT = Offer(False, 1, 512 * MIB, (0, 24), 1, 1_000_000_000)


def current(node: Node, session: Session) -> Offer:
    """The node's offer: the admin's, or DEFAULT when none was saved."""
    row = session.get(ComputeOffer, 1)
    if row is None:
        return DEFAULT
    return Offer(row.enabled, row.cores, row.memory_bytes, (row.hours_start, row.hours_end),
                 row.price_per_mfuel, row.max_fuel)  # fmt: skip


def checked(offer: Offer) -> Offer:
    """The offer if each figure is in range, else BadRequest saying which and how."""
    start, end = offer.hours
    if not 1 <= offer.cores <= MAX_CORES:
        raise BadRequest("Lend between 1 and %(most)s cores.", most=MAX_CORES)
    if not MIB <= offer.memory_bytes <= MAX_MEMORY:
        raise BadRequest('Lend at least 1 MiB of memory per job, e.g. "512M".')
    if not (0 <= start <= 23 and 1 <= end <= 24 and start != end):
        raise BadRequest('Give the hours as two different hours from 0 to 24, e.g. "22-7".')
    if not 0 <= offer.price_per_mfuel <= MAX_PRICE:
        raise BadRequest('Give the price in euros per million fuel, zero or more, e.g. "0.05".')
    if not MFUEL <= offer.max_fuel <= MAX_FUEL:
        raise BadRequest("Let a job ask at least a million fuel (--max-fuel 1000000).")
    return offer


def save(node: Node, session: Session, offer: Offer) -> Offer:
    """Keep the admin's offer (checked first)."""
    checked(offer)
    row = session.get(ComputeOffer, 1) or ComputeOffer(id=1)
    row.enabled, row.cores, row.memory_bytes = offer.enabled, offer.cores, offer.memory_bytes
    row.hours_start, row.hours_end = offer.hours
    row.price_per_mfuel, row.max_fuel = offer.price_per_mfuel, offer.max_fuel
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return offer


def in_hours(hours: tuple[int, int], hour: int) -> bool:
    """Whether a local hour is in [start, end), the range wrapping past midnight if end < start."""
    start, end = hours
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end


def accepts(
    offer: Offer, memory_bytes: int, fuel: int, price_per_mfuel_max: int, now: datetime
) -> str | None:
    """None if the offer takes a job asking this memory and fuel at most this price at `now`
    (aware: converted to local time; naive: local already), else the reason, one sentence."""
    if not offer.enabled:
        return "This home server does not lend its compute now."
    local = now.astimezone() if now.tzinfo is not None else now
    if not in_hours(offer.hours, local.hour):
        start, end = hours_said(offer.hours)
        return f"This home server lends its compute only from {start} to {end}."
    if memory_bytes <= 0 or fuel <= 0:
        return "The job must ask some memory and some fuel."
    if memory_bytes > offer.memory_bytes:
        asked, most = size_said(memory_bytes), size_said(offer.memory_bytes)
        return f"The job asks {asked} of memory; this home server lends at most {most}."
    if fuel > offer.max_fuel:
        return (f"The job may burn {fuel:,} fuel; this home server takes at most"
                f" {offer.max_fuel:,} per job.")  # fmt: skip
    if offer.price_per_mfuel > price_per_mfuel_max:
        return (f"This home server asks {offer.price_per_mfuel} cents of credit per million fuel,"
                f" more than the {price_per_mfuel_max} the job pays.")  # fmt: skip
    return None


def capped_memory(offer: Offer, memory_bytes: int) -> int:
    """The memory cap a job runs with here: what it asked, never more than the offer lends."""
    return min(memory_bytes, offer.memory_bytes)


def job_limits(offer: Offer, asked: Limits) -> Limits:
    """The limits a job runs with here: its own, with its memory and fuel never above what
    the offer lends (the child runs at nice 19 besides: sandbox.Child)."""
    return replace(asked, memory_bytes=capped_memory(offer, asked.memory_bytes),
                   fuel=min(asked.fuel, offer.max_fuel))  # fmt: skip


# Parsing what an admin types, on the page and the command line.

SIZE = re.compile(r"\s*(\d{1,9})\s*([KMGT]?)(?:i?B)?\s*", re.I)
HOURS = re.compile(r"\s*(\d{1,2})\s*(?:h|:00)?\s*[-–]\s*(\d{1,2})\s*(?:h|:00)?\s*")
PRICE = re.compile(r"\s*(\d{1,5})(?:[.,](\d{1,2}))?\s*(?:€|EUR|eur)?\s*")
UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_memory(text: str) -> int:
    """ "512M", "2G", "1.5" refused; a plain number is bytes."""
    match = SIZE.fullmatch(text or "")
    if match is None:
        raise BadRequest('Give the memory as a size such as "512M" or "2G".')
    return int(match.group(1)) * UNITS[match.group(2).upper()]


def parse_hours(text: str) -> tuple[int, int]:
    """ "22-7" (past midnight), "9-17", "0-24" (always)."""
    match = HOURS.fullmatch(text or "")
    if match is None:
        raise BadRequest('Give the hours as start-end, e.g. "22-7" or "0-24" for always.')
    return int(match.group(1)), int(match.group(2))


def parse_price(text: str) -> int:
    """Euros per million fuel ("0.05", "0,05 €", "0") in cents."""
    match = PRICE.fullmatch(text or "")
    if match is None:
        raise BadRequest('Give the price in euros per million fuel, zero or more, e.g. "0.05".')
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def hours_said(hours: tuple[int, int]) -> tuple[str, str]:
    return f"{hours[0]:02d}:00", f"{hours[1] % 24:02d}:00"


def size_said(size: int) -> str:
    for unit, factor in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= factor:
            return f"{round(size / factor, 2):g} {unit}"
    return f"{size} bytes"


def size_typed(size: int) -> str:
    """A size as an admin types it ("512M"), in the largest unit that divides it."""
    for unit in "TGMK":
        if size % UNITS[unit] == 0:
            return f"{size // UNITS[unit]}{unit}"
    return str(size)


def price_said(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"
