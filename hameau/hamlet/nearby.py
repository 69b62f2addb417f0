"""Nearby homes on the local network, through mDNS / DNS-SD (`_hameau._tcp`, the `zeroconf`
library): this node announces itself while it serves, and admins browse for others.

A convenience only: an announcement is a claim anyone on the network can make. Nothing found
here is stored, pinned or trusted; pairing still takes an invitation from the other home's
admin (`hameau hamlet invite`). zeroconf is imported only when announcing or browsing.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import re
import socket
import time
import unicodedata
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from hameau.hamlet import service
from hameau.hamlet.signing import fingerprint_of, log, node_id_from_fingerprint
from hameau.web.auth import DB, AdminVisitor

if TYPE_CHECKING:
    from zeroconf import ServiceInfo
    from zeroconf.asyncio import AsyncZeroconf

    from hameau.config import Settings
    from hameau.node.datadir import Node

SERVICE = "_hameau._tcp.local."
TXT_VERSION = "1"
BROWSE_SECONDS = 3.0
MOST_LISTED = 50  # a hostile network may announce thousands; the list stops here
# zeroconf expires its record cache every 10 s; a responder that browses nothing needs it
# rarely, so this node's wakes up for it every 5 minutes instead (see `_quiet`).
CACHE_CLEANUP_SECONDS = 300.0

NODE_ID = re.compile(r"[a-z2-7]{16}")
FINGERPRINT = re.compile(r"[A-Za-z0-9_-]{43}")
LABEL_BYTES = 63  # a DNS label's limit: the instance name's


@dataclass(frozen=True)
class Nearby:
    """What one announcement claims: a home's name, where, and which key. `paired` is the name
    this node pinned for that key, if any."""

    name: str
    address: str
    node_id: str
    fingerprint: str
    paired: str | None = None
    paired_address: str | None = None  # where requests to it go: the address pinned, not this


# -- What is announced, and how an announcement is read (no I/O) ------------------------------


def announcing(settings: Settings) -> bool:
    """Whether `hameau serve` announces this node: the setting, where auto means "unless the
    node listens on loopback only" (then no other machine could use the address anyway)."""
    if settings.hamlet_announce != "auto":
        return bool(settings.hamlet_announce == "on")
    return not _loopback(settings.host)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    with suppress(ValueError):
        return ipaddress.ip_address(host).is_loopback
    return False


def instance_label(name: str) -> str:
    """The node's name as a DNS-SD instance name: printable, at most 63 bytes of UTF-8."""
    text = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip() or "hameau"
    while len(text.encode()) > LABEL_BYTES:
        text = text[:-1]
    return text


def txt_record(node_id: str, fingerprint: str, scheme: str) -> dict[str, str]:
    """The TXT record: the node id, its key's fingerprint, the scheme. Nothing else: no
    members, no version of the software, no address beyond the record's own."""
    return {"v": TXT_VERSION, "id": node_id, "fp": fingerprint, "scheme": scheme}


def _text(properties: Mapping[bytes, bytes | None], key: bytes) -> str | None:
    value = properties.get(key)
    if not isinstance(value, bytes) or len(value) > 255:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def read_txt(properties: Mapping[bytes, bytes | None]) -> tuple[str, str, str] | None:
    """(node id, fingerprint, scheme) from a TXT record, or None if it is not a well-formed
    hameau record: a field missing, too long, not UTF-8, malformed, or an id that is not the
    fingerprint's."""
    node_id, fingerprint = _text(properties, b"id"), _text(properties, b"fp")
    scheme = _text(properties, b"scheme")
    if node_id is None or fingerprint is None or scheme not in ("http", "https"):
        return None
    if not NODE_ID.fullmatch(node_id) or not FINGERPRINT.fullmatch(fingerprint):
        return None
    if node_id_from_fingerprint(fingerprint) != node_id:
        return None
    return node_id, fingerprint, scheme


def instance_name(full: str) -> str:
    """The instance part of a service name ("Home._hameau._tcp.local." gives "Home"),
    printable and bounded."""
    name = full[: -len(SERVICE) - 1] if full.endswith("." + SERVICE) else full
    return instance_label(name.replace("\\.", "."))


def _url(scheme: str, addresses: Iterable[str], port: int | None) -> str | None:
    if not port or not 0 < port < 65536:
        return None
    found = sorted(addresses, key=lambda a: ":" in a)  # IPv4 first
    for text in found:
        with suppress(ValueError):
            address = ipaddress.ip_address(text.split("%")[0])
            host = f"[{address}]" if address.version == 6 else str(address)
            return f"{scheme}://{host}:{port}"
    return None


def read_announcement(
    name: str, properties: Mapping[bytes, bytes | None], addresses: Iterable[str], port: int | None
) -> Nearby | None:
    """One announcement as a Nearby, or None when it is not one this node can list."""
    fields = read_txt(properties)
    if fields is None:
        return None
    node_id, fingerprint, scheme = fields
    url = _url(scheme, addresses, port)
    if url is None:
        return None
    return Nearby(instance_name(name), url, node_id, fingerprint)


def mark_paired(
    found: Iterable[Nearby], pinned: Mapping[str, tuple[str, str, str]]
) -> list[Nearby]:
    """Each announcement, with the name and address of the paired home whose pinned key it
    names (`pinned`: node id -> (name, fingerprint, address) of the peers not left)."""
    marked = []
    for one in found:
        name, fingerprint, address = pinned.get(one.node_id) or (None, None, None)
        if fingerprint != one.fingerprint:
            name = address = None
        marked.append(Nearby(one.name, one.address, one.node_id, one.fingerprint, name, address))
    return sorted(marked, key=lambda n: (n.paired is None, n.name.lower(), n.node_id))


def pinned_peers(db: Any) -> dict[str, tuple[str, str, str]]:
    """The peers not left: node id -> (name, fingerprint of the pinned key, address)."""
    return {
        peer.node_id: (peer.name, fingerprint_of(base64.b64decode(peer.public_key)), peer.address)
        for peer in service.peers(db)
        if peer.revoked_at is None
    }


# -- Browsing ----------------------------------------------------------------------------------


def browse(seconds: float = BROWSE_SECONDS, own_id: str | None = None) -> list[Nearby]:
    """Listen for `_hameau._tcp` announcements for `seconds`, then read each found (blocking:
    run it in a thread from the event loop). The browser is closed before returning."""
    from zeroconf import ServiceBrowser, ServiceInfo, ServiceStateChange, Zeroconf

    names: dict[str, None] = {}

    def on_change(
        zeroconf: Zeroconf, service_type: str, name: str, state_change: ServiceStateChange
    ) -> None:
        if state_change is not ServiceStateChange.Removed and len(names) < MOST_LISTED:
            names[name] = None

    zc = Zeroconf(use_asyncio=False)
    browser = ServiceBrowser(zc, SERVICE, handlers=[on_change])
    try:
        time.sleep(seconds)
        deadline = time.monotonic() + 2.0  # for the few not answered during the browse
        found = []
        for name in list(names):
            info = ServiceInfo(SERVICE, name)
            if not info.load_from_cache(zc) and time.monotonic() < deadline:
                info.request(zc, 1000)
            one = _from_info(info)
            if one is not None and one.node_id != own_id:
                found.append(one)
        return found
    finally:
        browser.cancel()
        zc.close()


def _from_info(info: ServiceInfo) -> Nearby | None:
    properties = {k: v for k, v in (info.properties or {}).items() if isinstance(k, bytes)}
    return read_announcement(info.name, properties, info.parsed_scoped_addresses(), info.port)


router = APIRouter(include_in_schema=False)


@router.get("/hamlet/nearby")
async def nearby_fragment(request: Request, db: DB, visitor: AdminVisitor) -> Response:
    """The homes announcing themselves on this network, looked for now (a few seconds, in a
    thread), for the hamlet page."""
    node = request.app.state.node
    pinned = pinned_peers(db)
    db.commit()  # the browse takes seconds: no transaction is held open during it
    try:
        found = await asyncio.to_thread(browse, BROWSE_SECONDS, node.identity.node_id)
        failed = False
    except OSError as error:
        log.warning("could not look for nearby homes: %s", error)
        found, failed = [], True
    context = {"nearby": mark_paired(found, pinned), "nearby_failed": failed}
    return request.app.state.pages.render(request, "hamlet/_nearby.html", context)


# -- Announcing ----------------------------------------------------------------------------------


def _addresses(host: str) -> tuple[list[str], list[str] | None]:
    """(the addresses to announce, the interfaces to answer on; None: all) for a bind host."""
    if host == "localhost":
        return ["127.0.0.1"], ["127.0.0.1"]
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # a host name: what it resolves to here
        resolved = {str(info[4][0]) for info in socket.getaddrinfo(host, None, socket.AF_INET)}
        return sorted(resolved), sorted(resolved)
    if not address.is_unspecified:
        return [str(address)], [str(address)]
    import ifaddr  # zeroconf's own dependency

    found = [
        str(ip.ip)
        for adapter in ifaddr.get_adapters()
        for ip in adapter.ips
        if isinstance(ip.ip, str) and not ipaddress.ip_address(ip.ip).is_loopback
    ]
    return found, None


def _quiet(zc: Any) -> None:
    """zeroconf's engine wakes every 10 s to expire its cache, its only timer once the
    announcements are sent: here every CACHE_CLEANUP_SECONDS (its class swapped for one that
    only changes that delay; tests/hamlet/test_nearby.py fails if zeroconf renames it)."""
    from zeroconf._engine import AsyncEngine

    class QuietEngine(AsyncEngine):
        __slots__ = ()

        def _async_schedule_next_cache_cleanup(self) -> None:
            loop = self.loop
            assert loop is not None
            when = loop.time() + CACHE_CLEANUP_SECONDS
            self._cleanup_timer = loop.call_at(when, self._async_cache_cleanup)

    zc.engine.__class__ = QuietEngine


class Announcer:
    """This node's announcement while it serves: registered in the background at start (never
    delaying it), withdrawn (a goodbye packet) at the end."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self._task: asyncio.Task[None] | None = None
        self._zc: AsyncZeroconf | None = None

    def info(self, addresses: list[str]) -> ServiceInfo:
        from zeroconf import ServiceInfo

        node, settings = self.node, self.node.settings
        identity = node.identity
        scheme = "https" if getattr(settings, "tls", False) else "http"
        return ServiceInfo(
            SERVICE,
            f"{instance_label(node.name)}.{SERVICE}",
            port=settings.port,
            properties=txt_record(identity.node_id, fingerprint_of(identity.public_bytes), scheme),
            parsed_addresses=addresses,
            server=f"hameau-{identity.node_id}.local.",
        )

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._announce())

    async def _announce(self) -> None:
        try:
            await asyncio.to_thread(__import__, "zeroconf.asyncio")  # its import off the loop
            from zeroconf import InterfaceChoice
            from zeroconf.asyncio import AsyncZeroconf

            addresses, interfaces = await asyncio.to_thread(_addresses, self.node.settings.host)
            if not addresses:
                log.warning("not announced on the local network: no address other than loopback")
                return
            self._zc = AsyncZeroconf(interfaces=interfaces or InterfaceChoice.All)
            _quiet(self._zc.zeroconf)
            info = self.info(addresses)
            announced = await self._zc.async_register_service(info, allow_name_change=True)
            await announced  # the three announcements sent
            log.info("announced on the local network as %s at %s", info.name, addresses)
        except Exception as error:  # a node that cannot announce still serves
            log.warning("not announced on the local network: %s", error)

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        if self._zc is not None:
            with suppress(Exception):  # the goodbye is a courtesy; the end must not wait on it
                await asyncio.wait_for(self._zc.async_close(), 5)
            self._zc = None


def attach(app: Any, node: Node) -> None:
    """The hamlet's state: this node's announcement, when the settings allow it."""
    if announcing(node.settings):
        announcer = Announcer(node)
        app.state.hamlet_announcer = announcer
        app.state.starts.append(announcer.start)
        app.state.stops.append(announcer.stop)
