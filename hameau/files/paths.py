"""Names and paths of files: what is allowed, checked once for every door."""

from __future__ import annotations

import unicodedata

from hameau.errors import BadRequest

MAX_NAME_BYTES = 255
MAX_DEPTH = 64
_FORBIDDEN = set("/\\")


def check_name(name: str) -> str:
    """A file or folder name, normalised (NFC), or a clear error."""
    name = unicodedata.normalize("NFC", name)
    if name in ("", ".", "..") or name.strip() == "":
        raise BadRequest("A name cannot be empty, '.' or '..'.")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise BadRequest("A name cannot contain control characters.")
    if any(char in _FORBIDDEN for char in name):
        raise BadRequest("A name cannot contain '/' or '\\'.")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise BadRequest("A name can be at most 255 bytes long.")
    return name


def split(path: str) -> list[str]:
    """The checked names along a path relative to a space ("a/b/c.txt"; "" is the root).

    An absolute path, a backslash or an empty segment is refused rather than reinterpreted.
    """
    if "\x00" in path:
        raise BadRequest("A name cannot contain control characters.")
    trimmed = path[:-1] if path.endswith("/") else path
    if trimmed.startswith("/") or "//" in trimmed or "\\" in trimmed:
        raise BadRequest("A path here is relative, with no '\\' and no empty part.")
    parts = [part for part in trimmed.split("/") if part != ""]
    if len(parts) > MAX_DEPTH:
        raise BadRequest("This path is too deep.")
    return [check_name(part) for part in parts]
