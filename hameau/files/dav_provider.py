"""The WebDAV provider: from a path under /dav/files/ to its resource (dav.py), a PUT's
write plan made with its path's lookup, and PROPFIND Depth 1 streamed (dav_stream.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from wsgidav.dav_provider import DAVProvider

from hameau.accounts.models import Member
from hameau.errors import HameauError
from hameau.files import dav_stream, paths, shares
from hameau.files import service as files
from hameau.files.dav import (
    PLANNED,
    RESOLVED,
    FileResource,
    FolderResource,
    Where,
    _Context,
)
from hameau.files.dav_tops import TOP, RootCollection, SharedCollection
from hameau.files.models import FileEntry
from hameau.node.datadir import Node


def _plan(
    session: Any,
    member: Member,
    environ: dict[str, Any],
    where: tuple[str, list[str]],
    found: tuple[FileEntry | None, FileEntry | None],
) -> files.WritePlan | HameauError:
    """A PUT's plan (or why it cannot be written), made with its path's transaction from the
    folder and the entry (``found``) that lookup came upon."""
    declared = environ.get("CONTENT_LENGTH")
    size = int(declared) if declared and declared.isdigit() else None
    (top, parts), (parent, existing) = where, found
    try:  # it only reads (the space's root is there already): a refusal changes nothing
        space = files.space(member, top)
        if parent is None:  # no folder there: the same refusal as any door's
            return files.plan_write(session, member, space, parts, size)
        name = paths.check_name(parts[-1])
        return files.plan_in(session, member, space, parent, name, existing, size)
    except HameauError as error:
        return error


class HameauProvider(DAVProvider):
    def __init__(self, node: Node) -> None:
        super().__init__()
        self.node = node

    def custom_request_handler(
        self, environ: dict[str, Any], start_response: Callable[..., Any], default: Any
    ) -> Any:
        """PROPFIND Depth: 1 streams a folder's listing (dav_stream.py); the rest is WsgiDAV's."""
        if environ["REQUEST_METHOD"] == "PROPFIND" and environ.get("HTTP_DEPTH") == "1":
            return dav_stream.propfind(default.__self__, environ, start_response)
        return default(environ, start_response)

    def ref_url_to_path(self, ref_url: str) -> str:
        """From a lock's key (`/m12/mine/a`, see `EntryMixin.get_ref_url`) to its path."""
        return "/" + unquote(ref_url).lstrip("/").partition("/")[2]

    def get_resource_inst(self, path: str, environ: dict[str, Any]) -> Any:
        self._count_get_resource_inst += 1
        context = _Context.of(self, environ)
        names = [part for part in path.split("/") if part]
        if not names:
            return RootCollection("/", environ)
        top, rest = names[0], names[1:]
        if top not in TOP:
            return None
        try:
            rest = paths.split("/".join(rest))
        except HameauError:
            return None
        if top == "shared":
            return self._shared(path, environ, context, rest)

        entry = self._resolve(context, environ, top, rest)
        if entry is None:
            return None
        where = Where(top, rest, entry.id)
        kind = FolderResource if entry.is_dir else FileResource
        return kind(path, environ, context, where, entry)

    @staticmethod
    def _resolve(
        context: _Context, environ: dict[str, Any], top: str, rest: list[str]
    ) -> FileEntry | None:
        """The entry at ``rest`` in a space, or None. A PUT asks for its path, then for its
        folder (WsgiDAV's do_PUT), before it changes anything: the folder, found on the way,
        is kept for that second question, which costs no transaction then."""
        seen: dict[tuple[str, ...], FileEntry | None] | None = None
        if environ.get("REQUEST_METHOD") == "PUT":
            seen = environ.setdefault(RESOLVED, {})
            key = (top, *rest)
            if key in seen:
                return seen[key]

        def work(session: Any, member: Member) -> FileEntry | None:
            entry: FileEntry | None = files.root(session, files.space(member, top))
            for depth, name in enumerate(rest):
                if seen is not None:
                    seen[(top, *rest[:depth])] = entry
                entry = files.child(session, entry, name) if entry and entry.is_dir else None
            if seen is not None and rest and (entry is None or not entry.is_dir):
                found = (seen[(top, *rest[:-1])], entry)
                environ[PLANNED] = (
                    (top, *rest),
                    _plan(session, member, environ, (top, rest), found),
                )
            return entry

        return context.run(work)  # type: ignore[no-any-return]

    def _shared(
        self, path: str, environ: dict[str, Any], context: _Context, rest: list[str]
    ) -> Any:
        if not rest:
            return SharedCollection(path, environ, context)

        def work(session: Any, member: Member) -> FileEntry | None:
            entry = next(
                (e for e in shares.shared_with(session, member) if e.name == rest[0]), None
            )
            for name in rest[1:]:
                entry = files.child(session, entry, name) if entry and entry.is_dir else None
            return entry

        entry = context.run(work)
        if entry is None:
            return None
        where = Where("shared", rest, entry.id)
        kind = FolderResource if entry.is_dir else FileResource
        return kind(path, environ, context, where, entry)
