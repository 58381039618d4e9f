"""The decision of a proposal, in either feature's table (see the package's docstring)."""

from __future__ import annotations

from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# The tables share the decision's columns: status, decided_by, decided_at.
ProposalTable = Literal["registry_proposals", "hierarchy_proposals"]
TABLES: tuple[ProposalTable, ...] = ("registry_proposals", "hierarchy_proposals")


async def record_decision(
    session: AsyncSession,
    table: ProposalTable,
    proposal_id: int,
    status: str,
    decided_by: str,
) -> None:
    """The proposal ``proposal_id`` of ``table`` is ``status`` (accepted, rejected), decided now
    by ``decided_by``."""
    if table not in TABLES:  # the name goes into the statement: never one from elsewhere
        raise ValueError(f"not a proposal table: {table!r}")
    await session.execute(
        text(
            f"UPDATE {table} SET status = :s, decided_by = :by, decided_at = now() WHERE id = :id"
        ),
        {"id": proposal_id, "s": status, "by": decided_by},
    )
