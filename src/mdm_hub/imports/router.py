"""HTTP for bulk imports (jobs) and the batch endpoint. Handlers parse, call, shape."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from fastapi import File, Form, Path, Request, Response, UploadFile, status
from fastapi.responses import StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.auth.roles import CustomersWrite
from mdm_hub.context import settings_of
from mdm_hub.customers.schemas import MatchDecision
from mdm_hub.customers.views import customer_out, source_out
from mdm_hub.db import DbSession, attributes
from mdm_hub.errors import (
    FieldProblem,
    Problem,
    ProblemError,
    problem_responses,
    validation_problem,
)
from mdm_hub.governance.service import held_for_approval
from mdm_hub.idempotency.route import api_router
from mdm_hub.imports import service, writer
from mdm_hub.imports.mapping import MappingFileError, parse_mapping
from mdm_hub.imports.models import ImportJob
from mdm_hub.imports.schemas import (
    BatchIn,
    BatchItemResult,
    BatchOut,
    ImportCounts,
    ImportJobOut,
    RefusedWaitingLink,
)
from mdm_hub.record import CustomerIn
from mdm_hub.sources.router import SystemPath

# POSTs honour Idempotency-Key; an upload sent with one is read whole to fingerprint it.
router = api_router(tags=["imports"])
batch_router = api_router(tags=["sources"])

JobId = Annotated[uuid.UUID, Path(description="The import job's id")]


def job_out(job: ImportJob) -> ImportJobOut:
    rate = eta = None
    if job.started_at is not None and job.rows_done:
        end = job.finished_at or dt.datetime.now(dt.UTC)
        elapsed = (end - job.started_at).total_seconds()
        if elapsed > 0:
            rate = round(job.rows_done / elapsed, 1)
            if job.rows_total is not None and job.status == "running":
                eta = round(max(job.rows_total - job.rows_done, 0) / rate, 1)
    return ImportJobOut(
        **attributes(
            job, "id", "system", "filename", "status", "dry_run", "rows_total", "rows_done",
            "detected", "error", "created_by", "created_at", "started_at", "finished_at",
        ),
        rows_per_second=rate,
        eta_seconds=eta,
        counts=ImportCounts.model_validate(job.counts),
    )  # fmt: skip


@router.post("/imports", status_code=status.HTTP_202_ACCEPTED)
async def create_import(
    file: Annotated[UploadFile, File(description="CSV, TSV (UTF-8, UTF-8 BOM or CP932) or .xlsx")],
    system: Annotated[str, Form(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$", examples=["crm"])],
    request: Request,
    response: Response,
    session: DbSession,
    actor: CustomersWrite,
    mapping: Annotated[
        UploadFile | None, File(description="Mapping file (YAML or JSON); kept for the system")
    ] = None,
    encoding: Annotated[str | None, Form(description="Overrides detection, e.g. cp932")] = None,
    sheet: Annotated[str | None, Form(description="Excel sheet name or number")] = None,
    kind: Annotated[Literal["corporation", "person"] | None, Form()] = None,
    dry_run: Annotated[bool, Form(description="Preview the decisions; write nothing")] = False,
    summary_event: Annotated[
        bool,
        Form(
            description="Send one `import.completed` webhook event when the import is done, "
            "instead of one per customer change (an initial load); the change feed keeps "
            "every change"
        ),
    ] = False,
) -> ImportJobOut:
    """Start an import: the file is stored and a worker reads and writes it (202).

    Follow it with `GET /v1/imports/{id}`; every row's outcome is in `/report`.
    """
    parsed = None
    if mapping is not None:
        try:
            parsed = parse_mapping((await mapping.read()).decode("utf-8-sig"))
        except (MappingFileError, UnicodeDecodeError) as exc:
            raise validation_problem(
                [FieldProblem(field="mapping", code="invalid_mapping", message=str(exc))]
            ) from exc
    options = service.ImportOptions(
        system=system,
        filename=file.filename or "upload.csv",
        encoding=encoding or None,
        sheet=sheet or None,
        kind=kind,
        mapping=parsed,
        dry_run=dry_run,
        summary_event=summary_event,
    )
    if options.encoding:
        import codecs

        try:
            codecs.lookup(options.encoding)
        except LookupError as exc:
            raise validation_problem(
                [FieldProblem(field="encoding", code="unknown_encoding", message=str(exc))]
            ) from exc
    job = await service.create_job(session, actor, options, file.file)
    response.headers["Location"] = f"/v1/imports/{job.id}"
    return job_out(job)


@router.get("/imports/{job_id}")
async def get_import(job_id: JobId, session: DbSession, principal: CustomersWrite) -> ImportJobOut:
    """Status, rows total and done, rate, ETA and counts by outcome."""
    return job_out(await service.get_job(session, job_id))


@router.get(
    "/imports/{job_id}/report",
    responses={
        200: {"content": {"text/csv": {}}, "description": "line,source_id,outcome,..."},
    },
    response_class=StreamingResponse,
)
async def import_report(
    job_id: JobId, session: DbSession, principal: CustomersWrite
) -> StreamingResponse:
    """Every row: line, source id, outcome, customer code, problem codes (CSV, UTF-8 with BOM)."""
    return await report_response(session, job_id)


async def report_response(session: AsyncSession, job_id: uuid.UUID) -> StreamingResponse:
    """The job's report as a CSV download (the API's and the console's)."""
    await service.get_job(session, job_id)
    rows = [chunk async for chunk in service.report_csv(session, job_id)]
    return StreamingResponse(
        iter(rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{job_id}.csv"'},
    )


@router.post("/imports/{job_id}/cancel", responses=problem_responses(409))
async def cancel_import(
    job_id: JobId, session: DbSession, principal: CustomersWrite
) -> ImportJobOut:
    """Stop the job: no new batch starts; rows already written stay."""
    return job_out(await service.cancel_job(session, job_id))


@batch_router.post("/sources/{system}/records/batch")
async def put_source_records(
    system: SystemPath,
    body: BatchIn,
    request: Request,
    session: DbSession,
    actor: CustomersWrite,
) -> BatchOut:
    """Up to 1,000 records at once, in order: each is written and answered as its own PUT
    (status, customer, decision, or problem); one bad item does not fail the others."""
    settings = settings_of(request)
    answers: list[BatchItemResult | None] = [None] * len(body.items)
    valid: list[tuple[int, str, CustomerIn]] = []
    for index, item in enumerate(body.items):
        if not 1 <= len(item.source_id) <= 200:
            problem: ProblemError | None = validation_problem(
                [
                    FieldProblem(
                        field=f"/items/{index}/source_id",
                        code="string_length",
                        message="1 to 200 characters",
                    )
                ]
            )
            answers[index] = _problem_item(item.source_id, problem)
            continue
        validated = writer.validate_payload(item.record)
        if isinstance(validated, list):
            answers[index] = _problem_item(item.source_id, validation_problem(validated))
            continue
        valid.append((index, item.source_id, validated))
    refused: list[writer.Refusal] = []
    written = await writer.write_rows(
        session,
        settings,
        actor,
        system,
        [(source_id, record) for _, source_id, record in valid],
        refused=refused,
    )
    own, others = writer.refusals_by_item(refused, system, [i for _, i, _ in valid])
    last = {source_id: index for index, source_id, _ in valid}  # a link is its last item's
    for (index, source_id, _), write in zip(valid, written, strict=True):
        if write.outcome == "held":
            answers[index] = BatchItemResult(source_id=source_id, status=202, held=write.held)
        elif write.problem is not None or write.customer is None or write.source is None:
            answers[index] = _problem_item(source_id, write.problem)
        else:
            answers[index] = BatchItemResult(
                source_id=source_id,
                status=201 if write.created else 200,
                customer=customer_out(write.customer),
                source_record=source_out(write.source),
                decision=MatchDecision.model_validate(write.source.decision),
                held_for_approval=held_for_approval(write.change_request),
                refused_links=own.get(source_id, []) if last[source_id] == index else [],
            )
    return BatchOut(
        items=[a for a in answers if a is not None],
        refused_waiting_links=[
            RefusedWaitingLink(
                system=r.system, source_id=r.source_id, errors=r.problem.errors or []
            )
            for r in others
        ],
    )


def _problem_item(source_id: str, problem: ProblemError | None) -> BatchItemResult:
    assert problem is not None
    kind = problem.problem_type
    return BatchItemResult(
        source_id=source_id,
        status=kind.status,
        problem=Problem(
            type=kind.uri,
            title=kind.title,
            status=kind.status,
            detail=problem.detail,
            errors=problem.errors,
        ),
    )
