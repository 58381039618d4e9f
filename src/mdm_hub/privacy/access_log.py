"""The access log: every answer that carried a person's unmasked data, kept in a table.

``auth.masking.disclose`` notes each unmasked read in the request's list; this dependency,
installed on every /v1 router, writes them in the request's own transaction, after the
handler succeeded (a failed request showed nothing).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from fastapi import Request

from mdm_hub.auth.masking import pii_reads_var
from mdm_hub.db import DbSession
from mdm_hub.privacy import repository


def _endpoint(request: Request) -> str:
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', request.url.path)}"


async def record_pii_reads(request: Request, session: DbSession) -> AsyncIterator[None]:
    reads: list[dict[str, Any]] = []
    token = pii_reads_var.set(reads)
    try:
        yield
    finally:
        pii_reads_var.reset(token)
    if reads:
        endpoint = _endpoint(request)
        await repository.insert_access_entries(
            session, [{**read, "endpoint": endpoint} for read in reads]
        )
