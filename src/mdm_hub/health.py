"""Liveness and readiness probes, and the problem-type documents."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from mdm_hub.auth.roles import Public
from mdm_hub.db import schema_revision
from mdm_hub.errors import PROBLEM_TYPES, ProblemError, problem_responses
from mdm_hub.migrate import migration_head, schema_is_behind
from mdm_hub.privacy.fields import load_pending_keyring

router = APIRouter(tags=["operations"], dependencies=[Public])  # probes: no token
NOT_FOUND = problem_responses(404)


class Health(BaseModel):
    status: str
    detail: str | None = None


@router.get("/healthz", response_model=Health, response_model_exclude_none=True)
async def healthz() -> Health:
    """The process is up (liveness)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(request: Request) -> JSONResponse:
    """The database answers and its schema is at the migration head (readiness)."""
    state = request.app.state
    if getattr(state, "shutting_down", False):
        return JSONResponse({"status": "unavailable", "detail": "shutting down"}, status_code=503)
    try:
        async with state.engine.connect() as conn:
            current = await schema_revision(conn)
    except Exception as exc:  # any database failure means "not ready"
        detail = f"database unavailable: {type(exc).__name__}"
        return JSONResponse({"status": "unavailable", "detail": detail}, status_code=503)
    if schema_is_behind(current):
        detail = f"schema at {current}, code expects {migration_head()}: run mdm-hub migrate"
        return JSONResponse({"status": "unavailable", "detail": detail}, status_code=503)
    try:  # the keyring, when the database could not give it at start-up
        await load_pending_keyring()
    except Exception as exc:  # a wrong key included: not ready, and say why
        detail = f"field encryption keys not loaded: {exc}"
        return JSONResponse({"status": "unavailable", "detail": detail}, status_code=503)
    if current != migration_head():
        return JSONResponse({"status": "ok", "detail": f"schema at newer revision {current}"})
    return JSONResponse({"status": "ok"})


class ProblemTypeDoc(BaseModel):
    type: str
    status: int
    title: str
    description: str


@router.get("/problems/{slug}", response_model=ProblemTypeDoc, responses=NOT_FOUND)
async def problem_type(slug: str) -> ProblemTypeDoc:
    """What a problem `type` URI means; 404 for a slug the hub does not use."""
    problem = PROBLEM_TYPES.get(slug)
    if problem is None:
        raise ProblemError("not-found", f"No problem type {slug!r}")
    return ProblemTypeDoc(
        type=problem.uri,
        status=problem.status,
        title=problem.title,
        description=problem.description,
    )
