"""ホーム: what needs attention (the review queue, dead letters, failing endpoints)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mdm_hub.auth.roles import Authenticated, Permission
from mdm_hub.console import repository
from mdm_hub.console.web import PREFIX, render
from mdm_hub.db import DbSession

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("")
async def home(request: Request, session: DbSession, principal: Authenticated) -> Response:
    context = await repository.attention(session)
    # An empty hub offers the sample data (issue 16) to those who may import.
    empty = principal.can(Permission.customers_write) and await repository.hub_is_empty(session)
    return render(request, "home.html", {**context, "empty": empty})
