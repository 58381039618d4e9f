"""Mounting the console on the app: its routers, its static files, its error pages."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mdm_hub.auth.roles import authenticate
from mdm_hub.console import (
    approvals,
    customers,
    hierarchy,
    home,
    imports,
    privacy,
    quality,
    registry,
    review,
    session,
    webhooks,
)
from mdm_hub.console.web import HERE, PREFIX, is_htmx, render
from mdm_hub.errors import ProblemError
from mdm_hub.privacy.access_log import record_pii_reads

Handler = Callable[[Request, Exception], Awaitable[Response]]
AnyHandler = Callable[[Request, Any], Response | Awaitable[Response]]

# Pages: script and styles only from the hub itself, nothing inline, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def _is_console(request: Request) -> bool:
    path = request.url.path
    return path == PREFIX or path.startswith(PREFIX + "/")


def console_error(request: Request, status: int, message_key: str, detail: str | None) -> Response:
    """An error as the console shows it: a message in the page's message area (htmx), or a
    page of its own."""
    context = {"message_key": message_key, "detail": detail, "status": status}
    if is_htmx(request):
        # htmx swaps only 2xx answers by default: the message goes to the message area.
        return render(
            request,
            "_message.html",
            {**context, "level": "error"},
            headers={"HX-Retarget": "#messages", "HX-Reswap": "innerHTML"},
        )
    return render(request, "error.html", context, status_code=status)


def _wrap(api_handler: AnyHandler) -> Handler:
    async def handle(request: Request, exc: Exception) -> Response:
        if not _is_console(request):
            answer = api_handler(request, exc)
            return await answer if inspect.isawaitable(answer) else answer
        status = getattr(exc, "status_code", 500)
        if isinstance(exc, ProblemError):
            status = exc.problem_type.status
        detail = getattr(exc, "detail", None)
        if status == 401:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            login = f"{PREFIX}/login?next={quote(target)}"
            if is_htmx(request):
                return Response(status_code=204, headers={"HX-Redirect": login})
            return RedirectResponse(login, status_code=303)
        if status == 403:
            key = "error.csrf" if "X-CSRF-Token" in str(detail) else "error.forbidden"
            return console_error(request, 403, key, None)
        if status == 404:
            return console_error(request, 404, "error.not_found", None)
        return console_error(
            request, status, "error.generic", detail if isinstance(detail, str) else None
        )

    return handle


class _Headers:
    """Security headers on every console answer (pure ASGI, no buffering)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [
                    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_console(app: FastAPI) -> None:
    """The console at /console: same process, same port, same services as the API."""
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="console-static")
    app.include_router(session.router)
    for page in (
        home.router,
        review.router,
        customers.router,
        hierarchy.router,
        webhooks.router,
        privacy.router,
        quality.router,
        approvals.router,
        imports.router,
        registry.router,
    ):
        # As for the API: the unmasked personal data a page shows is kept in the access log.
        app.include_router(
            page,
            dependencies=[Depends(authenticate), Depends(record_pii_reads, scope="function")],
        )
    for exc_class in (ProblemError, StarletteHTTPException):
        app.add_exception_handler(exc_class, _wrap(app.exception_handlers[exc_class]))
    app.add_middleware(_Headers)
