"""ホーム: what needs attention (the review queue, dead letters, failing endpoints)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from mdm_hub.auth.roles import Authenticated
from mdm_hub.console import repository
from mdm_hub.console.web import PREFIX, render
from mdm_hub.db import DbSession

router = APIRouter(prefix=PREFIX, include_in_schema=False)


@router.get("")
async def home(request: Request, session: DbSession, principal: Authenticated) -> Response:
    return render(request, "home.html", await repository.attention(session))
