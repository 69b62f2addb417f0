"""One place that turns errors into responses: a page for browsers, JSON for API clients."""

from __future__ import annotations

import errno
import logging
from urllib.parse import urlencode

from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DataError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Match

from hameau.errors import DISK_FULL, N_, BadRequest, HameauError, InsufficientStorage
from hameau.node import reserve

log = logging.getLogger("hameau.web")

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")  # those our routes take
GENERIC = {
    400: N_("This request could not be understood."),
    401: N_("Please log in first."),
    403: N_("You are not allowed to do this."),
    404: N_("This page does not exist."),
    405: N_("This address does not accept this kind of request."),
    413: N_("This request is too large."),
    422: N_("Some fields of this request are missing or invalid."),
    429: N_("Too many attempts; wait a moment and try again."),
    500: N_("Something went wrong on the home server; the error was logged."),
}


def wants_json(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/v1/", "/metrics", "/healthz")):
        return True
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_response(request: Request, error: HameauError) -> Response:
    pages = request.app.state.pages
    message = error.render(pages.gettext(request))
    headers = dict(error.headers)
    if request.url.path.startswith("/v1/"):  # OpenAI's shape, which its clients read
        body = {"error": {"message": message, "type": type(error).__name__, "code": error.status}}
        return JSONResponse(body, status_code=error.status, headers=headers)
    if wants_json(request):
        return JSONResponse(
            {"error": message, "status": error.status}, status_code=error.status, headers=headers
        )
    return pages.render(
        request, "error.html", {"status": error.status, "message": message}, error.status, headers
    )


async def on_hameau_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HameauError)
    if error.status == 401 and not wants_json(request) and "WWW-Authenticate" not in error.headers:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?{urlencode({'next': target})}", status_code=303)
    return error_response(request, error)


def allowed_methods(request: Request) -> str:
    """Every method some route takes at this path (Starlette names only the first route's)."""
    found = [
        method
        for method in METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] == Match.FULL
            for route in request.app.routes
        )
    ]
    return ", ".join(found)


async def on_http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, StarletteHTTPException)
    text = GENERIC.get(error.status_code, GENERIC[400])
    wrapped = HameauError(text, headers=dict(error.headers or {}))
    if error.status_code == 405:
        wrapped.headers["Allow"] = allowed_methods(request) or wrapped.headers.get("Allow", "")
    wrapped.status = error.status_code
    return error_response(request, wrapped)


UNION_TAGS = {"str", "int", "float", "bool", "bytes", "none", "list", "dict"}


def _named(part: object) -> bool:
    """Whether a part of a field's place names it for a person: a field's name (a header's
    has hyphens) or an index, not the branch of a union pydantic tried
    (`list[constrained-str]`, `constrained-str`, `str`)."""
    if not isinstance(part, str):
        return True
    return not ("[" in part or part.startswith("constrained-") or part in UNION_TAGS)


async def on_validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    first = error.errors()[0] if error.errors() else {}
    field = ".".join(str(part) for part in first.get("loc", ())[1:] if _named(part)) or "request"
    wrapped = HameauError("The field '%(field)s' is missing or invalid.", field=field)
    wrapped.status = 422
    return error_response(request, wrapped)


async def on_unexpected(request: Request, error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    wrapped = HameauError(GENERIC[500])
    wrapped.status = 500
    return error_response(request, wrapped)


def storage_full(error: BaseException) -> bool:
    """Whether an error (or what caused it) is a full disk: the content's (ENOSPC, a quota)
    or the database's (SQLite's "database or disk is full", PostgreSQL's disk_full)."""
    seen: BaseException | None = error
    for _depth in range(5):
        if seen is None:
            return False
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "database or disk is full" in str(seen):
            return True
        if getattr(seen, "sqlstate", None) == "53100":  # PostgreSQL's disk_full (psycopg)
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def disk_full() -> InsufficientStorage:
    return InsufficientStorage(DISK_FULL)


async def on_storage_error(request: Request, error: Exception) -> Response:
    """A full disk answers 507 with a sentence (the request's writes were rolled back);
    any other failure of the disk or the database is an unexpected error."""
    if not storage_full(error):
        return await on_unexpected(request, error)
    log.warning("disk full on %s %s: %s", request.method, request.url.path, error)
    if "database or disk is full" in str(error):  # let the next ones log in and free space
        reserve.release_if_low(request.app.state.node.layout.root)
    return error_response(request, disk_full())


async def on_data_error(request: Request, error: Exception) -> Response:
    """PostgreSQL refuses a NUL character in any text, even in a query (SQLite keeps it):
    the request is refused, not failed."""
    if "NUL (0x00)" not in str(error):
        return await on_unexpected(request, error)
    refused = BadRequest("This request holds a NUL character, which cannot be stored.")
    return error_response(request, refused)


HANDLERS = {
    HameauError: on_hameau_error,
    StarletteHTTPException: on_http_error,
    RequestValidationError: on_validation_error,
    OSError: on_storage_error,
    OperationalError: on_storage_error,
    DataError: on_data_error,
    Exception: on_unexpected,
}
