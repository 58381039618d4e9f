"""The one place imports meet the write path (mdm_hub.sources).

Every row goes through exactly what ``PUT /v1/sources/{system}/records/{source_id}`` runs —
normalize, keys and locks, candidates, decision, store, audit, change event — for a batch of
rows at once: a row that fails leaves nothing behind and the rows around it still count.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.context import Actor
from mdm_hub.custom_fields.service import Configuration, current_configuration
from mdm_hub.customers.models import Customer, SourceRecord
from mdm_hub.errors import FieldProblem, ProblemError, json_pointer
from mdm_hub.governance.models import ChangeRequest
from mdm_hub.matching.keys import BlockingKey
from mdm_hub.matching.repository import key_holders
from mdm_hub.record import CustomerIn
from mdm_hub.settings import Settings
from mdm_hub.sources import service as sources
from mdm_hub.sources.hierarchy import Refusal as Refusal
from mdm_hub.sources.hierarchy import WaitingRefusal as WaitingRefusal
from mdm_hub.sources.prepare import Prepared, prepare
from mdm_hub.sources.prepare import use_processes as prepare_pool

Outcome = str  # new_customer | merged | review | updated | unchanged | held | rejected


@dataclass
class RowWrite:
    outcome: Outcome
    created: bool  # a new source record (PUT's 201)
    customer: Customer | None = None
    source: SourceRecord | None = None
    problem: ProblemError | None = None
    held: dict[str, Any] | None = None  # a person record held as an erased person's (privacy)
    change_request: ChangeRequest | None = None  # protected values waiting (governance)


def validate_payload(payload: dict[str, Any]) -> CustomerIn | list[FieldProblem]:
    """The body as the PUT endpoint validates it, or its problems (field pointers)."""
    try:
        return CustomerIn.model_validate(payload)
    except ValidationError as exc:
        return [
            FieldProblem(field=json_pointer(e["loc"]), code=e["type"], message=e["msg"])
            for e in exc.errors()
        ]


async def configuration(session: AsyncSession) -> Configuration:
    return await current_configuration(session)


@dataclass
class FieldProblems:
    """The normalization and custom-field problems that would make the PUT answer 422."""

    problems: list[FieldProblem]


async def prepare_keys(
    session: AsyncSession,
    settings: Settings,
    payloads: Sequence[CustomerIn],
    config: Configuration,
) -> list[Prepared | FieldProblems]:
    """Each row prepared as the write path prepares it (one ``prepare`` of the whole batch:
    its blocking keys, and what the write takes again, ``Prepared.to_json``), or its
    problems."""
    return [
        p if isinstance(p, Prepared) else FieldProblems(list(p.errors or []))
        for p in await prepare(session, settings, payloads, config)
    ]


async def existing_holders(
    session: AsyncSession, settings: Settings, keys: list[BlockingKey]
) -> dict[BlockingKey, list[uuid.UUID]]:
    """The existing customers each fetching key finds (one statement)."""
    return await key_holders(session, keys, settings)


async def write_rows(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    system: str,
    rows: Sequence[tuple[str, CustomerIn]],
    ready: Sequence[dict[str, Any] | None] | None = None,
    *,
    webhooks: bool = True,
    refused: list[Refusal] | None = None,
) -> list[RowWrite]:
    """The rows as one batch of the write path (``sources.service.write_batch``): each answered
    as its own PUT would be, in order. A refused row writes nothing (it is refused before the
    batch writes), so no savepoint is needed. ``refused``: gets the hierarchy links refused
    while their records stay stored (see ``write_batch``)."""
    done = await sources.write_batch(
        session, settings, actor, system, rows, ready=ready, webhooks=webhooks, refused=refused
    )
    return [
        RowWrite(
            item.outcome,
            item.write.created_source if item.write is not None else False,
            item.write.customer if item.write is not None else None,
            item.write.source if item.write is not None else None,
            item.problem,
            item.held,
            item.write.change_request if item.write is not None else None,
        )
        for item in done
    ]


def refusals_by_item(
    refused: Sequence[Refusal], system: str, source_ids: Sequence[str]
) -> tuple[dict[str, list[FieldProblem]], list[Refusal]]:
    """The refused links of a batch's own items (by source id), and the rest: waiting links
    named by records outside the batch, refused when a record of the batch arrived."""
    own: dict[str, list[FieldProblem]] = {}
    others: list[Refusal] = []
    ids = set(source_ids)
    for refusal in refused:
        if refusal.system == system and refusal.source_id in ids:
            own.setdefault(refusal.source_id, []).extend(refusal.problem.errors or [])
        else:
            others.append(refusal)
    return own, others


def _pool_size(settings: Settings) -> int:
    return settings.import_processes or os.cpu_count() or 1


def use_processes(settings: Settings) -> None:
    """Normalize import batches in a pool of ``settings.import_processes`` processes."""
    prepare_pool(_pool_size(settings))


def normalizes_here(settings: Settings) -> bool:
    """Whether this process normalizes its import batches itself (no pool)."""
    return _pool_size(settings) <= 1
