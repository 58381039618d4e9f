"""A registry link across merges and unmerges.

A link says "this customer is that corporation of the registry"; the registry's row is the
customer's source record ``nta/<法人番号>``. A merge moves every source record of the absorbed
customer to the survivor, ``nta/<法人番号>`` with them, so the link moves too: the survivor is
now that corporation. An unmerge that moves ``nta/<法人番号>`` out moves the link with it (a
revived customer gets its link back). Each move is audited (``registry_link.moved``) and the
customer that gains the link gets ``customer.registry_changed`` (``/registry/corporate_number``).
Links naming the absorbed customer as a merger's successor follow it the same way.

A merge of two customers linked to different 法人番号 is refused (409): they are two
corporations of the registry; a steward unlinks one first if a link was wrong. Never commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.audit.log import audit_record
from mdm_hub.context import Actor
from mdm_hub.customers.golden import bump_version, customer_view, record_customer_change
from mdm_hub.customers.models import Customer
from mdm_hub.errors import ProblemError
from mdm_hub.registry import repository

SYSTEM = "nta"
EVENT = "customer.registry_changed"


async def check_mergeable(
    session: AsyncSession, survivor_id: uuid.UUID, absorbed_ids: Sequence[uuid.UUID]
) -> None:
    """409 when the customers to merge are linked to more than one 法人番号."""
    numbers: dict[str, uuid.UUID] = {}
    for customer_id in [survivor_id, *absorbed_ids]:
        link = await repository.lock_link(session, customer_id)
        if link is not None:
            numbers.setdefault(link["corporate_number"], customer_id)
    if len(numbers) > 1:
        listed = ", ".join(f"{n} ({c})" for n, c in sorted(numbers.items()))
        raise ProblemError(
            "conflict",
            f"These customers are linked to different corporations of the registry: {listed}. "
            "Unlink the wrong one first (DELETE /v1/customers/{id}/registry).",
        )


async def carry_link(
    session: AsyncSession, actor: Actor, absorbed_id: uuid.UUID, survivor: Customer
) -> None:
    """After a merge moved the absorbed customer's source records to the survivor."""
    await repository.redirect_successor(session, absorbed_id, survivor.id)
    link = await repository.lock_link(session, absorbed_id)
    if link is None:
        return
    if await repository.lock_link(session, survivor.id) is not None:
        return  # the same 法人番号 cannot be linked twice: unreachable after check_mergeable
    await repository.move_link(session, absorbed_id, survivor.id)
    await _moved(session, actor, link, absorbed_id, survivor, "customer.merged")


async def follow_source(
    session: AsyncSession,
    actor: Actor,
    from_customer: Customer,
    to_customer: Customer,
    moved_sources: Sequence[tuple[str, str]],
) -> None:
    """After an unmerge moved ``moved_sources`` from ``from_customer`` to ``to_customer``: the
    link goes with its ``nta`` source record (unless the target is linked already)."""
    link = await repository.lock_link(session, from_customer.id)
    if link is None or (SYSTEM, link["corporate_number"]) not in set(moved_sources):
        return
    if await repository.lock_link(session, to_customer.id) is not None:
        return
    await repository.move_link(session, from_customer.id, to_customer.id)
    await repository.redirect_successor(
        session, from_customer.id, to_customer.id, link["corporate_number"]
    )
    await _moved(session, actor, link, from_customer.id, to_customer, "customer.unmerged")


async def _moved(
    session: AsyncSession,
    actor: Actor,
    link: dict[str, Any],
    from_id: uuid.UUID,
    to: Customer,
    cause: str,
) -> None:
    number = link["corporate_number"]
    view = customer_view(to)
    bump_version(to)
    await record_customer_change(
        session,
        actor,
        to,
        action=EVENT,
        before=view,
        changed=["/registry/corporate_number"],
        audit=[
            audit_record(
                actor,
                action="registry_link.moved",
                entity_type="registry_link",
                entity_id=number,
                customer_id=to.id,
                before={"customer_id": str(from_id), "corporate_number": number},
                after={"customer_id": str(to.id), "corporate_number": number, "cause": cause},
            )
        ],
    )
