"""The write path's one door to the hierarchy: after a batch of source records is stored, the
links they name (hierarchy.follow) and, for customers whose 法人番号 another corporation also
carries, the sites matching finds (matching.sites)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.context import Actor
from mdm_hub.hierarchy.follow import Written, follow_written
from mdm_hub.matching.sites import propose_sites
from mdm_hub.settings import Settings


async def follow_hierarchy(
    session: AsyncSession, settings: Settings, actor: Actor, batch: Sequence[Written]
) -> None:
    shared = await follow_written(session, actor, batch)
    await propose_sites(session, settings, actor, shared)
