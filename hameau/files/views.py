"""Files pages: browse, upload (with a progress bar), download, rename and move, trash,
previous versions and sharing."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, unquote

from fastapi import APIRouter, Form
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hameau.accounts import members, workspace
from hameau.accounts.models import Member
from hameau.errors import N_, BadRequest, Forbidden, NotFound
from hameau.files import integrity, kinds, listing, paths, purge, quota, retention, shares
from hameau.files import service as files
from hameau.files.api import receive_upload
from hameau.files.models import FileEntry
from hameau.web.auth import DB, MemberVisitor, Visitor, member_of
from hameau.web.openapi import RowId

router = APIRouter(prefix="/files", include_in_schema=False)


SPACE_TITLES = {
    "mine": N_("My files"),
    "household": N_("Household files"),
    "shared": N_("Shared with me"),
}
NOTICES = {
    "uploaded": N_("Upload finished."),
    "folder": N_("Folder created."),
    "moved": N_("Saved."),
    "deleted": N_("Moved to the trash; it stays there 30 days."),
    "restored": N_("Restored."),
    "purged": N_("Deleted for good; its space is free again."),
    "emptied": N_("The trash is empty; its space is free again."),
    "version": N_("This earlier version is now the current one."),
    "shared": N_("Shared."),
    "unshared": N_("No longer shared."),
}


def page_url(key: str, path: str) -> str:
    return f"/files/{key}/" + quote(path)


def item_url(entry: FileEntry) -> str:
    """An address that names nothing: a shared device's history keeps no file or folder name."""
    return f"/files/item/{entry.id}"


def address(db: DB, visitor: Visitor, key: str, entry: FileEntry) -> str:
    """A folder's or file's page: by its id on a shared device, by its path elsewhere."""
    if entry.parent_id is None:
        return page_url(key, "")  # a space's root names nothing
    if visitor.on_shared_session:
        return item_url(entry)
    return page_url(key, files.path_of(db, entry))


def _back(db: DB, visitor: Visitor, key: str, entry: FileEntry, done: str) -> RedirectResponse:
    return RedirectResponse(f"{address(db, visitor, key, entry)}?done={done}", status_code=303)


def _parent(path: str) -> str:
    return "/".join(paths.split(path)[:-1])


def _folder_of(db: DB, entry: FileEntry) -> FileEntry:
    parent = db.get(FileEntry, entry.parent_id) if entry.parent_id else None
    return parent or entry


def _key_of(member: Member, entry: FileEntry) -> str:
    if entry.owner_id is None:
        return "household"
    return "mine" if entry.owner_id == member.id else "shared"


def _readable(db: DB, member: Member, entry_id: int) -> FileEntry:
    """The entry with this id, if this member may read it; any other id is unknown (404)."""
    entry = db.get(FileEntry, entry_id)
    if (
        entry is None
        or any(item.deleted_at is not None for item in [*files.ancestors(db, entry), entry])
        or not files.can_read(db, member, entry)
    ):
        raise NotFound("No file or folder at this path.")
    return entry


@router.get("/")
async def files_home(visitor: MemberVisitor) -> Response:
    return RedirectResponse("/files/mine/", status_code=303)


@router.get("/trash")
async def trash_page(request: Request, db: DB, visitor: MemberVisitor) -> Response:
    member = member_of(visitor)
    purge.expire(db, request.app.state.node.blobs)
    items = files.trashed(db, member)
    context = {
        "items": items,
        "own": sum(1 for item in items if item.owner_id == member.id),
        "title": N_("Trash"),
        "notice": NOTICES.get(request.query_params.get("done", "")),
    }
    return request.app.state.pages.render(request, "files_trash.html", context)


@router.post("/trash/{entry_id}/restore")
async def restore(request: Request, db: DB, visitor: MemberVisitor, entry_id: RowId) -> Response:
    member = member_of(visitor)
    entry = files.restore(db, member, entry_id)
    files.reindex(db, entry, request.app.state.node.blobs)
    return _back(db, visitor, _key_of(member, entry), _folder_of(db, entry), "restored")


@router.post("/trash/{entry_id}/delete")
async def delete_for_good(
    request: Request, db: DB, visitor: MemberVisitor, entry_id: RowId
) -> Response:
    purge.delete_for_good(db, member_of(visitor), entry_id, request.app.state.node.blobs)
    return RedirectResponse("/files/trash?done=purged", status_code=303)


@router.post("/trash/empty")
async def empty_trash(request: Request, db: DB, visitor: MemberVisitor) -> Response:
    purge.empty_trash(db, member_of(visitor), request.app.state.node.blobs)
    return RedirectResponse("/files/trash?done=emptied", status_code=303)


@router.get("/open/{entry_id}")
async def open_entry(visitor: MemberVisitor, entry_id: RowId) -> Response:
    """Addresses given out before /files/item/ (search results, bookmarks)."""
    return RedirectResponse(f"/files/item/{entry_id}", status_code=303)


@router.get("/item/{entry_id}")
async def item_page(request: Request, db: DB, visitor: MemberVisitor, entry_id: RowId) -> Response:
    """A folder or file by its id. A shared device shows it here, so that no name reaches the
    browser's history; elsewhere it leads to the readable address, in whichever space the
    member sees it."""
    member = member_of(visitor)
    entry = _readable(db, member, entry_id)
    key = _key_of(member, entry)
    if visitor.on_shared_session:
        path = files.path_of(db, entry) if key != "shared" else str(entry.id)
        return _show(request, db, visitor, key, path, entry)
    if key == "shared":
        return RedirectResponse(page_url(key, str(entry.id)), status_code=303)
    return RedirectResponse(page_url(key, files.path_of(db, entry)), status_code=303)


@router.get("/item/{entry_id}/download")
async def download_item(
    request: Request, db: DB, visitor: MemberVisitor, entry_id: RowId
) -> Response:
    entry = _readable(db, member_of(visitor), entry_id)
    if entry.is_dir:
        raise NotFound("No file or folder at this path.")
    return await integrity.download(request.app.state.node.blobs, entry, request.headers)


@router.put("/item/{entry_id}/upload", status_code=201)
async def upload_into(
    request: Request, db: DB, visitor: MemberVisitor, entry_id: RowId
) -> dict[str, int]:
    """The upload script's door on a shared device: the folder by its id, the file's name in
    the X-File-Name header (percent-encoded), so that no name is in an address."""
    member = member_of(visitor)
    folder = _readable(db, member, entry_id)
    key = _key_of(member, folder)
    if key == "shared":
        raise Forbidden("This file is shared with you read-only.")
    if not folder.is_dir:
        raise NotFound("No file or folder at this path.")
    name = paths.check_name(unquote(request.headers.get("x-file-name", "")))
    declared = request.headers.get("content-length")
    parts = [*paths.split(files.path_of(db, folder)), name]
    size = int(declared) if declared and declared.isdigit() else None
    plan = files.plan_write(db, member, files.space(member, key), parts, size)
    db.commit()  # hold no transaction while the body streams in (other writers go on)
    entry = await receive_upload(request, db, plan, member)
    return {"id": entry.id, "size": entry.size}


@router.get("/{key}/{path:path}")
async def browse(request: Request, db: DB, visitor: MemberVisitor, key: str, path: str) -> Response:
    member = member_of(visitor)
    path = "/".join(paths.split(path))  # "a/b/" and "a/b" are the same folder
    if key == "shared" and not path:
        shared = shares.shared_with(db, member)
        context = _context(request, db, visitor, key, path)
        context.update(
            title=SPACE_TITLES["shared"], entries=shared, crumbs=[],
            damaged_entries=integrity.damaged_ids(request.app.state.node.blobs, shared),
            moved_away=shares.moved_away(db, member),
        )  # fmt: skip
        return request.app.state.pages.render(request, "files_folder.html", context)
    return _show(request, db, visitor, key, path, files.locate(db, member, key, path)[1])


def _context(request: Request, db: DB, visitor: Visitor, key: str, path: str) -> dict[str, object]:
    member = member_of(visitor)
    by_id = visitor.on_shared_session

    def link(entry: FileEntry) -> str:
        """A row of the listing: by id on a shared device, else its path under this folder."""
        if by_id:
            return item_url(entry)
        below = str(entry.id) if key == "shared" and not path else f"{path}/{entry.name}"
        return page_url(key, below.lstrip("/")) + ("/" if entry.is_dir else "")

    return {
        "key": key,
        "path": path,
        "space_title": SPACE_TITLES.get(key, ""),
        "notice": NOTICES.get(request.query_params.get("done", "")),
        "space_url": page_url(key, ""),
        "link": link,
        "quota": member.quota_bytes,
        "used": quota.usage(db, member.id),
        "kind_of": kinds.kind_of,  # each row's icon or thumbnail (_files_row.html)
    }


def _crumbs(
    db: DB, visitor: Visitor, key: str, path: str, entry: FileEntry
) -> list[tuple[str, str]]:
    """The folders down to the entry, each with its address, the entry last."""
    if not visitor.on_shared_session:
        parts = paths.split(path)
        return [(page_url(key, "/".join(parts[: i + 1])), name) for i, name in enumerate(parts)]
    chain = [*files.ancestors(db, entry)[1:], entry] if entry.parent_id else []
    if key == "shared":  # from the entry that was shared down, not the owner's other folders
        chain = [item for item in chain if files.can_read(db, member_of(visitor), item)]
    return [(item_url(item), item.name) for item in chain]


def _show(
    request: Request, db: DB, visitor: Visitor, key: str, path: str, entry: FileEntry
) -> Response:
    """A folder's listing or a file's page; ``path`` is its path in the space (for a file
    shared with the member: the shared entry's id, then the names below it)."""
    member = member_of(visitor)
    pages = request.app.state.pages
    by_id = visitor.on_shared_session
    context = _context(request, db, visitor, key, path)
    context["crumbs"] = _crumbs(db, visitor, key, path, entry)
    context["writable"] = key != "shared"
    context["title"] = entry.name or SPACE_TITLES.get(key, "")
    if visitor.login is not None:
        title = entry.name or pages.gettext(request)(SPACE_TITLES.get(key, ""))
        here = item_url(entry) if entry.parent_id else page_url(key, "")  # names nothing
        workspace.remember(db, visitor.login, "files", here, item=path, title=title)
    store = request.app.state.node.blobs
    if entry.is_dir:
        after, here = request.query_params.get("after"), quote(request.url.path)
        found = listing.page(db, entry, listing.PAGE, after)
        entries = found.entries
        context.update(
            next_url=f"{here}?after={found.cursor}" if found.cursor else None,
            first_url=here if after else None,
            entries=entries, damaged_entries=integrity.damaged_ids(store, entries),
            upload_url=f"{item_url(entry)}/upload" if by_id
            else f"/api/files/{key}/" + (quote(path + "/") if path else ""),
            upload_by_id=by_id,
        )  # fmt: skip
        return pages.render(request, "files_folder.html", context)
    versions = retention.versions(db, entry)
    damaged = integrity.is_damaged(store, entry.blob)
    root = request.app.state.node.layout.root
    context["preview"] = {} if damaged else kinds.preview_of(store, entry, root)
    context.update(
        entry=entry,
        damaged=damaged,
        damaged_versions=integrity.damaged_ids(store, versions),
        versions=versions,
        shares=shares.shares_of(db, entry) if entry.owner_id == member.id else [],
        people=[m for m in members.list_members(db, active_only=True) if m.id != member.id],
        parent=_parent(path),
        download_url=f"{item_url(entry)}/download" if by_id else f"/api/files/{key}/{quote(path)}",
    )
    return pages.render(request, "files_file.html", context)


@router.post("/upload")
async def upload_form(request: Request, db: DB, visitor: MemberVisitor) -> Response:
    """Without JavaScript: a plain multipart form (spooled to disk by the parser, never
    held whole in memory), each file then streamed into the blob store."""
    member = member_of(visitor)
    form = await request.form(max_files=1000, max_fields=10)
    key, folder = str(form.get("space", "")), str(form.get("path", ""))
    if key == "shared":
        raise Forbidden("This file is shared with you read-only.")
    where = files.space(member, key)
    uploads = [
        item for item in form.getlist("files") if isinstance(item, UploadFile) and item.filename
    ]
    if not uploads:
        raise BadRequest("Choose at least one file to upload.")
    for upload in uploads:
        name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
        plan = files.plan_write(
            db, member, where, [*paths.split(folder), paths.check_name(name)], upload.size
        )
        db.commit()  # no transaction held while the file is copied in
        store = request.app.state.node.blobs
        with store.writer() as writer:
            while chunk := await upload.read(1 << 20):
                writer.write(chunk)
                if writer.size > plan.limit:
                    raise files.over_quota()
            digest = writer.commit()
        files.record_write(db, plan, member, digest, writer.size, upload.content_type or "", store)
    return _back(db, visitor, key, files.resolve(db, where, paths.split(folder)), "uploaded")


@router.post("/folder")
async def new_folder(
    db: DB, visitor: MemberVisitor,
    space: Annotated[str, Form(max_length=20)],
    name: Annotated[str, Form(max_length=300)],
    path: Annotated[str, Form(max_length=4000)] = "",  # empty: the space's root
) -> Response:  # fmt: skip
    where = files.space(member_of(visitor), space)
    made = files.make_folder(
        db, member_of(visitor), where, [*paths.split(path), paths.check_name(name)]
    )
    return _back(db, visitor, space, _folder_of(db, made), "folder")


def _entry(db: DB, visitor: Visitor, space: str, path: str) -> FileEntry:
    if space == "shared":
        raise Forbidden("This file is shared with you read-only.")
    return files.locate(db, member_of(visitor), space, path)[1]


@router.post("/move")
async def move(
    db: DB, visitor: MemberVisitor,
    space: Annotated[str, Form(max_length=20)],
    path: Annotated[str, Form(max_length=4000)],
    name: Annotated[str, Form(max_length=300)],
    to_space: Annotated[str, Form(max_length=20)] = "",
    to_folder: Annotated[str | None, Form(max_length=4000)] = None,
) -> Response:  # fmt: skip
    """Rename, or move to another folder (of either space)."""
    member = member_of(visitor)
    entry = _entry(db, visitor, space, path)
    target_space = to_space or space
    folder = _parent(path) if to_folder is None else to_folder
    target = files.resolve(db, files.space(member, target_space), paths.split(folder))
    moved = files.move(db, member, entry, target, name)
    return _back(db, visitor, target_space, moved, "moved")


@router.post("/delete")
async def delete(
    db: DB, visitor: MemberVisitor,
    space: Annotated[str, Form(max_length=20)], path: Annotated[str, Form(max_length=4000)],
) -> Response:  # fmt: skip
    entry = _entry(db, visitor, space, path)
    files.trash(db, member_of(visitor), entry)
    return _back(db, visitor, space, _folder_of(db, entry), "deleted")


@router.post("/version")
async def restore_version(
    request: Request, db: DB, visitor: MemberVisitor,
    space: Annotated[str, Form(max_length=20)], path: Annotated[str, Form(max_length=4000)],
    version: Annotated[int, Form()],
) -> Response:  # fmt: skip
    entry = _entry(db, visitor, space, path)
    files.restore_version(db, member_of(visitor), entry, version, request.app.state.node.blobs)
    return _back(db, visitor, space, entry, "version")


@router.post("/share")
async def share(
    db: DB, visitor: MemberVisitor,
    space: Annotated[str, Form(max_length=20)], path: Annotated[str, Form(max_length=4000)],
    with_: Annotated[str, Form(alias="with", max_length=40)],
) -> Response:  # fmt: skip
    member = member_of(visitor)
    entry = _entry(db, visitor, space, path)
    target = None if with_ == "household" else members.find_member(db, with_)
    shares.share(db, member, entry, target)
    return _back(db, visitor, space, entry, "shared")


@router.post("/unshare/{share_id}")
async def unshare(
    db: DB, visitor: MemberVisitor, share_id: RowId,
    space: Annotated[str, Form(max_length=20)], path: Annotated[str, Form(max_length=4000)],
) -> Response:  # fmt: skip
    shares.unshare(db, member_of(visitor), share_id)
    return _back(db, visitor, space, _entry(db, visitor, space, path), "unshared")
