"""取込: upload a customer list, check the detected mapping and a preview (a dry run), start the
import, follow it, download its report; and the sample data of an empty hub.

Through the imports service, as ``/v1/imports`` (not over HTTP): an upload becomes a dry-run
job that keeps its file (the preview); a new preview with a mended mapping, or the import
itself, is a new job on that file (``service.rerun_job``). The hub's import runner does the
work, as for the API.
"""

from __future__ import annotations

import codecs
import re
import tempfile
import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import UploadFile

from mdm_hub.auth.roles import CustomersWrite
from mdm_hub.console import repository
from mdm_hub.console.i18n import translate
from mdm_hub.console.web import PREFIX, form_data, go, lang_of, message, render
from mdm_hub.custom_fields.service import current_configuration
from mdm_hub.db import DbSession
from mdm_hub.errors import ProblemError
from mdm_hub.idempotency.route import IdempotentRoute
from mdm_hub.imports import service
from mdm_hub.imports.mapping import (
    CUSTOM_PREFIX,
    IGNORE,
    LABELS,
    RELATION_POINTERS,
    TARGETS,
    MappingFile,
)
from mdm_hub.imports.router import job_out, report_response
from mdm_hub.imports.sample import write_sample

router = APIRouter(prefix=f"{PREFIX}/imports", include_in_schema=False, route_class=IdempotentRoute)
# The upload (multipart) is streamed by the body guard up to MDM_IMPORT_MAX_FILE_BYTES (app.py).
UPLOAD_PATH = f"{PREFIX}/imports"
SYSTEM = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,62}$")
KINDS = ("corporation", "person")
FINISHED = ("done", "failed", "cancelled")
SAMPLE_SIZE = 5000


@router.get("")
async def imports(request: Request, session: DbSession, principal: CustomersWrite) -> Response:
    jobs = await repository.recent_imports(session)
    return render(
        request,
        "imports.html",
        {"jobs": [job_out(j) for j in jobs], "systems": await repository.source_systems(session)},
    )


@router.post("")
async def upload(request: Request, session: DbSession, actor: CustomersWrite) -> Response:
    """A file in: stored as a preview job (a dry run that keeps the file)."""
    lang = lang_of(request)
    form = await request.form()
    upload = form.get("file")
    system = str(form.get("system") or "").strip()
    kind = str(form.get("kind") or "") or None
    encoding = str(form.get("encoding") or "").strip() or None
    sheet = str(form.get("sheet") or "").strip() or None
    values = {"system": system, "kind": kind, "encoding": encoding, "sheet": sheet}
    problem = None
    if not isinstance(upload, UploadFile) or not upload.filename:
        problem = "file"
    elif not SYSTEM.fullmatch(system):
        problem = "system"
    elif kind is not None and kind not in KINDS:
        problem = "kind"
    elif encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            problem = "encoding"
    if problem is not None or not isinstance(upload, UploadFile) or not upload.filename:
        return await _upload_problem(request, session, problem or "file", values)
    options = service.ImportOptions(
        system=system,
        filename=Path(upload.filename).name,
        encoding=encoding,
        sheet=sheet,
        kind=kind,
        dry_run=True,
        keep_file=True,
    )
    try:
        async with session.begin_nested():
            job = await service.create_job(session, actor, options, upload.file)
    except ProblemError:
        return await _upload_problem(request, session, "empty", values)
    return go(request, translate(lang, "imports.uploaded"), f"{PREFIX}/imports/{job.id}")


async def _upload_problem(
    request: Request, session: DbSession, problem: str, values: dict[str, str | None]
) -> Response:
    """The upload form again (with a new Idempotency-Key), the problem at its field."""
    context = {
        "upload_problem": problem,
        "upload_values": values,
        "systems": await repository.source_systems(session),
    }
    return render(request, "_import_upload.html", context)


async def _job_context(session: DbSession, job_id: uuid.UUID) -> dict[str, Any]:
    """The job's panel: its progress, the columns as mapped, what may be done next."""
    job = await service.get_job(session, job_id)
    out = job_out(job)
    detected = job.detected
    if detected is None and job.status == "failed" and job.options.get("keep_file"):
        detected = await service.detect_header(session, job) or None
    config = await current_configuration(session)
    targets = [
        *sorted(TARGETS - RELATION_POINTERS.keys()),
        *(f"{CUSTOM_PREFIX}{d.key}" for d in config.definitions),
    ]
    columns = list((detected or {}).get("columns", []))
    mapped = {c["header"] for c in columns}
    # Columns nobody recognized are listed too (not imported), so they can be mapped.
    for header in (detected or {}).get("unknown_columns", []):
        if header not in mapped:
            columns.append({"header": header, "field": "", "by": "unknown"})
    can_rerun = (
        job.dry_run
        and bool(job.options.get("keep_file"))
        and job.status in ("done", "failed")
        and await service.has_file(session, job.id)
    )
    labels = {f"{CUSTOM_PREFIX}{d.key}": d.label for d in config.definitions}

    def target_label(target: str) -> str:
        """A field as the mapping table names it: its usual Japanese header and its key."""
        if target in labels:
            return f"{labels[target]} ({target})"
        return f"{LABELS[target][0]} ({target})" if target in LABELS else target

    return {
        "job": out,
        "target_label": target_label,
        "finished": job.status in FINISHED,
        "detected": detected,
        "columns": columns,
        "targets": targets,
        "relation_targets": [t for t in LABELS if t in RELATION_POINTERS],  # in LABELS' order
        "can_rerun": can_rerun,
        "file_gone": bool(job.options.get("keep_file")) and job.dry_run and not can_rerun,
        "kind": job.options.get("kind") or "",
        "total": sum(out.counts.model_dump().values()),
    }


@router.get("/{job_id}")
async def job_page(
    job_id: uuid.UUID, request: Request, session: DbSession, principal: CustomersWrite
) -> Response:
    return render(request, "import_job.html", await _job_context(session, job_id))


@router.get("/{job_id}/status")
async def job_status(
    job_id: uuid.UUID, request: Request, session: DbSession, principal: CustomersWrite
) -> Response:
    """The job's panel alone: htmx polls it while the job runs (it stops once finished)."""
    return render(request, "_import_job.html", await _job_context(session, job_id))


@router.post("/{job_id}/rerun")
async def rerun(
    job_id: uuid.UUID,
    request: Request,
    session: DbSession,
    actor: CustomersWrite,
) -> Response:
    """The preview's file again, with the mapping as edited: a new preview, or the import."""
    lang = lang_of(request)
    form = await form_data(request)
    start = form.get("action") == "start"
    kind = form.get("kind") or None
    if kind is not None and kind not in KINDS:
        return message(request, "error", translate(lang, "imports.problem.kind"))
    columns: dict[str, str] = {}
    config = await current_configuration(session)
    allowed = TARGETS | {f"{CUSTOM_PREFIX}{d.key}" for d in config.definitions}
    for index in range(1, 501):
        header = form.get(f"header_{index}")
        if header is None:
            break
        target = form.get(f"field_{index}", "")
        if target and target not in allowed:
            return message(request, "error", translate(lang, "imports.problem.field", h=header))
        columns[header] = target or IGNORE
    mapping = MappingFile(columns=columns, kind=kind) if columns else None
    try:
        async with session.begin_nested():
            job = await service.rerun_job(
                session, actor, job_id, mapping=mapping, kind=kind, dry_run=not start
            )
    except ProblemError as exc:
        if exc.problem_type.slug == "conflict":
            return message(request, "warning", translate(lang, "imports.problem.rerun"))
        raise
    done = "imports.started" if start else "imports.uploaded"
    return go(request, translate(lang, done), f"{PREFIX}/imports/{job.id}")


@router.post("/{job_id}/cancel")
async def cancel(
    job_id: uuid.UUID, request: Request, session: DbSession, principal: CustomersWrite
) -> Response:
    lang = lang_of(request)
    try:
        async with session.begin_nested():
            await service.cancel_job(session, job_id)
    except ProblemError as exc:
        if exc.problem_type.slug == "conflict":
            return message(request, "warning", translate(lang, "imports.problem.finished"))
        raise
    return go(request, translate(lang, "imports.cancelled"), f"{PREFIX}/imports/{job_id}")


@router.get("/{job_id}/report")
async def report(
    job_id: uuid.UUID, session: DbSession, principal: CustomersWrite
) -> StreamingResponse:
    """Every row's outcome, as ``GET /v1/imports/{id}/report`` (CSV, UTF-8 with BOM)."""
    return await report_response(session, job_id)


@router.post("/sample")
async def sample(request: Request, session: DbSession, actor: CustomersWrite) -> Response:
    """The generated sample (about 5,000 customers from two systems, as ``mdm-hub import
    --sample``), imported through the same jobs; offered on the home page of an empty hub."""
    lang = lang_of(request)
    if not await repository.hub_is_empty(session):
        return message(request, "warning", translate(lang, "imports.sample.not_empty"))
    with tempfile.TemporaryDirectory(prefix="mdm-sample-") as folder:
        for path, system in write_sample(Path(folder), customers=SAMPLE_SIZE):
            options = service.ImportOptions(system=system, filename=path.name)
            with path.open("rb") as stream:
                await service.create_job(session, actor, options, stream)
    return go(request, translate(lang, "imports.sample.started"), f"{PREFIX}/imports")
