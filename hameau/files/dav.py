"""WebDAV at /dav/files/: WsgiDAV with a provider of our own over the same store and rules.

The root holds three folders: `mine` (the member's files), `household` (the household's)
and `shared` (what others shared with the member, read-only). Clients log in with the
member's name and an app password (HTTP Basic). The app around the provider, and the guard
that refuses `Depth: infinity`, are in dav_app.py.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from sqlalchemy import bindparam, select
from sqlalchemy.exc import OperationalError
from wsgidav.dav_error import (
    HTTP_CONFLICT,
    HTTP_FORBIDDEN,
    HTTP_INSUFFICIENT_STORAGE,
    HTTP_NOT_FOUND,
    HTTP_PRECONDITION_FAILED,
    DAVError,
)
from wsgidav.dav_provider import DAVCollection, DAVNonCollection

from hameau.accounts.models import Member
from hameau.errors import Conflict, Forbidden, HameauError, InsufficientStorage, NotFound
from hameau.files import dav_props, integrity, listing, paths, quota
from hameau.files import service as files
from hameau.files.dav_auth import MEMBER_KEY
from hameau.files.models import FileEntry
from hameau.node.blobs import BlobDamaged, BlobStore, BlobWriter
from hameau.node.datadir import Node
from hameau.node.db import retrying
from hameau.web.errors import disk_full, storage_full

if TYPE_CHECKING:
    from hameau.files.dav_provider import HameauProvider

DISCONNECTED = "hameau.disconnected"
UNDO = "hameau.undo"  # what to take back if the request fails (a LOCK's new empty file)
RESOLVED = "hameau.resolved"  # a PUT's folders found on the way to its path (see _resolve)
# A PUT's conditions, as WSGI names them: WsgiDAV judges them before the body; the write
# then lands only on the content they were judged on (`files.WritePlan.expect`).
CONDITIONAL = ("HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE",
               "HTTP_IF_UNMODIFIED_SINCE")  # fmt: skip
PLANNED = "hameau.planned"  # a PUT's write plan, made with its path's lookup (see _resolve)


def _dav_error(error: HameauError) -> DAVError:
    status = {
        NotFound: HTTP_NOT_FOUND,
        Forbidden: HTTP_FORBIDDEN,
        Conflict: HTTP_CONFLICT,
        InsufficientStorage: HTTP_INSUFFICIENT_STORAGE,
    }.get(type(error), HTTP_CONFLICT if error.status == 409 else error.status)
    return DAVError(status, context_info=str(error))


@dataclass
class Where:
    """A resolved DAV path: the top folder, the path below it, and the entry found there."""

    top: str
    parts: list[str]
    entry_id: int | None


def lock_key(member_id: int, top: str, parts: list[str], collection: bool) -> str:
    """The key of a resource's locks: the real resource, the space's owner first
    (`/m12/mine/a`), so `/mine/a` of one member never shares a lock with another's."""
    owner = "h" if top == "household" else f"{top[0]}{member_id}"
    key = "/".join(["", owner, top, *parts])
    return quote(key + ("/" if collection else ""))


_ACTIVE = select(Member.id).where(Member.id == bindparam("id"), Member.disabled_at.is_(None))


class _Context:
    """What every resource of one request shares: the node and the member."""

    def __init__(self, node: Node, member_id: int, member: Member | None = None) -> None:
        self.node = node
        self.member_id = member_id
        # The member as an earlier transaction of this request read it (a PUT's, dav_put):
        # then only whether they are still active is asked again, not their whole row.
        self.member = member

    @classmethod
    def of(cls, provider: HameauProvider, environ: dict[str, Any]) -> _Context:
        return cls(provider.node, environ[MEMBER_KEY])

    def run(self, work: Callable[[Any, Member], Any], content: BlobWriter | None = None) -> Any:
        """Run ``work(session, member)`` in one transaction; our errors become DAV errors.
        ``content`` (committed with ``later``): it and the row made durable in one batch with
        the writes of the moment (`db.GroupCommit.run_with_content`), for the many small PUTs
        of a photo archive."""

        def transact(session: Any) -> Any:
            if self.member is not None:
                member = self.member if session.scalar(_ACTIVE, {"id": self.member_id}) else None
            else:
                member = session.get(Member, self.member_id)
            if member is None or not member.active:
                raise Forbidden("This account is disabled.")
            return work(session, member)

        try:
            if content is not None:
                return self.node.group.run_with_content(self.node.blobs, content, transact)
            return retrying(self.node.sessions, transact)
        except HameauError as error:
            raise _dav_error(error) from None
        except (OSError, OperationalError) as error:
            if not storage_full(error):
                raise
            raise _dav_error(disk_full()) from None


class EntryMixin(dav_props.DeadProperties):
    """What files and folders share: where they are, their locks and dead properties, their
    moves, copies and deletes."""

    path: str
    environ: dict[str, Any]
    provider: HameauProvider

    def _setup(self, context: _Context, where: Where, entry: FileEntry | None) -> None:
        self.context, self.where = context, where
        self.entry_id = entry.id if entry else None
        self.name = entry.name if entry else (where.parts[-1] if where.parts else "")
        self.modified = entry.modified_at.timestamp() if entry else None
        self.created = entry.created_at.timestamp() if entry else None
        self.writable = where.top in ("mine", "household")

    def _entry(self, session: Any) -> FileEntry:
        entry = session.get(FileEntry, self.entry_id) if self.entry_id else None
        if entry is None or entry.deleted_at is not None:
            raise NotFound("No file or folder at this path.")
        return entry

    def _check_writable(self) -> None:
        if not self.writable:
            raise DAVError(HTTP_FORBIDDEN, context_info="Shared with you read-only.")

    _ref_url: str | None = None

    def get_ref_url(self) -> str:
        """The key of locks: the real resource, the space's owner first (`/m12/mine/a`).
        Kept once made: WsgiDAV asks for it for each property of a listing."""
        if self._ref_url is None:
            self._ref_url = lock_key(
                self.context.member_id,
                self.where.top,
                self.where.parts,
                self.is_collection,  # type: ignore[attr-defined]
            )
        return self._ref_url

    def prevent_locking(self) -> bool:
        return not self.writable

    known_locked: bool | None = None  # given by the folder's listing, to save a query

    def get_property_value(self, name: str) -> Any:
        if name == "{DAV:}lockdiscovery" and self.known_locked is False:
            from wsgidav.xml_tools import etree

            return etree.Element(name)
        return super().get_property_value(name)

    def get_last_modified(self) -> float | None:
        return self.modified

    def get_creation_date(self) -> float | None:
        return self.created

    def delete(self) -> None:
        self._check_writable()
        self.context.run(lambda s, m: files.trash(s, m, self._entry(s)))
        self.remove_all_locks(recursive=True)  # type: ignore[attr-defined]

    def support_recursive_delete(self) -> bool:
        return True

    def support_recursive_move(self, dest_path: str) -> bool:
        return True

    def _target(self, dest_path: str) -> tuple[str, list[str]]:
        top, *parts = [part for part in dest_path.split("/") if part]
        if top not in ("mine", "household") or not parts:
            raise DAVError(HTTP_FORBIDDEN, context_info="Only into your files or the household's.")
        return top, paths.split("/".join(parts))

    def move_recursive(self, dest_path: str) -> None:
        self._check_writable()
        top, parts = self._target(dest_path)

        def work(session: Any, member: Member) -> None:
            target = files.resolve(session, files.space(member, top), parts[:-1])
            files.move(session, member, self._entry(session), target, parts[-1])

        self.context.run(work)
        self.remove_all_locks(recursive=True)  # type: ignore[attr-defined]  # locks stay behind

    def copy_move_single(self, dest_path: str, *, is_move: bool) -> None:
        if is_move:
            self.move_recursive(dest_path)
            return
        top, parts = self._target(dest_path)

        def work(session: Any, member: Member) -> None:
            source = self._entry(session)
            where = files.space(member, top)
            if source.is_dir:  # onto a folder already there: merged, as RFC 4918 9.8.4 asks
                try:
                    target = files.resolve(session, where, parts)
                except NotFound:
                    target = files.make_folder(session, member, where, parts)
            else:
                plan = files.plan_write(session, member, where, parts, source.size)
                assert source.blob is not None
                target = files.record_write(
                    session, plan, member, source.blob, source.size, source.content_type,
                    self.context.node.blobs,
                )  # fmt: skip
            dav_props.copy(session, member, source.id, target.id)

        self.context.run(work)


class FolderResource(EntryMixin, DAVCollection):
    def __init__(
        self, path: str, environ: dict[str, Any], context: _Context, where: Where, entry: FileEntry
    ) -> None:
        DAVCollection.__init__(self, path, environ)
        self._setup(context, where, entry)

    def get_member_names(self) -> list[str]:
        return self.context.run(
            lambda s, m: [entry.name for entry in files.children(s, self._entry(s))]
        )

    def get_member(self, name: str) -> Any:
        return self.provider.get_resource_inst(f"{self.path.rstrip('/')}/{name}", self.environ)

    def _members(
        self, entries: list[FileEntry], properties: dict[int, dict[str, bytes | None]]
    ) -> list[Any]:
        found = []
        for entry in entries:
            where = Where(self.where.top, [*self.where.parts, entry.name], entry.id)
            path = f"{self.path.rstrip('/')}/{entry.name}"
            kind = FolderResource if entry.is_dir else FileResource
            found.append(kind(path, self.environ, self.context, where, entry))
            found[-1].known = properties.get(entry.id, {})
        return found

    def _locked_roots(self) -> set[str] | None:
        """The locks held in this folder (one lookup for a whole listing); None: no locks."""
        if self.provider.lock_manager is None:
            return None
        held = self.provider.lock_manager.get_url_lock_list(self.get_ref_url(), recursive=True)
        return {lock["root"] for lock in held}

    @staticmethod
    def _mark_locks(members: list[Any], roots: set[str] | None) -> None:
        if roots is None:
            return
        for member in members:
            member.known_locked = "/" + member.get_ref_url().strip("/") in roots

    def get_member_list(self) -> list[Any]:
        """One query for a whole folder listing."""

        def work(session: Any, member: Member) -> list[Any]:
            folder = self._entry(session)
            properties = dav_props.listed_below(session, folder.id)
            return self._members(files.children(session, folder), properties)

        children = self.context.run(work)
        self._mark_locks(children, self._locked_roots())
        return children

    def member_batches(self) -> Iterator[list[Any]]:
        """The folder's members a batch at a time, each read in its own transaction (a
        PROPFIND Depth: 1 streams them, see dav_stream.py)."""
        roots = self._locked_roots()
        for entries in listing.batches(self.context.node.sessions, self.entry_id or 0):
            ids = [entry.id for entry in entries]
            properties = self.context.run(lambda s, m, ids=ids: dav_props.listed(s, ids))
            members = self._members(entries, properties)
            self._mark_locks(members, roots)
            yield members

    def create_empty_resource(self, name: str) -> FileResource:
        self._check_writable()
        try:
            name = paths.check_name(name)
        except HameauError as error:
            raise _dav_error(error) from None
        where = Where(self.where.top, [*self.where.parts, name], None)
        made = FileResource(
            f"{self.path.rstrip('/')}/{name}", self.environ, self.context, where, None
        )
        if self.environ.get("REQUEST_METHOD") == "LOCK":
            made.create_empty(self)  # RFC 4918 9.10.4: a LOCK on an unmapped URL makes a file
        return made

    def create_collection(self, name: str) -> None:
        self._check_writable()

        def work(session: Any, member: Member) -> None:
            parts = [*self.where.parts, paths.check_name(name)]
            try:
                files.make_folder(session, member, files.space(member, self.where.top), parts)
            except Conflict:
                found = files.child(session, self._entry(session), parts[-1])
                if found is not None and found.is_dir:  # made by another client meanwhile
                    raise DAVError(405, context_info="This folder exists already.") from None
                raise

        self.context.run(work)

    def get_display_info(self) -> dict[str, str]:
        return {"type": "Directory"}


class _Upload(io.RawIOBase):
    """The file object WsgiDAV writes a PUT body into: straight into the blob store."""

    def __init__(self, blobs: BlobStore, limit: int) -> None:
        self.writer = blobs.writer()
        self.limit = limit

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        try:
            self.writer.write(data)  # bytes, or a piece of a reused buffer: not kept
        except HameauError as error:  # a full disk: the writer dropped what it had
            raise _dav_error(error) from None
        if self.writer.size > self.limit:
            raise _dav_error(quota.over_quota())
        return len(data)

    def close(self) -> None:  # WsgiDAV closes before end_write; the blob is kept until then
        pass


class FileResource(EntryMixin, DAVNonCollection):
    def __init__(
        self,
        path: str,
        environ: dict[str, Any],
        context: _Context,
        where: Where,
        entry: FileEntry | None,
    ) -> None:
        DAVNonCollection.__init__(self, path, environ)
        self._setup(context, where, entry)
        self.size = entry.size if entry else 0
        self.blob = entry.blob if entry else None
        self.content_type = entry.content_type if entry else "application/octet-stream"
        self._upload: _Upload | None = None
        self._plan: files.WritePlan | None = None

    def get_content_length(self) -> int:
        return self.size

    def get_content_type(self) -> str:
        return self.content_type

    def get_content(self) -> Any:
        """The content, hashed as it is read whole (see `files.integrity`): missing or damaged
        content answers 409 before any byte; a mismatch found at the end cuts the response."""
        if self.blob is None:
            raise DAVError(HTTP_NOT_FOUND)
        store = self.context.node.blobs
        try:
            store.ensure_sound(self.blob, self.size)
            return store.open_verified(self.blob)
        except BlobDamaged as damage:
            integrity.report(self.blob, damage.reason)
            raise _dav_error(integrity.damaged_error()) from None

    def get_etag(self) -> str | None:
        return self.blob

    def support_etag(self) -> bool:
        return True

    def support_ranges(self) -> bool:
        return True

    def create_empty(self, parent: FolderResource) -> None:
        """Make this unmapped URL an empty file (for a LOCK), unless a lock of someone else
        protects the folder's members; taken back if the LOCK then fails."""
        lock_manager = self.provider.lock_manager
        lock_manager.check_write_permission(
            url=parent.get_ref_url(),
            depth="0",
            token_list=self.environ.get("wsgidav.ifLockTokenList", []),
            principal=self.environ.get("wsgidav.user_name", ""),
        )
        digest = self.context.node.blobs.put(b"")

        def work(session: Any, member: Member) -> FileEntry:
            where = files.space(member, self.where.top)
            plan = files.plan_write(session, member, where, self.where.parts, 0)
            return files.record_write(session, plan, member, digest, 0, "", None)

        entry = self.context.run(work)
        self.entry_id, self.blob, self.size = entry.id, digest, 0
        self.content_type = entry.content_type
        self.environ.setdefault(UNDO, []).append(self.delete)

    def begin_write(self, *, content_type: str | None = None) -> _Upload:
        self._check_writable()
        if self.blob is None and "HTTP_IF_MATCH" in self.environ:  # no file to match
            raise DAVError(HTTP_PRECONDITION_FAILED, context_info="There is no such file yet.")
        declared = self.environ.get("CONTENT_LENGTH")
        size = int(declared) if declared and declared.isdigit() else None

        def plan(session: Any, member: Member) -> files.WritePlan:
            return files.plan_write(
                session, member, files.space(member, self.where.top), self.where.parts, size
            )

        planned = self.environ.pop(PLANNED, None)  # made when WsgiDAV looked the path up
        if planned is not None and planned[0] == (self.where.top, *self.where.parts):
            if isinstance(planned[1], HameauError):
                raise _dav_error(planned[1])
            self._plan = planned[1]
        else:
            self._plan = self.context.run(plan)
        if any(name in self.environ for name in CONDITIONAL):  # as WsgiDAV judged it on
            self._plan = dataclasses.replace(self._plan, expect=(self.blob,))
        self.content_type = (content_type or "").split(";")[0]
        try:
            self._upload = _Upload(self.context.node.blobs, self._plan.limit)
        except OSError as error:  # not even room for the temp file
            if not storage_full(error):
                raise
            raise _dav_error(disk_full()) from None
        return self._upload

    def end_write(self, *, with_errors: bool) -> None:
        upload, self._upload = self._upload, None
        if upload is None:
            return
        # A client gone mid-body reads as a clean end of body through WSGI: tell them apart.
        declared = self.environ.get("CONTENT_LENGTH")
        cut = self.environ.get("asgi.scope", {}).get(DISCONNECTED) or (
            declared and declared.isdigit() and int(declared) != upload.writer.size
        )
        if with_errors or cut:
            upload.writer.abort()
            if cut and not with_errors:  # with errors, WsgiDAV answers with the error itself
                raise DAVError(400, context_info="The upload was cut off; nothing was kept.")
            return
        assert self._plan is not None
        entry = recorded(self.context, self._plan, upload, self.content_type)
        self.entry_id, self.blob, self.size = entry.id, entry.blob, upload.writer.size


def recorded(context: _Context, plan: files.WritePlan, upload: _Upload, kind: str) -> FileEntry:
    """A complete upload made durable and recorded at its planned path, in one batch with
    the writes of the moment (group commit, `db.GroupCommit.run_with_content`); errors are
    DAV errors. Answered only once both the content and the row are on the disk."""
    writer = upload.writer
    try:
        digest = writer.commit(later=True)  # hashed only: the batch makes it durable
    except HameauError as error:
        raise _dav_error(error) from None
    blobs = context.node.blobs
    try:
        return context.run(  # type: ignore[no-any-return]
            lambda s, m: files.record_write(s, plan, m, digest, writer.size, kind, blobs),
            content=writer,
        )
    except BaseException:
        writer.abort()  # its temp file, if the batch failed before putting it in place
        raise
