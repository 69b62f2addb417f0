"""Files pages: browse, upload (with a progress bar), download, rename and move, trash,
previous versions and sharing."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hameau.accounts import members, workspace
from hameau.errors import N_, BadRequest, Forbidden, NotFound
from hameau.files import integrity, paths, purge
from hameau.files import service as files
from hameau.files.models import FileEntry
from hameau.web.auth import DB, MemberVisitor, Visitor, member_of
from hameau.web.home import AppInfo, Tile

router = APIRouter(prefix="/files", include_in_schema=False)

APP = AppInfo(
    "files",
    (
        Tile(
            N_("Files"),
            N_("Your files, the household's, and what is shared with you."),
            "/files/mine/",
        ),
        Tile(
            N_("Space on the disk"),
            N_("What each member uses; empty trashes, delete earlier versions."),
            "/admin/space",
            admin_only=True,
        ),
    ),
)

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


def _back(key: str, path: str, done: str) -> RedirectResponse:
    return RedirectResponse(f"{page_url(key, path)}?done={done}", status_code=303)


def _parent(path: str) -> str:
    return "/".join(paths.split(path)[:-1])


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
async def restore(request: Request, db: DB, visitor: MemberVisitor, entry_id: int) -> Response:
    entry = files.restore(db, member_of(visitor), entry_id)
    files.reindex(db, entry, request.app.state.node.blobs)
    key = "household" if entry.owner_id is None else "mine"
    return _back(key, _parent(files.path_of(db, entry)) if entry.parent_id else "", "restored")


@router.post("/trash/{entry_id}/delete")
async def delete_for_good(
    request: Request, db: DB, visitor: MemberVisitor, entry_id: int
) -> Response:
    purge.delete_for_good(db, member_of(visitor), entry_id, request.app.state.node.blobs)
    return RedirectResponse("/files/trash?done=purged", status_code=303)


@router.post("/trash/empty")
async def empty_trash(request: Request, db: DB, visitor: MemberVisitor) -> Response:
    purge.empty_trash(db, member_of(visitor), request.app.state.node.blobs)
    return RedirectResponse("/files/trash?done=emptied", status_code=303)


@router.get("/open/{entry_id}")
async def open_entry(db: DB, visitor: MemberVisitor, entry_id: int) -> Response:
    """From a search result to the file's page, in whichever space the member sees it."""
    member = member_of(visitor)
    entry = db.get(FileEntry, entry_id)
    if entry is None or entry.deleted_at is not None or not files.can_read(db, member, entry):
        raise NotFound("No file or folder at this path.")
    if entry.owner_id in (None, member.id):
        key = "household" if entry.owner_id is None else "mine"
        return RedirectResponse(page_url(key, files.path_of(db, entry)), status_code=303)
    return RedirectResponse(f"/files/shared/{entry.id}", status_code=303)


@router.get("/{key}/{path:path}")
async def browse(request: Request, db: DB, visitor: MemberVisitor, key: str, path: str) -> Response:
    member = member_of(visitor)
    pages = request.app.state.pages
    gettext = pages.gettext(request)
    path = "/".join(paths.split(path))  # "a/b/" and "a/b" are the same folder
    context: dict[str, object] = {
        "key": key,
        "path": path,
        "space_title": SPACE_TITLES.get(key, ""),
        "notice": NOTICES.get(request.query_params.get("done", "")),
        "page_url": page_url,
        "quota": member.quota_bytes,
        "used": files.usage(db, member.id),
    }
    if key == "shared" and not paths.split(path):
        shared = files.shared_with(db, member)
        context.update(
            title=SPACE_TITLES["shared"], entries=shared, crumbs=[],
            damaged_entries=integrity.damaged_ids(request.app.state.node.blobs, shared),
        )  # fmt: skip
        return pages.render(request, "files_folder.html", context)
    where, entry = files.locate(db, member, key, path)
    parts = paths.split(path)
    context["crumbs"] = [("/".join(parts[: i + 1]), name) for i, name in enumerate(parts)]
    context["writable"] = where is not None
    context["title"] = entry.name or SPACE_TITLES.get(key, "")
    if visitor.login is not None:
        title = entry.name or gettext(SPACE_TITLES.get(key, ""))
        workspace.remember(db, visitor.login, "files", request.url.path, item=path, title=title)
    store = request.app.state.node.blobs
    if entry.is_dir:
        entries = files.children(db, entry)
        context.update(entries=entries, damaged_entries=integrity.damaged_ids(store, entries))
        return pages.render(request, "files_folder.html", context)
    versions = files.versions(db, entry)
    context.update(
        entry=entry,
        damaged=integrity.is_damaged(store, entry.blob),
        damaged_versions=integrity.damaged_ids(store, versions),
        versions=versions,
        shares=files.shares_of(db, entry) if entry.owner_id == member.id else [],
        people=[m for m in members.list_members(db, active_only=True) if m.id != member.id],
        parent=_parent(path),
        download_url=f"/api/files/{key}/{quote(path)}",
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
    return _back(key, folder, "uploaded")


@router.post("/folder")
async def new_folder(
    db: DB, visitor: MemberVisitor,
    space: Annotated[str, Form(max_length=20)],
    name: Annotated[str, Form(max_length=300)],
    path: Annotated[str, Form(max_length=4000)] = "",  # empty: the space's root
) -> Response:  # fmt: skip
    where = files.space(member_of(visitor), space)
    files.make_folder(db, member_of(visitor), where, [*paths.split(path), paths.check_name(name)])
    return _back(space, path, "folder")


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
    return _back(target_space, files.path_of(db, moved), "moved")


@router.post("/delete")
async def delete(
    db: DB, visitor: MemberVisitor,
    space: Annotated[str, Form(max_length=20)], path: Annotated[str, Form(max_length=4000)],
) -> Response:  # fmt: skip
    files.trash(db, member_of(visitor), _entry(db, visitor, space, path))
    return _back(space, _parent(path), "deleted")


@router.post("/version")
async def restore_version(
    request: Request, db: DB, visitor: MemberVisitor,
    space: Annotated[str, Form(max_length=20)], path: Annotated[str, Form(max_length=4000)],
    version: Annotated[int, Form()],
) -> Response:  # fmt: skip
    entry = _entry(db, visitor, space, path)
    files.restore_version(db, member_of(visitor), entry, version, request.app.state.node.blobs)
    return _back(space, path, "version")


@router.post("/share")
async def share(
    db: DB, visitor: MemberVisitor,
    space: Annotated[str, Form(max_length=20)], path: Annotated[str, Form(max_length=4000)],
    with_: Annotated[str, Form(alias="with", max_length=40)],
) -> Response:  # fmt: skip
    member = member_of(visitor)
    entry = _entry(db, visitor, space, path)
    target = None if with_ == "household" else members.find_member(db, with_)
    files.share(db, member, entry, target)
    return _back(space, path, "shared")


@router.post("/unshare/{share_id}")
async def unshare(
    db: DB, visitor: MemberVisitor, share_id: int,
    space: Annotated[str, Form(max_length=20)], path: Annotated[str, Form(max_length=4000)],
) -> Response:  # fmt: skip
    files.unshare(db, member_of(visitor), share_id)
    return _back(space, path, "unshared")
