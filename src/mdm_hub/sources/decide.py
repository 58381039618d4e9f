"""Step 4 of the write path: candidates, scores and the decision, and the customer a new source
record joins (an existing one, followed through merges, or a new one)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.customers.golden import new_customer
from mdm_hub.customers.models import Customer, CustomerStatus
from mdm_hub.customers.repository import lock_customer_row
from mdm_hub.matching import service as matching
from mdm_hub.matching.scoring import Decision, DecisionResult
from mdm_hub.settings import Settings
from mdm_hub.sources.prepare import Prepared


async def resolve_batch(
    session: AsyncSession, settings: Settings, batch: Sequence[Prepared]
) -> list[matching.Resolution]:
    """Each prepared record scored against the master (its keys locked by the caller)."""
    return [
        await matching.resolve(session, settings, p.record, lock=False, keys=p.keys) for p in batch
    ]


def pinned_resolution(prepared: Prepared, customer_id: uuid.UUID) -> matching.Resolution:
    """The decision of a record whose customer is known beforehand (not matched): merge into
    ``customer_id``, nothing to review."""
    result = DecisionResult(Decision.merge, str(customer_id), None, reason="pinned")
    return matching.Resolution(prepared.keys, {}, result, {}, [])


@dataclass
class Link:
    """The customer a new source record joins, whether the write created it, and the outcome
    the answer reports (``merged``, ``review``, ``new_customer``)."""

    customer: Customer
    created: bool
    outcome: str


async def link_target(
    session: AsyncSession, settings: Settings, prepared: Prepared, resolution: matching.Resolution
) -> Link:
    """The customer to link to: the merge target (row locked) or a new customer."""
    kind = prepared.record.kind.value
    decision = resolution.result
    created = decision.decision != Decision.merge or decision.customer_id is None
    outcome = matching.outcome_of(decision.decision)
    if created:
        return Link(await new_customer(session, settings, kind), True, outcome)
    customer = await lock_customer_row(session, uuid.UUID(str(decision.customer_id)))
    # A merge or delete may have committed since the candidates were read: follow a merge
    # to its survivor; a deleted customer takes no new sources.
    while customer.status == "merged" and customer.merged_into_id is not None:
        customer = await lock_customer_row(session, customer.merged_into_id)
    if customer.status != CustomerStatus.active.value:
        return Link(await new_customer(session, settings, kind), True, "new_customer")
    return Link(customer, False, outcome)
