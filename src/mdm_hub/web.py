"""What the API's routes share beyond their router (``idempotency/route.py``) and permission
(``auth/roles.py``): a review queue's filter."""

from __future__ import annotations

import uuid
from typing import Generic, TypeVar, cast

from pydantic import BaseModel

S = TypeVar("S", bound=str)


class ReviewFilter(BaseModel, Generic[S]):
    """The query of a review queue's listing (a query parameter model, ``Query()``): the
    items of one status (``S``, the queue's statuses), those waiting unless asked otherwise, and
    of one customer."""

    status: S | None = cast(S, "pending")  # every queue waits in "pending"
    customer_id: uuid.UUID | None = None
