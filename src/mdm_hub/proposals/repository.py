"""The decision of a proposal, in either feature's table (see the package's docstring)."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.errors import ProblemError

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


def pending(found: dict[str, Any] | None, name: str, proposal_id: int) -> dict[str, Any]:
    """The proposal ``found`` (read locked, ``name`` as the problem calls it) while it waits for
    a decision: not-found when there is none, conflict when it was decided."""
    if found is None:
        raise ProblemError("not-found", f"No {name} {proposal_id}")
    if found["status"] != "pending":
        raise ProblemError(
            "conflict", f"The {name} {proposal_id} is {found['status']}, not pending"
        )
    return found
