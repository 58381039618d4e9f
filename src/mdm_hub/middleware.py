"""Pure ASGI middleware: request ids, body size limit, content type of bodies."""

from __future__ import annotations

import re
import uuid
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mdm_hub.context import request_id_var
from mdm_hub.errors import PROBLEM_TYPES, problem_response

REQUEST_ID_HEADER = b"x-request-id"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}


def _header(scope: Scope, name: bytes) -> str | None:
    key: bytes
    value: bytes
    for key, value in scope.get("headers", []):
        if key == name:
            return value.decode("latin-1")
    return None


def _is_utf8(scope: Scope) -> bool:
    """Whether the raw path and query decode as UTF-8. The server decodes them with
    replacement characters, so two different source ids would otherwise name one record."""
    raw_path = scope.get("raw_path") or scope.get("path", "").encode()
    raw_path = raw_path.split(b"?", 1)[0]  # some clients' raw_path carries the query string
    try:
        unquote_to_bytes(raw_path).decode("utf-8")
        unquote_to_bytes(scope.get("query_string", b"").replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class HTTPMiddleware:
    """A pure ASGI middleware for HTTP requests (``handle``); anything else (lifespan) passes
    through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class RequestIdMiddleware(HTTPMiddleware):
    """Accept a sane X-Request-ID or make one; echo it on the answer."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        given = _header(scope, REQUEST_ID_HEADER)
        request_id = given if given and _VALID_REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID_HEADER, request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)


class BodyGuardMiddleware(HTTPMiddleware):
    """413 for bodies over the limit, 415 for bodies that are not JSON, before any handler."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        *,
        upload_paths: frozenset[str] = frozenset(),
        upload_max_bytes: int = 0,
        large_suffixes: tuple[str, ...] = (),
        large_max_bytes: int = 0,
    ) -> None:
        """``upload_paths``: multipart/form-data accepted there, streamed (never buffered),
        up to ``upload_max_bytes``; paths ending in ``large_suffixes`` (batch endpoints) take
        JSON bodies up to ``large_max_bytes``."""
        super().__init__(app)
        self.max_body_bytes = max_body_bytes
        self.upload_paths = upload_paths
        self.upload_max_bytes = upload_max_bytes
        self.large_suffixes = large_suffixes
        self.large_max_bytes = large_max_bytes

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if "\x00" in path or b"%00" in scope.get("query_string", b"").lower():
            await self._reject(scope, receive, send, "bad-request", path)
            return
        if not _is_utf8(scope):
            await self._reject(scope, receive, send, "invalid-utf8", path)
            return
        if scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = _header(scope, b"content-length")
        content_type = (_header(scope, b"content-type") or "").split(";")[0].strip().lower()
        if path in self.upload_paths and content_type == "multipart/form-data":
            await self._stream_upload(scope, receive, send, declared, path)
            return
        limit = self.max_body_bytes
        if self.large_suffixes and path.endswith(self.large_suffixes):
            limit = max(limit, self.large_max_bytes)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject(scope, receive, send, "payload-too-large", path, limit)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._reject(scope, receive, send, "payload-too-large", path, limit)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        is_json = content_type == "application/json" or content_type.endswith("+json")
        # The console's forms (mdm_hub.console) post urlencoded bodies; the API takes JSON only.
        is_console_form = content_type == "application/x-www-form-urlencoded" and (
            path == "/console" or path.startswith("/console/")
        )
        if body and not (is_json or is_console_form):
            await self._reject(scope, receive, send, "unsupported-media-type", path)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _stream_upload(
        self, scope: Scope, receive: Receive, send: Send, declared: str | None, path: str
    ) -> None:
        """A file upload passes through as it arrives; over the limit, the app sees the
        client disconnect (a declared length over the limit gets 413 at once)."""
        limit = self.upload_max_bytes
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._reject(scope, receive, send, "payload-too-large", path, limit)
            return
        size = 0

        async def counted() -> Message:
            nonlocal size
            message = await receive()
            size += len(message.get("body", b""))
            if size > limit:
                return {"type": "http.disconnect"}
            return message

        await self.app(scope, counted, send)

    async def _reject(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        slug: str,
        path: str,
        limit: int | None = None,
    ) -> None:
        problem = PROBLEM_TYPES["bad-request" if slug == "invalid-utf8" else slug]
        detail = {
            "payload-too-large": f"Bodies are limited to {limit or self.max_body_bytes} bytes",
            "bad-request": "NUL characters are not allowed in paths or query strings",
            "invalid-utf8": "The path or query string is not valid UTF-8 once percent-decoded",
        }.get(slug, "Send the body as application/json (or application/merge-patch+json for PATCH)")
        response = problem_response(problem, detail=detail, instance=path)
        await response(scope, receive, send)
