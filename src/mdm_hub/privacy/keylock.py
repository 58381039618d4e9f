"""One key-management operation at a time.

`mdm-hub keys rotate` and `mdm-hub keys rewrap` each hold a PostgreSQL advisory lock (session
level, on a connection of their own) for their whole run. A second one, of either kind, does
not start: it stops at once and names the run that holds the lock. Two rotations at once would
each make a data key and drop the other's; a rotation during a re-wrap could wrap its new key
under a KEK the re-wrap has already left behind. The lock ends with the holder's connection,
so a killed run never leaves it taken.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine

from mdm_hub.privacy import repository


class KeyOperationRunning(RuntimeError):
    """Another key-management operation holds the lock."""


def holder_name(operation: str) -> str:
    """What the lock's connection is called (PostgreSQL keeps 63 bytes of it)."""
    return f"mdm-hub keys {operation} (pid {os.getpid()} on {socket.gethostname()})"[:63]


@asynccontextmanager
async def key_operation(engine: AsyncEngine, operation: str) -> AsyncIterator[None]:
    """Hold the key-operation lock while the block runs, or raise
    :class:`KeyOperationRunning` naming the run that holds it."""
    async with engine.connect() as conn:
        if not await repository.try_key_operation_lock(conn, holder_name(operation)):
            holder = await repository.key_operation_holder(conn)
            raise KeyOperationRunning(
                f"another key operation is running: {holder}; wait for it to end "
                "(or stop it), then run this command again"
                if holder
                else "another key operation was running and has just ended: run this command again"
            )
        try:
            yield
        finally:
            await repository.release_key_operation_lock(conn)
