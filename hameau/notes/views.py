"""Notes pages (list, editor with autosave, rendered preview), the notes API, and search."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from hameau.accounts import workspace
from hameau.errors import N_
from hameau.notes import service as notes
from hameau.search import index
from hameau.web.auth import DB, MemberVisitor, member_of
from hameau.web.openapi import RowId, errors

router = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api/notes", tags=["notes"])


class Edit(BaseModel):
    base: int = Field(ge=0, description="The revision the edit was made from.")
    text: str = Field(max_length=notes.MAX_NOTE)


class NoteOut(BaseModel):
    id: int
    title: str
    revision: int
    text: str
    html: str


@router.get("/notes")
async def notes_page(request: Request, db: DB, visitor: MemberVisitor) -> Response:
    context = {"title": N_("Notes"), "notes": notes.mine(db, member_of(visitor))}
    return request.app.state.pages.render(request, "notes.html", context)


@router.post("/notes")
async def new_note(db: DB, visitor: MemberVisitor) -> Response:
    note = notes.create(db, member_of(visitor))
    return RedirectResponse(f"/notes/{note.id}", status_code=303)


@router.get("/notes/{note_id}")
async def editor(request: Request, db: DB, visitor: MemberVisitor, note_id: RowId) -> Response:
    note = notes.get(db, member_of(visitor), note_id)
    text, at = notes.current(db, note)
    if visitor.login is not None:
        title = note.title or request.app.state.pages.gettext(request)("New note")
        workspace.remember(
            db, visitor.login, "notes", request.url.path, item=str(note.id), title=title
        )
    context = {
        "title": note.title or N_("New note"), "note": note, "text": text,
        "revision": at, "html": notes.render(text),
        "saved": request.query_params.get("done") == "saved",
    }  # fmt: skip
    return request.app.state.pages.render(request, "note.html", context)


@router.post("/notes/{note_id}")
async def save_form(
    db: DB, visitor: MemberVisitor, note_id: RowId,
    text: Annotated[str, Form(max_length=notes.MAX_NOTE)],
    base: Annotated[int, Form(ge=0)],
) -> Response:  # fmt: skip
    """Saving without JavaScript: the same merge as the autosave."""
    member = member_of(visitor)
    notes.save(db, member, notes.get(db, member, note_id), base, text.replace("\r\n", "\n"))
    return RedirectResponse(f"/notes/{note_id}?done=saved", status_code=303)


@router.post("/notes/{note_id}/delete")
async def delete(db: DB, visitor: MemberVisitor, note_id: RowId) -> Response:
    member = member_of(visitor)
    notes.delete(db, member, notes.get(db, member, note_id))
    return RedirectResponse("/notes", status_code=303)


@router.get("/search")
async def search_page(
    request: Request, db: DB, visitor: MemberVisitor, q: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    hits = index.search(db, member_of(visitor).id, q) if q.strip() else []
    context = {"title": N_("Search"), "query": q, "hits": hits}
    return request.app.state.pages.render(request, "search.html", context)


@router.post("/search")
async def search_posted(
    request: Request, db: DB, visitor: MemberVisitor, q: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    """A shared device's search: the query is posted, so it never enters the history."""
    return await search_page(request, db, visitor, q)


@api.get("")
async def list_notes(db: DB, visitor: MemberVisitor) -> list[dict[str, object]]:
    return [
        {"id": n.id, "title": n.title, "updated_at": n.updated_at.isoformat()}
        for n in notes.mine(db, member_of(visitor))
    ]


@api.get("/{note_id}", responses=errors(404))
async def read_note(db: DB, visitor: MemberVisitor, note_id: RowId) -> NoteOut:
    note = notes.get(db, member_of(visitor), note_id)
    text, at = notes.current(db, note)
    return NoteOut(
        id=note.id,
        title=note.title,
        revision=at,
        text=text,
        html=notes.render(text),
    )


@api.put("/{note_id}", responses=errors(400, 404))
async def save_note(db: DB, visitor: MemberVisitor, note_id: RowId, edit: Edit) -> NoteOut:
    """Save an edit; answers once it is committed, with the merged text and its revision."""
    member = member_of(visitor)
    note = notes.get(db, member, note_id)
    saved = notes.save(db, member, note, edit.base, edit.text.replace("\r\n", "\n"))
    return NoteOut(
        id=note.id,
        title=note.title,
        revision=saved.revision,
        text=saved.text,
        html=notes.render(saved.text),
    )
