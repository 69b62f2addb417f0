"""A satellite's own record: its home, its member, its credential, what it took, where sync is.

It lives in `satellite.json` in the satellite's data dir (mode 0600: it holds the app
password), rewritten whole and atomically (temp file, fsync, rename) after each step of a
sync, so an interrupted sync resumes from the last step that finished. Its presence is what
makes a node a satellite.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import suppress
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property
from pathlib import Path
from typing import Any

from hameau.errors import BadRequest

FILE = "satellite.json"
SPACES = ("mine", "household")


@dataclass(frozen=True)
class Take:
    """One `--take`: `files:mine/Voyage`, `files:household`, `notes`, `calendar:agenda`."""

    kind: str  # "files", "notes" or "calendar"
    space: str = ""  # files: "mine" or "household"
    path: str = ""  # files: the folder (empty: the whole space); calendar: its name

    @classmethod
    def parse(cls, text: str) -> Take:
        kind, _, rest = text.strip().partition(":")
        if kind == "notes" and not rest:
            return cls("notes")
        if kind == "calendar" and rest and "/" not in rest and not rest.startswith("."):
            return cls("calendar", path=rest)
        if kind == "files":
            space, _, folder = rest.strip("/").partition("/")
            parts = [part for part in folder.split("/") if part]
            if space in SPACES and all(part not in (".", "..") for part in parts):
                return cls("files", space, "/".join(parts))
        raise BadRequest(
            "'%(take)s' is not something to take: use files:mine/FOLDER, files:household/FOLDER,"
            " notes or calendar:NAME (agenda, household).",
            take=text,
        )

    def __str__(self) -> str:
        if self.kind == "files":
            return f"files:{self.space}{'/' + self.path if self.path else ''}"
        if self.kind == "calendar":
            return f"calendar:{self.path}"
        return self.kind

    def covers(self, space: str, path: str) -> bool:
        return (
            self.kind == "files"
            and self.space == space
            and (not self.path or path == self.path or path.startswith(self.path + "/"))
        )


@dataclass
class Satellite:
    home: str  # the home node's address
    member: str
    device_name: str
    token: str
    home_replica: str
    takes: list[str]
    # Each syncing domain's own state, by the domain's name: for files, the sequence
    # numbers up to which each side's journal is reconciled per space ("home", "local") and
    # the paths refused at the last sync ("retry"); for calendars, the hash of each event's
    # text as both sides last agreed, per calendar ("base").
    state: dict[str, dict[str, Any]] = field(default_factory=dict)
    home_timezone: str = ""  # an IANA name; conflict copies are dated in it ("": UTC)
    packed_at: str = ""
    last_sync: str = ""
    last_error: str = ""
    home_moved: str = ""  # "OLD_ADDRESS WHEN": the home that said the member moved from it

    @cached_property
    def parsed(self) -> list[Take]:
        return [Take.parse(text) for text in self.takes]

    @property
    def spaces(self) -> list[str]:
        return sorted({take.space for take in self.parsed if take.kind == "files"})

    @property
    def calendars(self) -> list[str]:
        return [take.path for take in self.parsed if take.kind == "calendar"]

    @property
    def notes(self) -> bool:
        return any(take.kind == "notes" for take in self.parsed)

    def covers(self, space: str, path: str) -> bool:
        return any(take.covers(space, path) for take in self.parsed)

    def taken(self, kind: str) -> list[str]:
        """What was taken of one kind, after "kind:" ("mine/Voyage", "agenda"; "" for notes)."""
        return [str(take).partition(":")[2] for take in self.parsed if take.kind == kind]

    def files_state(self, key: str) -> dict[str, Any]:
        """One part of the files' sync state ("home", "local", "retry"), per space."""
        return dict(self.state.get("files", {}).get(key, {}))


def path(root: Path) -> Path:
    return root / FILE


def load(root: Path) -> Satellite | None:
    """The satellite record of the node in ``root``, or None for a home node."""
    try:
        data = json.loads(path(root).read_text())
    except FileNotFoundError:
        return None
    known = {item.name for item in fields(Satellite)}
    found = Satellite(**{key: value for key, value in data.items() if key in known})
    # Records written before the domains kept their own state: the same, moved.
    olds = {"home_cursor": ("files", "home"), "local_cursor": ("files", "local"),
            "retry": ("files", "retry"), "calendar_base": ("calendar", "base")}  # fmt: skip
    for old, (domain, key) in olds.items():
        if old in data:
            found.state.setdefault(domain, {}).setdefault(key, data[old])
    return found


def save(root: Path, satellite: Satellite) -> None:
    text = json.dumps(asdict(satellite), indent=1, sort_keys=True)
    with suppress(OSError, ValueError):  # a round that moved no cursor: nothing new to keep
        if path(root).read_text() == text:
            return
    descriptor, temp = tempfile.mkstemp(dir=root, prefix=".satellite-")
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(temp, 0o600)
    os.replace(temp, path(root))
