"""The route class that honours ``Idempotency-Key`` on POST operations.

It wraps FastAPI's request handler, which runs inside the request's function-scoped
dependencies: when the handler returns, the request's transaction (``mdm_hub.db.DbSession``) is
still open, so the answer is stored in it and committed together with the operation.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Coroutine
from enum import Enum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response, status
from fastapi.routing import APIRoute

from mdm_hub.auth.masking import can_read_pii, mask_answer
from mdm_hub.errors import PROBLEM_RESPONSES

from .service import (
    HEADER,
    MAX_KEY_LENGTH,
    REPLAYED_HEADER,
    REPLAYED_HEADERS,
    Claim,
    Replay,
    fingerprint,
)

KEY_PATTERN = f"^[!-~]{{1,{MAX_KEY_LENGTH}}}$"  # visible ASCII, no spaces: a UUID fits
_VALID_KEY = re.compile(KEY_PATTERN)


async def _idempotency_key_header(
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            pattern=KEY_PATTERN,
            description=(
                "A key chosen by the client (a UUID) that makes a retry of this POST safe: "
                "a second request with the same key and the same body gets the first answer "
                f"again (with `{REPLAYED_HEADER}: true`) and changes nothing; the same key with "
                "another body is a 422. Answers are kept for `MDM_IDEMPOTENCY_KEY_TTL_HOURS`."
            ),
        ),
    ] = None,
) -> str | None:
    return idempotency_key


async def _content(request: Request) -> bytes:
    """The body as fingerprinted: a multipart body without its boundary, which every client
    draws at random for each request (a retried upload is the same content)."""
    body = await request.body()
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/"):
        for parameter in content_type.split(";")[1:]:
            name, _, value = parameter.strip().partition("=")
            if name.lower() == "boundary" and value.strip('"'):
                return body.replace(value.strip('"').encode("latin-1"), b"")
    return body


class IdempotentRoute(APIRoute):
    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        if kwargs.get("status_code") == status.HTTP_204_NO_CONTENT:
            # Its endpoint returns None: answered with no body and no content type.
            kwargs["response_class"] = Response
        if "POST" in {m.upper() for m in kwargs.get("methods") or ()}:
            kwargs["dependencies"] = [
                *(kwargs.get("dependencies") or ()),
                Depends(_idempotency_key_header),
            ]
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if not self.methods or "POST" not in self.methods:
            return handler

        async def handle(request: Request) -> Response:
            key = request.headers.get(HEADER)
            if key is None or not _VALID_KEY.fullmatch(key):
                return await handler(request)  # an invalid key is the header parameter's 422
            settings = request.app.state.settings
            claim = Claim(
                key=key,
                fingerprint=fingerprint(
                    request.method, request.url.path, request.url.query, await _content(request)
                ),
                method=request.method,
                path=request.url.path,
                ttl=dt.timedelta(hours=settings.idempotency_key_ttl_hours),
            )
            request.state.idempotency = claim
            try:
                response = await handler(request)
            except Replay as replay:
                answer = replay.answer
                return Response(
                    _as_principal_may_see(answer.body),
                    status_code=answer.status_code,
                    headers={**dict(answer.headers), REPLAYED_HEADER: "true"},
                )
            body = getattr(response, "body", None)
            if isinstance(body, bytes):
                await claim.store(
                    response.status_code,
                    [(n, v) for n, v in response.headers.items() if n in REPLAYED_HEADERS],
                    body,
                )
            return response

        return handle


def _as_principal_may_see(body: bytes) -> bytes:
    """The stored answer, masked again when this token lacks ``pii:read`` (the key is the
    subject's, and the subject's roles may have changed since)."""
    if can_read_pii() or not body:
        return body
    try:
        value = json.loads(body)
    except ValueError:
        return body
    return json.dumps(mask_answer(value), ensure_ascii=False, separators=(",", ":")).encode()


def api_router(*, prefix: str = "/v1", tags: list[str | Enum] | None = None) -> APIRouter:
    """A router of the versioned API: its POSTs honour ``Idempotency-Key``, and every operation
    documents the problem+json answers (``errors.PROBLEM_RESPONSES``)."""
    return APIRouter(
        prefix=prefix, tags=tags, route_class=IdempotentRoute, responses=PROBLEM_RESPONSES
    )
