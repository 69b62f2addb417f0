"""PROPFIND Depth: 1 on a folder, streamed: its multistatus is written a batch of members at a
time, each batch read in a transaction of its own (`files.listing.batches`), instead of
WsgiDAV's way of building the whole XML tree, then the whole body, in memory (a 20,000-file
folder made a 16 MB answer and grew the server by 170 MB).

The request is read and checked as WsgiDAV's own `do_PROPFIND` does; the answer has no
Content-Length (HTTP/1.1 chunks it), so `keep_alive` takes back the "Connection: close"
WsgiDAV adds to answers without one.
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from wsgidav import util, xml_tools
from wsgidav.dav_error import HTTP_BAD_REQUEST, HTTP_NOT_FOUND
from wsgidav.util import etree

STREAMED = "hameau.streamed"
HEAD = b'<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">'
TAIL = b"</D:multistatus>"


def _asked(server: Any, environ: dict[str, Any]) -> tuple[str, list[str] | None]:
    """What the PROPFIND body asks for: ("allprop" | "name" | "named", names)."""
    request = util.parse_xml_body(environ, allow_empty=True)
    if request is None:  # RFC 4918 9.1: an empty body asks for all properties
        return "allprop", None
    if request.tag != "{DAV:}propfind":
        server._fail(HTTP_BAD_REQUEST)
    mode: str | None = None
    names: list[str] = []
    for node in request:
        wanted = {"{DAV:}allprop": "allprop", "{DAV:}name": "name", "{DAV:}prop": "named"}
        kind = wanted.get(node.tag)
        if kind is None:
            continue
        if mode not in (None, "named") or (mode == "named" and kind != "named"):
            server._fail(HTTP_BAD_REQUEST)  # allprop, name and prop exclude each other
        mode = kind
        if kind == "named":
            names += [child.tag for child in node]
    return mode or "allprop", names if mode == "named" else None


def _responses(resources: Iterable[Any], mode: str, names: list[str] | None) -> bytes:
    """The <D:response> elements of these resources, serialized in one go and taken out of
    the <D:multistatus> that held them (each declares the namespaces it uses but DAV:)."""
    holder = xml_tools.make_multistatus_el()
    for resource in resources:
        properties = resource.get_properties(mode, name_list=names)
        util.add_property_response(holder, resource.get_href(), properties)
    if not len(holder):
        return b""
    text = etree.tostring(holder)
    assert text.endswith(TAIL), text[-40:]
    return text[text.index(b">") + 1 : -len(TAIL)]


def give_back_memory() -> None:
    """Return the heap's free pages to the system (glibc keeps them otherwise: the process
    would stay as large as its largest answer made it)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc (musl, macOS): nothing
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def propfind(server: Any, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    """WsgiDAV's PROPFIND for ``Depth: 1``, streamed when the resource is one of our folders."""
    resource = server._davProvider.get_resource_inst(environ["PATH_INFO"], environ)
    if resource is None:
        server._fail(HTTP_NOT_FOUND, context_info=environ["PATH_INFO"])
    if not hasattr(resource, "member_batches"):  # a file, or a top folder: WsgiDAV's way
        return server.do_PROPFIND(environ, start_response)
    server._evaluate_if_headers(resource, environ)
    mode, names = _asked(server, environ)
    first = _responses([resource], mode, names)  # errors in it still answer with a status

    def body() -> Iterator[bytes]:
        yield HEAD + first
        batches = 0
        try:
            for batch in resource.member_batches():
                batches += 1
                yield _responses(batch, mode, names)
            yield TAIL
        finally:
            if batches > 1:  # a big folder: give back what its batches left in the heap
                give_back_memory()

    environ[STREAMED] = True
    start_response(
        "207 Multi-Status",
        [("Content-Type", "application/xml; charset=utf-8"), ("Date", util.get_rfc1123_time())],
    )
    return body()


def keep_alive(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """A streamed answer keeps the connection: HTTP/1.1 chunks delimit it."""

    def kept(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        def starting(status: str, headers: list[tuple[str, str]], *rest: Any) -> Any:
            if environ.get(STREAMED):
                headers = [(k, v) for k, v in headers if (k.lower(), v) != ("connection", "close")]
            return start_response(status, headers, *rest)

        return app(environ, starting)

    return kept
