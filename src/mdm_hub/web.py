"""What the API's routes share beyond their router (``idempotency/route.py``) and permission
(``auth/roles.py``): the bundle a steward's change works with, and a review queue's filter."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Generic, TypeVar, cast

from fastapi import Depends, Request
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.auth.roles import CustomersCurate, Principal
from mdm_hub.context import settings_of
from mdm_hub.db import DbSession
from mdm_hub.settings import Settings


@dataclass(frozen=True)
class Curation:
    """What a steward's change (``customers:curate``) is done with: the request's transaction,
    the application's settings and the steward, the actor the services audit."""

    session: AsyncSession
    settings: Settings
    actor: Principal


async def curation(request: Request, session: DbSession, actor: CustomersCurate) -> Curation:
    return Curation(session, settings_of(request), actor)


# A curating route's one dependency (403 without customers:curate).
Curating = Annotated[Curation, Depends(curation)]

S = TypeVar("S", bound=str)


class ReviewFilter(BaseModel, Generic[S]):
    """The query of a review queue's listing (a query parameter model, ``Query()``): the
    items of one status (``S``, the queue's statuses), those waiting unless asked otherwise, and
    of one customer."""

    status: S | None = cast(S, "pending")  # every queue waits in "pending"
    customer_id: uuid.UUID | None = None
