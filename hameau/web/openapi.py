"""The OpenAPI description of the JSON API, saying what the routes really answer.

Routes list their own refusals with ``responses=errors(404, 409)``; `describe` adds what every
route may answer (401 without credentials, 413 for a body past the limit, 400 for a body that
is not JSON, 422 in the node's error shape rather than FastAPI's) and the bearer scheme. schemathesis checks the result
against a served node (tests/e2e/test_schemathesis.py).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import FastAPI, Path
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field
from starlette.responses import Response

ERROR = "#/components/schemas/Error"
OPENAI_ERROR = "#/components/schemas/OpenAIError"
BINARY = {"type": "string", "format": "binary"}
WHY = {
    400: "The request is refused, with one sentence saying why.",
    401: "No valid credentials: an app password as a bearer token, or a logged-in browser.",
    403: "The member may not do this.",
    404: "Nothing of the member's at this address.",
    408: "The request's body stopped coming before its end; nothing of it was kept.",
    409: "It clashes with what is there.",
    413: "The request body is larger than the node accepts.",
    416: "The range asked for is outside the file.",
    422: "A field is missing or invalid; the sentence names it.",
    429: "Too many failed attempts; Retry-After says when to try again.",
    502: "The household's AI server failed.",
    503: "Unavailable for now (a model not installed or busy, a store not mounted).",
    507: "Not enough room: the quota or the disk is full.",
}
# Database row ids: SQLite integers are 64-bit; a larger number is invalid, not a crash.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1, examples=[1])]


class Error(BaseModel):
    """What every refusal of the JSON API carries."""

    error: str = Field(description="One sentence, in the reader's language.")
    status: int


class OpenAIErrorBody(BaseModel):
    message: str
    type: str
    code: int


class OpenAIError(BaseModel):
    """Refusals under /v1, in OpenAI's shape, which its clients read."""

    error: OpenAIErrorBody


class Binary(Response):
    """Raw bytes (a file's content, a stream of contents)."""

    media_type = "application/octet-stream"


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route that may refuse with these statuses."""
    return {code: _error(code, ERROR) for code in codes}


def openai_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: _error(code, OPENAI_ERROR) for code in codes}


def binary(description: str, **extra: Any) -> dict[str, Any]:
    """A response (or request body) of raw bytes, of the given media type ranges."""
    return {
        "description": description,
        "content": {"application/octet-stream": {"schema": BINARY}},
        **extra,
    }


def _error(code: int, schema: str) -> dict[str, Any]:
    return {"description": WHY[code], "content": {"application/json": {"schema": {"$ref": schema}}}}


def describe(app: FastAPI) -> dict[str, Any]:
    """The description served at /api/openapi.json (built once)."""
    if app.openapi_schema:
        return app.openapi_schema
    spec = get_openapi(title=app.title, version=app.version, routes=app.routes)
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    for model in (Error, OpenAIError, OpenAIErrorBody):
        schemas[model.__name__] = model.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    spec["components"]["securitySchemes"] = {
        "appPassword": {"type": "http", "scheme": "bearer", "description": "An app password."}
    }
    spec["security"] = [{"appPassword": []}]
    for path, operations in spec["paths"].items():
        shape = OPENAI_ERROR if path.startswith("/v1/") else ERROR
        for operation in operations.values():
            answers = operation.setdefault("responses", {})
            answers.setdefault("401", _error(401, shape))
            body = operation.get("requestBody", {}).get("content", {})
            if body:
                answers.setdefault("413", _error(413, shape))
            if "application/json" in body:  # a body that is not JSON at all
                answers.setdefault("400", _error(400, shape))
            if "422" in answers:  # the node's shape, not FastAPI's
                answers["422"] = _error(422, shape)
    app.openapi_schema = spec
    return spec
