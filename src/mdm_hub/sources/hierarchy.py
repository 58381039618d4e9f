"""The write path's one door to the hierarchy: after a batch of source records is stored, the
links they name (hierarchy.follow) and, for customers whose 法人番号 another corporation also
carries, the sites matching finds (matching.sites)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.context import Actor
from mdm_hub.errors import ProblemError
from mdm_hub.hierarchy.follow import Refusal, Written, follow_written, needs_follow
from mdm_hub.hierarchy.service import audit_refused
from mdm_hub.matching.sites import propose_sites
from mdm_hub.settings import Settings

__all__ = ["Refusal", "WaitingRefusal", "Written", "follow_hierarchy"]


@dataclass(frozen=True)
class WaitingRefusal(Refusal):
    """A waiting link (named earlier by ``system``/``source_id``) refused when the record it
    waited for, ``arrived_system``/``arrived_source_id``, was written."""

    arrived_system: str
    arrived_source_id: str


async def follow_hierarchy(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    batch: Sequence[Written],
    *,
    alone: bool = True,
) -> list[Refusal]:
    """``alone``: the batch is one PUT, whose refused link (a cycle, an unknown or ambiguous
    target) refuses the whole write (422). In a batch of many (the batch endpoint, imports)
    the records were stored together, so a refused link cannot take its record back without
    failing the others: the record stays, without the link, and the refusal is audited
    (``customer_relation.refused``) — as for a waiting link refused when its target arrives.

    One statement for the batch finds the records with anything to do; only those are followed.
    Returns the links refused without refusing a write: a batch's records' own, and waiting
    links refused when their target arrived (those name the source record that named them
    and, in a batch of many, the record that arrived: ``WaitingRefusal``).
    """
    if len(batch) > 1:
        busy = await needs_follow(session, batch)
        batch = [written for written, flag in zip(batch, busy, strict=True) if flag]
    refused: list[Refusal] = []
    if alone:
        shared = await follow_written(session, actor, batch, refused)
        await propose_sites(session, settings, actor, shared)
        return refused
    for written in batch:
        arrived: list[Refusal] = []  # kept only when the savepoint is
        try:
            async with session.begin_nested():
                shared = await follow_written(session, actor, [written], arrived)
                await propose_sites(session, settings, actor, shared)
            refused.extend(
                r
                if (r.system, r.source_id) == (written.system, written.source_id)
                else WaitingRefusal(
                    r.system, r.source_id, r.problem, written.system, written.source_id
                )
                for r in arrived
            )
        except ProblemError as exc:
            refused.append(Refusal(written.system, written.source_id, exc))
            audit_refused(
                session,
                actor,
                exc,
                f"{written.customer.id}/{written.system}/{written.source_id}",
                written.customer.id,
                {"system": written.system, "source_id": written.source_id},
            )
    return refused
