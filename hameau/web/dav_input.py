"""What both DAV doors (files through WsgiDAV, calendars through Radicale) check in a
request before their library reads it: each library parses a COPY's or MOVE's Destination
itself and answers 500 to one that is not an address."""

from __future__ import annotations

from urllib.parse import unquote, urlparse

UNREADABLE_DESTINATION = b"The Destination header is not an address."


def destination_path(value: str) -> str | None:
    """The path a Destination header names, decoded; None if it is not an address."""
    try:
        return unquote(urlparse(value).path)
    except ValueError:  # "Invalid IPv6 URL" and the like
        return None
