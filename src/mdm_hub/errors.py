"""RFC 9457 problem+json for every error the hub answers with.

Each problem type has a stable relative URI (``/problems/<slug>``) that the hub itself serves,
so a client can look up what a type means.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, Field
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

T = TypeVar("T")

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"


@dataclass(frozen=True)
class ProblemType:
    slug: str
    status: int
    title: str
    description: str

    @property
    def uri(self) -> str:
        return f"/problems/{self.slug}"


def _problem(slug: str, status: int, description: str, title: str = "") -> ProblemType:
    """A problem type whose title is its slug as words ("not-found": "Not found") unless given."""
    return ProblemType(slug, status, title or slug.replace("-", " ").capitalize(), description)


_UNAUTHORIZED = (
    "No valid access token: send `Authorization: Bearer <token>` from the configured issuer (see "
    "WWW-Authenticate), or sign in to the console."
)
_FORBIDDEN = (
    "The token is valid but its roles or scopes do not grant the permission this call needs (or "
    "a cookie-authenticated call lacks its X-CSRF-Token)."
)
_KEY_REUSED = (
    "The Idempotency-Key was already used for a different request (another body or path); send "
    "a new key for a new request."
)
PROBLEM_TYPES: dict[str, ProblemType] = {
    p.slug: p
    for p in [
        _problem(
            "validation-error", 422, "A field failed validation; see errors.", "Invalid input"
        ),
        _problem("malformed-json", 400, "The body is not valid JSON.", "Malformed JSON"),
        _problem("bad-request", 400, "The request cannot be understood."),
        _problem("unauthorized", 401, _UNAUTHORIZED),
        _problem("forbidden", 403, _FORBIDDEN),
        _problem("not-found", 404, "No such resource."),
        _problem("method-not-allowed", 405, "Use another method."),
        _problem("conflict", 409, "The request conflicts with the stored state."),
        _problem(
            "precondition-failed",
            412,
            "If-Match does not match the current version (ETag); fetch the resource again.",
        ),
        _problem(
            "precondition-required",
            428,
            "Updates need an If-Match header with the ETag of the version being changed.",
        ),
        _problem("idempotency-key-reused", 422, _KEY_REUSED, "Idempotency-Key reused"),
        _problem("payload-too-large", 413, "The body exceeds the limit."),
        _problem("unsupported-media-type", 415, "Send the body as application/json."),
        _problem("not-acceptable", 406, "The requested media type is not served."),
        _problem("service-unavailable", 503, "Try again later."),
        _problem("internal-error", 500, "An unexpected error; it was logged."),
    ]
}


class FieldProblem(BaseModel):
    field: str = Field(description="JSON pointer into the body, or the parameter name")
    location: str = Field(default="body", description="body, query, path or header")
    code: str = Field(description="Stable machine-readable code", examples=["string_too_long"])
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(examples=["/problems/validation-error"])
    title: str = Field(examples=["Invalid input"])
    status: int = Field(examples=[422])
    detail: str | None = None
    instance: str | None = None
    errors: list[FieldProblem] | None = None


class ProblemError(Exception):
    """Raise from services and routers; the handler turns it into problem+json."""

    def __init__(
        self,
        slug: str,
        detail: str | None = None,
        *,
        errors: list[FieldProblem] | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or slug)
        self.problem_type = PROBLEM_TYPES[slug]
        self.detail = detail
        self.errors = errors
        self.headers = headers
        self.extra = extra or {}


def found(value: T | None, detail: str) -> T:
    """``value``; 404 (``not-found``, with ``detail``) when there is none."""
    if value is None:
        raise ProblemError("not-found", detail)
    return value


def validation_problem(errors: list[FieldProblem], detail: str | None = None) -> ProblemError:
    return ProblemError(
        "validation-error",
        detail or f"{len(errors)} field(s) failed validation",
        errors=errors,
    )


def problem_response(
    problem_type: ProblemType,
    *,
    detail: str | None = None,
    instance: str | None = None,
    errors: list[FieldProblem] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    body = Problem(
        type=problem_type.uri,
        title=problem_type.title,
        status=problem_type.status,
        detail=detail,
        instance=instance,
        errors=errors,
    ).model_dump(exclude_none=True)
    body.update(extra or {})
    return JSONResponse(
        body, status_code=problem_type.status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def json_pointer(parts: tuple[Any, ...] | list[Any]) -> str:
    escaped = (str(p).replace("~", "~0").replace("/", "~1") for p in parts)
    return "/" + "/".join(escaped) if parts else ""


def _field_problems(exc: RequestValidationError) -> list[FieldProblem]:
    problems = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        location = (
            str(loc.pop(0)) if loc and loc[0] in ("body", "query", "path", "header") else "body"
        )
        # pydantic adds the union member's tag (e.g. "int", "literal['end_of_month']") to loc.
        loc = [p for p in loc if not (isinstance(p, str) and ("[" in p or p in ("int", "str")))]
        field = json_pointer(loc) if location == "body" else ".".join(str(p) for p in loc)
        code = err["type"]
        # A length limit on a text type with its own validator (types.SafeStr) is checked by
        # pydantic's generic constraint: name it as for any other string.
        if code in ("too_short", "too_long") and isinstance(err.get("input"), str):
            code = f"string_{code}"
        problems.append(FieldProblem(field=field, location=location, code=code, message=err["msg"]))
    return problems


async def _handle_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.problem_type,
        detail=exc.detail,
        instance=request.url.path,
        errors=exc.errors,
        headers=exc.headers,
        extra=exc.extra,
    )


async def _handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = _field_problems(exc)
    if any(p.code == "json_invalid" for p in problems):
        return problem_response(
            PROBLEM_TYPES["malformed-json"],
            detail="; ".join(p.message for p in problems if p.code == "json_invalid"),
            instance=request.url.path,
        )
    return problem_response(
        PROBLEM_TYPES["validation-error"],
        detail=f"{len(problems)} field(s) failed validation",
        instance=request.url.path,
        errors=problems,
    )


_STATUS_SLUGS = {p.status: p.slug for p in PROBLEM_TYPES.values()}


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette names only the first route's)."""
    path = request.scope.get("path", "")
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.path_regex.match(path):
            methods |= route.methods or set()
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


async def _handle_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    slug = _STATUS_SLUGS.get(exc.status_code, "bad-request")
    detail = exc.detail if isinstance(exc.detail, str) else None
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": allowed_methods(request)}
    return problem_response(
        PROBLEM_TYPES[slug], detail=detail, instance=request.url.path, headers=headers
    )


# PostgreSQL errors that mean "try again": deadlock detected, serialization failure, statement
# timeout / cancel, lock not available. The transaction was rolled back; nothing was written.
_RETRYABLE_SQLSTATES = {"40P01", "40001", "57014", "55P03"}


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error (through SQLAlchemy's and the driver's wrappers)."""
    for candidate in (exc, getattr(exc, "orig", None), getattr(exc, "__cause__", None)):
        state = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if state:
            return str(state)
    orig = getattr(exc, "orig", None)
    return sqlstate(orig.__cause__) if orig is not None and orig.__cause__ else None


async def _handle_database(request: Request, exc: Exception) -> JSONResponse:
    if getattr(exc, "connection_invalidated", False):
        # The pool has dropped the connection; the transaction never committed.
        return _retry_later(request, "database connection lost", "The database connection was lost")
    if sqlstate(exc) in _RETRYABLE_SQLSTATES:
        return _retry_later(
            request, "retryable database conflict", "A concurrent change got in the way"
        )
    return await _handle_unexpected(request, exc)


def _retry_later(request: Request, log_message: str, what: str) -> JSONResponse:
    logger.warning(log_message, extra={"path": request.url.path})
    return problem_response(
        PROBLEM_TYPES["service-unavailable"],
        detail=f"{what}; nothing was written. Retry the request.",
        instance=request.url.path,
        headers={"Retry-After": "1"},
    )


async def _handle_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error", extra={"path": request.url.path})
    return problem_response(PROBLEM_TYPES["internal-error"], instance=request.url.path)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _handle_problem)
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    app.add_exception_handler(DBAPIError, _handle_database)
    app.add_exception_handler(Exception, _handle_unexpected)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses``: answers in problem+json with these statuses."""
    return {status: {"model": Problem, "content": {PROBLEM_MEDIA_TYPE: {}}} for status in statuses}


# Every API operation's (``idempotency.route.api_router``); a route adds its own (409, 412, …).
PROBLEM_RESPONSES = problem_responses(400, 401, 403, 404, 413, 415, 422)
