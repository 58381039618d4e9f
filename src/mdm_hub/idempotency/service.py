"""Look up and store the answer of a POST made with an ``Idempotency-Key``.

Both happen in the request's own transaction: the key's advisory lock is its first statement,
so a second request with the same key waits for the first to commit and then replays its
answer; the answer is stored before the commit, so an operation is never committed without it.
Only successful answers (2xx) are stored: an error leaves nothing behind, so a retry of a failed
request runs again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.db import advisory_xact_locks
from mdm_hub.errors import FieldProblem, ProblemError

from . import repository

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# The answer's headers worth replaying; the request id, dates and lengths are the new request's.
# The hx- ones are the console's (where htmx goes or swaps next): a replayed console action
# answers exactly as the first did.
REPLAYED_HEADERS = (
    "content-type",
    "etag",
    "location",
    "hx-redirect",
    "hx-retarget",
    "hx-reswap",
)


@dataclass(frozen=True)
class StoredAnswer:
    status_code: int
    headers: list[tuple[str, str]]
    body: bytes


class Replay(Exception):
    """Raised inside the request's transaction to end it and send a stored answer instead."""

    def __init__(self, answer: StoredAnswer) -> None:
        super().__init__("replay of a stored answer")
        self.answer = answer


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode()):
        digest.update(part)
        digest.update(b"\0")
    digest.update(body)
    return digest.hexdigest()


def _header_problem(code: str, message: str) -> FieldProblem:
    return FieldProblem(field=HEADER, location="header", code=code, message=message)


@dataclass
class Claim:
    """One request's key, as the route saw it before the handler ran."""

    key: str
    fingerprint: str
    method: str
    path: str
    ttl: dt.timedelta
    principal: str | None = None
    session: AsyncSession | None = None

    async def begin(self, session: AsyncSession, principal: str) -> None:
        """Lock the key and raise :class:`Replay` if an answer to it is already stored."""
        await advisory_xact_locks(session, [f"idempotency|{principal}|{self.key}"])
        stored = await repository.stored_answer(session, principal, self.key)
        if stored is not None and stored.created_at > _now() - self.ttl:
            if stored.fingerprint != self.fingerprint:
                raise ProblemError(
                    "idempotency-key-reused",
                    f"{HEADER} {self.key!r} was used for a different request "
                    f"({stored.method} {stored.path}); use a new key for a new request",
                    errors=[
                        _header_problem(
                            "idempotency_key_reused", "already used for a different request"
                        )
                    ],
                )
            raise Replay(
                StoredAnswer(stored.status_code, [tuple(h) for h in stored.headers], stored.body)
            )
        self.principal, self.session = principal, session

    async def store(self, status_code: int, headers: list[tuple[str, str]], body: bytes) -> None:
        """Keep the answer in the request's transaction (only if :meth:`begin` ran)."""
        if self.session is None or self.principal is None or not 200 <= status_code < 300:
            return
        values = {
            "principal": self.principal,
            "key": self.key,
            "method": self.method,
            "path": self.path,
            "fingerprint": self.fingerprint,
            "status_code": status_code,
            "headers": [[name, value] for name, value in headers],
            "body": body,
            "created_at": _now(),
        }
        # An expired answer under the same key is replaced.
        await repository.store_answer(self.session, values)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
