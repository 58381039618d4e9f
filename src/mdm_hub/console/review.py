"""確認待ち: the review queue and the pair page, where a steward merges, separates or skips."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from mdm_hub.audit.log import audit_record
from mdm_hub.audit.repository import record_audit
from mdm_hub.auth.roles import CustomersCurate
from mdm_hub.console import repository
from mdm_hub.console.customer_view import comparison_rows, group_rows, waterfall
from mdm_hub.console.i18n import translate
from mdm_hub.console.web import PREFIX, form_data, go, jst, lang_of, message, query_string, render
from mdm_hub.customers import repository as customers
from mdm_hub.customers.views import customer_out, source_out
from mdm_hub.db import DbSession
from mdm_hub.errors import ProblemError
from mdm_hub.idempotency.route import IdempotentRoute
from mdm_hub.matching import merge
from mdm_hub.matching.models import MatchCandidate
from mdm_hub.pagination import decode_cursor, encode_cursor

router = APIRouter(prefix=f"{PREFIX}/review", include_in_schema=False, route_class=IdempotentRoute)
PAGE_SIZE = 50
DECISIONS = {"merge", "distinct"}


@router.get("")
async def queue(
    request: Request,
    session: DbSession,
    principal: CustomersCurate,
    kind: Annotated[str | None, Query(pattern="^(|corporation|person)$")] = None,
    source: Annotated[str | None, Query(max_length=63)] = None,
    band: Annotated[str | None, Query(pattern="^(|high|mid|low)$")] = None,
    age: Annotated[str | None, Query(pattern="^(|day|week)$")] = None,
    cursor: str | None = None,
) -> Response:
    filters = repository.QueueFilters(kind=kind, source=source, band=band, age=age)
    after = None
    if cursor:
        position = decode_cursor(cursor, "cursor", {"p": float, "id": int})
        after = (position["p"], position["id"])
    rows, last = await repository.queue_page(session, filters, after, PAGE_SIZE)
    ids = {c.customer_a_id for c in rows} | {c.customer_b_id for c in rows}
    people = {
        i: customer_out(c) for i, c in (await repository.customers_by_id(session, ids)).items()
    }
    filter_values = {"kind": kind, "source": source, "band": band, "age": age}
    return render(
        request,
        "review_queue.html",
        {
            "rows": rows,
            "customers": people,
            "counts": await repository.queue_counts(session),
            "systems": await repository.source_systems(session),
            "filters": filter_values,
            "next_query": query_string(
                {**filter_values, "cursor": encode_cursor({"p": last[0], "id": last[1]})}
            )
            if last
            else None,
        },
    )


@router.get("/next")
async def open_next(session: DbSession, principal: CustomersCurate) -> Response:
    """The most probable waiting pair (the queue's first), or the queue when none waits."""
    first = await repository.first_pending(session)
    target = f"{PREFIX}/review/{first}" if first else f"{PREFIX}/review"
    return RedirectResponse(target, status_code=303)


async def _pair_context(session: DbSession, candidate: MatchCandidate) -> dict[str, Any]:
    a = await customers.get_customer(session, candidate.customer_a_id)
    b = await customers.get_customer(session, candidate.customer_b_id)
    out_a, out_b = customer_out(a), customer_out(b)
    sources_a = [source_out(s) for s in await customers.list_customer_sources(session, a.id)]
    sources_b = [source_out(s) for s in await customers.list_customer_sources(session, b.id)]
    explanation = candidate.explanation.get("record", {})
    # The explanation scored the record of ``decided_for`` against the other customer: that
    # record's side is the left column when it is customer A.
    previous, following, position, total = await repository.neighbours(session, candidate)
    return {
        "group": await _group_context(session, candidate),
        "candidate": candidate,
        "a": out_a,
        "b": out_b,
        "sources_a": sources_a,
        "sources_b": sources_b,
        "rows": comparison_rows(
            explanation, out_a.model_dump(mode="json"), out_b.model_dump(mode="json")
        ),
        "waterfall": waterfall(explanation),
        "previous_id": previous,
        "next_id": following,
        "position": position,
        "total": total,
    }


async def _group_context(session: DbSession, candidate: MatchCandidate) -> dict[str, Any] | None:
    """More than two customers tied by waiting candidates: the group side by side, each column
    coloured by the candidate that ties it to a column before it."""
    if candidate.status != "pending":
        return None
    order, edges = await repository.candidate_group(session, candidate)
    if len(order) <= 2:
        return None
    found = await repository.customers_by_id(session, set(order))
    outs = [customer_out(found[i]) for i in order]
    links: list[MatchCandidate | None] = [None]
    for index, customer_id in enumerate(order[1:], start=1):
        earlier = set(order[:index])
        links.append(
            next(
                e
                for e in edges
                if (e.customer_a_id == customer_id and e.customer_b_id in earlier)
                or (e.customer_b_id == customer_id and e.customer_a_id in earlier)
            )
        )
    code_of = {o.id: o.customer_code for o in outs}
    return {
        "customers": outs,
        "links": [
            None
            if link is None
            else {
                "candidate": link,
                "with": code_of[
                    link.customer_b_id if link.customer_a_id == order[i] else link.customer_a_id
                ],
            }
            for i, link in enumerate(links)
        ],
        "rows": group_rows(
            [o.model_dump(mode="json") for o in outs],
            [None if link is None else link.explanation.get("record", {}) for link in links],
        ),
        "edges": edges,
        "codes": {e.id: (code_of[e.customer_a_id], code_of[e.customer_b_id]) for e in edges},
        "ids": ",".join(str(i) for i in order),
        "survivor": min(code_of.values()),
    }


@router.get("/{candidate_id}")
async def pair(
    candidate_id: int,
    request: Request,
    session: DbSession,
    principal: CustomersCurate,
    done: Annotated[str | None, Query(pattern="^(merged|distinct|skipped)$")] = None,
) -> Response:
    candidate = await repository.candidate(session, candidate_id)
    if candidate is None:
        raise ProblemError("not-found", f"No match candidate {candidate_id}")
    context = await _pair_context(session, candidate)
    return render(request, "review_pair.html", {**context, "done": done})


@router.post("/{candidate_id}/decision")
async def decide(
    candidate_id: int,
    request: Request,
    session: DbSession,
    actor: CustomersCurate,
) -> Response:
    """統合 or 別人・別会社, through the same service as POST /v1/match-candidates/{id}/decision;
    then the next waiting pair opens. Another steward's earlier decision is a message."""
    form = await form_data(request)
    decision = form.get("decision", "")
    comment = form.get("comment", "").strip()[:2000]
    if decision not in DECISIONS:
        raise ProblemError("bad-request", "decision must be merge or distinct")
    candidate = await repository.candidate(session, candidate_id)
    if candidate is None:
        raise ProblemError("not-found", f"No match candidate {candidate_id}")
    if candidate.status != "pending":
        return _already_decided(request, candidate)
    try:
        async with session.begin_nested():
            decided = await merge.decide_candidate(
                session, request.app.state.settings, actor, candidate_id, decision
            )
    except ProblemError as exc:
        if exc.problem_type.slug != "conflict":
            raise
        fresh = await repository.candidate(session, candidate_id, reread=True)
        assert fresh is not None
        return _already_decided(request, fresh)
    if comment:
        record_audit(
            session,
            audit_record(
                actor,
                action="match_candidate.comment",
                entity_type="match_candidate",
                entity_id=str(candidate_id),
                customer_id=decided.customer_a_id,
                after={"decision": decision, "comment": comment},
            ),
        )
    previous, following, _, _ = await repository.neighbours(session, decided)
    nxt = following or previous
    done = "merged" if decision == "merge" else "distinct"
    target = f"{PREFIX}/review/{nxt}?done={done}" if nxt else f"{PREFIX}/review?done={done}"
    return go(request, translate(lang_of(request), f"review.done.{done}"), target)


@router.post("/{candidate_id}/group-merge")
async def merge_group(
    candidate_id: int,
    request: Request,
    session: DbSession,
    actor: CustomersCurate,
) -> Response:
    """統合 of the whole group as the page showed it, through the service of
    POST /v1/customers/{id}/merge (the oldest customer survives, as a pair's merge does). When
    the group changed meanwhile (another steward decided a pair of it), nothing is written."""
    form = await form_data(request)
    lang = lang_of(request)
    candidate = await repository.candidate(session, candidate_id)
    if candidate is None:
        raise ProblemError("not-found", f"No match candidate {candidate_id}")
    if candidate.status != "pending":
        return _already_decided(request, candidate)
    order, _ = await repository.candidate_group(session, candidate)
    shown = [part for part in form.get("customers", "").split(",") if part]
    if sorted(shown) != sorted(str(i) for i in order) or len(order) <= 2:
        return message(request, "warning", translate(lang, "review.group.changed"))
    found = await repository.customers_by_id(session, set(order))
    survivor = min(found.values(), key=lambda c: c.customer_code)
    absorbed = [c.id for c in found.values() if c.id != survivor.id]
    try:
        async with session.begin_nested():
            await merge.merge_customers(
                session, request.app.state.settings, actor, survivor.id, absorbed
            )
    except ProblemError as exc:
        if exc.problem_type.slug != "conflict":
            raise
        return message(request, "warning", translate(lang, "review.group.changed"))
    nxt = await repository.first_pending(session)
    target = f"{PREFIX}/review/{nxt}?done=merged" if nxt else f"{PREFIX}/review?done=merged"
    merged = translate(lang, "review.group.merged", n=len(order), code=survivor.customer_code)
    return go(request, merged, target)


def _already_decided(request: Request, candidate: MatchCandidate) -> Response:
    lang = lang_of(request)
    status = translate(lang, f"review.status.{candidate.status}")
    return message(
        request,
        "warning",
        translate(lang, "review.already", status=status),
        detail=f"{candidate.decided_by or ''} {jst(candidate.decided_at, lang)}",
        next_link=f"{PREFIX}/review/next",
    )
