"""Who is asking, and under which request id: passed explicitly from routers to services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from mdm_hub.settings import Settings

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


@dataclass(frozen=True)
class Actor:
    """The principal behind a change, as the audit log records it."""

    subject: str
    client_id: str | None = None
    request_id: str | None = None


async def _current_actor(request: Request) -> Actor:
    # The authenticated principal (mdm_hub.auth), which is an Actor: the audit log records its
    # subject, client id and the request id. A request without valid credentials gets 401.
    authenticate: Callable[[Request], Awaitable[Actor]] = request.app.state.authenticate
    return await authenticate(request)


CurrentActor = Annotated[Actor, Depends(_current_actor)]


def settings_of(request: Request) -> Settings:
    """The application's settings (``create_app`` keeps them on the app)."""
    settings: Settings = request.app.state.settings
    return settings
