"""顧客検索 and 顧客詳細: find a customer, read its golden record and history, edit, unmerge."""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from mdm_hub.auth.masking import disclose
from mdm_hub.auth.roles import CustomersCurate, CustomersRead, CustomersWrite, Permission
from mdm_hub.console import repository
from mdm_hub.console.customer_edit import (
    EditField,
    control_of,
    edit_fields,
    edit_values,
    patch_from_form,
)
from mdm_hub.console.customer_view import RECORD_FIELDS, diff, show
from mdm_hub.console.hierarchy import hierarchy_context
from mdm_hub.console.i18n import translate
from mdm_hub.console.web import (
    PREFIX,
    form_data,
    go,
    lang_of,
    message,
    principal_of,
    query_string,
    render,
)
from mdm_hub.custom_fields.service import current_configuration
from mdm_hub.customers import repository as customers
from mdm_hub.customers import search as search_filters
from mdm_hub.customers.models import STEWARD_SYSTEM, Customer
from mdm_hub.customers.steward import edit_customer
from mdm_hub.customers.survivorship import get_pointer
from mdm_hub.customers.views import customer_out, source_out
from mdm_hub.db import DbSession
from mdm_hub.errors import FieldProblem, ProblemError, validation_problem
from mdm_hub.idempotency.route import IdempotentRoute
from mdm_hub.matching import merge
from mdm_hub.normalize import (
    NormalizationError,
    as_input,
    normalize_email_address,
    phone_e164,
    validate_corporate_number,
)
from mdm_hub.normalize.base import InvalidValue
from mdm_hub.normalize.postal import clean_postal_code
from mdm_hub.pagination import decode_cursor, encode_cursor
from mdm_hub.privacy import repository as privacy
from mdm_hub.record.schemas import CustomerRecord
from mdm_hub.sources.service import match_payload

router = APIRouter(
    prefix=f"{PREFIX}/customers", include_in_schema=False, route_class=IdempotentRoute
)
PAGE_SIZE = 25
SEARCH_FIELDS = ("name", "phone", "email", "corporate_number", "code", "postal_code")


def _filters(values: dict[str, str]) -> tuple[customers.CustomerFilters, dict[str, str]]:
    """The search form as the service's filters, and the fields that could not be read."""
    filters = customers.CustomerFilters(
        customer_code=values.get("code") or None, name_prefix=values.get("name") or None
    )
    problems: dict[str, str] = {}
    readers: list[tuple[str, Any, str]] = [
        ("phone", phone_e164, "phone"),
        ("email", normalize_email_address, "email"),
        ("corporate_number", validate_corporate_number, "corporate_number"),
        ("postal_code", clean_postal_code, "postal_code"),
    ]
    for field, read, attribute in readers:
        if values.get(field):
            try:
                setattr(filters, attribute, read(values[field]))
            except (NormalizationError, InvalidValue) as exc:
                problems[field] = str(getattr(exc, "message", None) or exc)
    return filters, problems


def _quality_labels(lang: str, filters: customers.CustomerFilters) -> list[str]:
    """The quality conditions in force, as words (the page says what it lists)."""
    labels: list[str] = []

    def say(key: str, **values: Any) -> None:
        labels.append(translate(lang, key, **values))

    def fields(names: Iterable[str]) -> str:
        return "・".join(translate(lang, f"kfield.{name}") for name in names)

    now, today = dt.datetime.now(dt.UTC), dt.datetime.now(search_filters.JAPAN).date()
    if filters.kind:
        say(f"quality.kind.{filters.kind}")
    if filters.missing:
        say("customers.quality.missing", fields=fields(filters.missing))
    if filters.updated_before is not None:
        say("customers.quality.not_updated_days", n=(now - filters.updated_before).days)
    if filters.transaction_before is not None:
        say("customers.quality.no_transaction_days", n=(today - filters.transaction_before).days)
    if filters.finding_rule:
        say(f"qrule.{filters.finding_rule}")
    if filters.registry_status:
        say(f"quality.enrichment.{filters.registry_status}")
    if filters.invoice_status:
        say(f"customers.quality.invoice.{filters.invoice_status}")
    system = filters.source_system
    if not system:
        return labels
    say("customers.quality.source_system", system=system)
    if filters.source_missing:
        say(
            "customers.quality.source_missing", system=system, fields=fields(filters.source_missing)
        )
    if filters.source_updated_before is not None:
        days = (now - filters.source_updated_before).days
        say("customers.quality.source_not_updated_days", system=system, n=days)
    if filters.source_transaction_before is not None:
        days = (today - filters.source_transaction_before).days
        say("customers.quality.source_no_transaction_days", system=system, n=days)
    return labels


@dataclass
class _SearchForm:
    """The search form's fields (SEARCH_FIELDS), as typed."""

    name: Annotated[str | None, Query(max_length=200)] = None
    phone: Annotated[str | None, Query(max_length=60)] = None
    email: Annotated[str | None, Query(max_length=320)] = None
    corporate_number: Annotated[str | None, Query(max_length=40)] = None
    code: Annotated[str | None, Query(max_length=40)] = None
    postal_code: Annotated[str | None, Query(max_length=20)] = None

    def values(self) -> dict[str, str]:
        return {field: (getattr(self, field) or "").strip() for field in SEARCH_FIELDS}


@dataclass
class _QualityLinks:
    """The customers behind a figure of データ品質 (its links), as GET /v1/customers lists them:
    the same filters, one text each (an empty one is not given)."""

    kind: Annotated[str | None, Query(max_length=20)] = None
    missing: Annotated[str | None, Query(max_length=400)] = None
    not_updated_days: Annotated[int | None, Query(ge=0, le=36500)] = None
    no_transaction_days: Annotated[int | None, Query(ge=0, le=36500)] = None
    finding_rule: Annotated[str | None, Query(max_length=100)] = None
    registry_status: Annotated[str | None, Query(max_length=20)] = None
    invoice_status: Annotated[str | None, Query(max_length=20)] = None
    source_system: Annotated[str | None, Query(max_length=100)] = None
    source_missing: Annotated[str | None, Query(max_length=400)] = None
    source_no_transaction_days: Annotated[int | None, Query(ge=0, le=36500)] = None
    source_not_updated_days: Annotated[int | None, Query(ge=0, le=36500)] = None

    def given(self) -> dict[str, Any]:
        """The filters given, in this order (the page keeps them in its form and links)."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None and v != ""}

    def query(self) -> search_filters.QualityQuery:
        given = self.given()
        for listed in ("missing", "source_missing"):  # a list in the API's query
            if listed in given:
                given[listed] = [given[listed]]
        return search_filters.QualityQuery(**given)


@router.get("")
async def search(
    request: Request,
    session: DbSession,
    principal: CustomersRead,
    form: Annotated[_SearchForm, Depends()],
    links: Annotated[_QualityLinks, Depends()],
    cursor: str | None = None,
) -> Response:
    values = form.values()
    quality = links.given()
    searched = any(values.values()) or bool(quality)
    rows: list[Any] = []
    next_query = None
    filters, problems = _filters(values)
    for problem in search_filters.apply(links.query(), filters):
        problems[problem.field] = problem.message
    if searched and not problems:
        after = decode_cursor(cursor, "cursor", {"code": str})["code"] if cursor else None
        found, last = await customers.list_customers(
            session, filters, after_code=after, limit=PAGE_SIZE
        )
        rows = [customer_out(c) for c in found]
        if last:
            next_query = query_string(
                {**values, **quality, "cursor": encode_cursor({"code": last})}
            )
    context = {
        "values": values,
        "quality": quality,
        "quality_labels": _quality_labels(lang_of(request), filters),
        "searched": searched,
        "rows": rows,
        "problems": problems,
        "next_query": next_query,
        "show": show,
    }
    if request.headers.get("hx-target") == "results":
        return render(request, "_customer_results.html", context)
    return render(request, "customers.html", context)


async def _detail_context(
    session: DbSession, request: Request, customer_id: uuid.UUID
) -> dict[str, Any]:
    customer = await customers.get_customer(session, customer_id)
    out = customer_out(customer)
    record = out.model_dump(mode="json")
    sources = [source_out(s) for s in await customers.list_customer_sources(session, customer_id)]
    history: list[dict[str, Any]] = []
    principal = principal_of(request)
    # The audit entries need audit:read, as GET /v1/audit does; the change events are the
    # change feed's (customers:read, as GET /v1/events), which every reader of this page has.
    can_audit = principal is not None and principal.can(Permission.audit_read)
    for entry in await repository.customer_history(session, customer_id) if can_audit else []:
        before = disclose(entry.before, customer_id, what="audit")
        after = disclose(entry.after, customer_id, what="audit")
        history.append(
            {
                "source": "audit",
                "at": entry.occurred_at,
                "entry": entry,
                "changes": diff(before, after),
            }
        )
    for event in await repository.customer_events(session, customer_id):
        history.append({"source": "event", "at": event.occurred_at, "event": event})
    # One timeline, newest first; within one transaction (one time) the event that announced
    # a change is listed above its audit entry.
    history.sort(key=lambda item: (item["at"], item["source"] == "event"), reverse=True)
    duplicates: list[dict[str, Any]] = []
    if customer.status == "active":
        payload = as_input(CustomerRecord.model_validate(customer.record))
        resolution = await match_payload(session, request.app.state.settings, payload)
        duplicates = [
            resolution.candidate_view(cid, score)
            for cid, score in resolution.scored
            if cid != str(customer_id)
        ]
    fields = [
        (pointer, key, show(get_pointer(record, pointer)), out.lineage.get(pointer))
        for pointer, key in RECORD_FIELDS
    ]
    movable = [s for s in sources if s.system != STEWARD_SYSTEM]
    # The tombstone (who erased, when, why, which source ids) is for 管理者, as GET .../erasure.
    can_privacy = principal is not None and principal.can(Permission.privacy_manage)
    erasure = None
    if customer.status == "erased" and can_privacy:
        erasure = await privacy.erasure_of(session, customer_id)
    return {
        "customer": out,
        "fields": [f for f in fields if f[2]],
        "sources": sources,
        "can_unmerge": len(movable) > 1 and customer.status == "active",
        "history": history,
        "can_audit": can_audit,
        "duplicates": duplicates,
        "merged_away": await repository.merged_away(session, customer_id),
        "erasure": erasure,
        "hierarchy": await hierarchy_context(session, customer_id),
        **(await _edit_context(session, customer) if customer.status == "active" else {}),
    }


def _record_as_input(customer: Any) -> dict[str, Any]:
    """The customer's record in the shape a source sends (what a merge patch applies to)."""
    record = as_input(CustomerRecord.model_validate(customer.record))
    return record.model_dump(mode="json", exclude_none=True)


async def _edit_context(
    session: DbSession,
    customer: Any,
    form: dict[str, str] | None = None,
    errors: dict[str, list[str]] | None = None,
    general: list[str] | None = None,
) -> dict[str, Any]:
    """The edit form: its fields, their values (the record's, or what was sent), problems."""
    config = await current_configuration(session)
    fields = edit_fields(customer.kind, config.definitions)
    values = edit_values(fields, _record_as_input(customer))
    if form is not None:
        values = {f.name: form.get(f.name, values[f.name]) for f in fields}
    groups: dict[str, list[EditField]] = {}
    for f in fields:
        groups.setdefault(f.group, []).append(f)
    return {
        "edit_groups": groups,
        "edit": values,
        "edit_errors": errors or {},
        "edit_general": general or [],
        "edit_version": customer.version,
    }


@router.get("/{customer_id}")
async def detail(
    customer_id: uuid.UUID,
    request: Request,
    session: DbSession,
    principal: CustomersRead,
    saved: str | None = None,
    unmerged: Annotated[str | None, Query(max_length=300)] = None,
    to: Annotated[str | None, Query(max_length=40)] = None,
    erased: str | None = None,
) -> Response:
    context = await _detail_context(session, request, customer_id)
    return render(
        request,
        "customer.html",
        {**context, "saved": saved, "unmerged": unmerged, "to": to, "erased": erased},
    )


@router.post("/{customer_id}/edit")
async def edit(
    customer_id: uuid.UUID,
    request: Request,
    session: DbSession,
    actor: CustomersWrite,
) -> Response:
    """The edit form, through the same service as PATCH /v1/customers/{id} with If-Match.

    Every answer has a body (a message, or the form again with its problems), so that a replay
    of the same Idempotency-Key answers exactly what the first request did."""
    form = await form_data(request)
    lang = lang_of(request)
    customer = await customers.get_customer(session, customer_id)
    config = await current_configuration(session)
    fields = edit_fields(customer.kind, config.definitions)
    patch = patch_from_form(fields, form, _record_as_input(customer))
    if_match = f'"{form.get("version", "")}"'
    if not patch:
        return message(request, "info", translate(lang, "customer.unchanged"))
    try:
        async with session.begin_nested():
            edited = await edit_customer(
                session, request.app.state.settings, actor, customer_id, patch, if_match
            )
    except ProblemError as exc:
        if exc.problem_type.slug == "precondition-failed":
            fresh = await repository.reread_customer(session, customer_id)
            return message(
                request, "warning", translate(lang, "customer.stale", version=fresh.version)
            )
        if exc.problem_type.slug == "validation-error":
            fresh = await repository.reread_customer(session, customer_id)
            return _edit_problems(request, await _edit_form(session, fresh, form, exc, fields))
        raise
    if not isinstance(edited, Customer):
        # A protected field (issue 18): nothing changed yet; another 管理者 approves it.
        return message(request, "info", translate(lang, "customer.requested", id=edited.id))
    return go(
        request, translate(lang, "customer.saved"), f"{PREFIX}/customers/{customer_id}?saved=1"
    )


async def _edit_form(
    session: DbSession,
    customer: Any,
    form: dict[str, str],
    problem: ProblemError,
    fields: list[EditField],
) -> dict[str, Any]:
    """The form as sent, each validation problem next to its control (the rest above it)."""
    errors: dict[str, list[str]] = {}
    general: list[str] = []
    names = [f.name for f in fields]
    for item in problem.errors or []:
        control = control_of(item.field, names)
        if control is None:
            general.append(f"{item.field}: {item.message}")
        else:
            errors.setdefault(control, []).append(item.message)
    if not problem.errors:
        general.append(problem.detail or "")
    return {
        "customer": customer_out(customer),
        **(await _edit_context(session, customer, form, errors, general)),
    }


def _edit_problems(request: Request, context: dict[str, Any]) -> Response:
    return render(request, "_customer_edit.html", context)


@router.post("/{customer_id}/unmerge")
async def unmerge(
    customer_id: uuid.UUID,
    request: Request,
    session: DbSession,
    actor: CustomersCurate,
) -> Response:
    """Move one source record out, through the same service as POST .../unmerge."""
    form = await form_data(request)
    system, source_id = form.get("system", ""), form.get("source_id", "")
    if not system or not source_id:
        raise validation_problem(
            [FieldProblem(field="system", code="missing", message="Name the source record")]
        )
    async with session.begin_nested():
        _, target = await merge.unmerge(
            session, request.app.state.settings, actor, customer_id, [(system, source_id)], None
        )
    moved = query_string({"unmerged": f"{system}/{source_id}", "to": target.customer_code})
    return Response(
        status_code=204, headers={"HX-Redirect": f"{PREFIX}/customers/{customer_id}?{moved}"}
    )
