"""Who is asking, and under which request id: passed explicitly from routers to services."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

from fastapi import Request

from mdm_hub.settings import Settings

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


@dataclass(frozen=True)
class Actor:
    """The principal behind a change, as the audit log records it."""

    subject: str
    client_id: str | None = None
    request_id: str | None = None


def settings_of(request: Request) -> Settings:
    """The application's settings (``create_app`` keeps them on the app)."""
    settings: Settings = request.app.state.settings
    return settings
