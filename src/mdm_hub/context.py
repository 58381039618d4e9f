"""Who is asking, and under which request id: passed explicitly from routers to services."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)


@dataclass(frozen=True)
class Actor:
    """The principal behind a change, as the audit log records it."""

    subject: str
    client_id: str | None = None
    request_id: str | None = None


def _current_actor(request: Request) -> Actor:
    # Until single sign-on lands every caller is anonymous; the audit log still records the
    # request id so an entry can be traced to its access-log line.
    return Actor(subject="anonymous", request_id=getattr(request.state, "request_id", None))


CurrentActor = Annotated[Actor, Depends(_current_actor)]
