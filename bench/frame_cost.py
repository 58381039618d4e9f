"""CPU per request of parts of the request frame, each alone, without a profiler's own cost:

    .venv/bin/python bench/frame_cost.py [--n 20000]

* each of the app's own middlewares (``app.user_middleware``: console headers, request id,
  access log and metrics, body guard, session cookie), and all of them, around an ASGI app
  that reads the body and answers;
* routing: the app's routes tested in order until one matches a matched PUT's path (what the
  router does before it hands the request to the route);
* authentication: a token already verified (the cache of ``mdm_hub.auth.oidc``), the claims
  check alone, and the principal built from a token; a token verified from scratch.

The app is built as ``mdm-hub serve`` builds it (with a development issuer); no database is
needed, none of these parts reads it. Process CPU time (``time.process_time``) per call.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.routing import Match

from mdm_hub.app import create_app
from mdm_hub.auth.authn import Authenticator
from mdm_hub.auth.dev_issuer import DevIssuer
from mdm_hub.auth.oidc import TokenValidator
from mdm_hub.settings import Settings

PATH = "/v1/sources/bench/records/abc123"
BODY = b'{"kind":"corporation","name":"\xe6\xa0\xaa\xe5\xbc\x8f\xe4\xbc\x9a\xe7\xa4\xbe"}' * 20


def scope(token: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "PUT",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(BODY)).encode()),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": BODY, "more_body": False}


async def send(message: dict[str, Any]) -> None:
    return None


async def answer(scope: Any, receive: Any, send: Any) -> None:
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


async def per_call(n: int, call: Callable[[], Awaitable[Any]]) -> float:
    for _ in range(min(n, 200)):
        await call()
    started = time.process_time()
    for _ in range(n):
        await call()
    return (time.process_time() - started) / n * 1e6


async def main(n: int) -> None:
    issuer = DevIssuer.ephemeral("http://127.0.0.1:8000/dev-issuer")
    settings = Settings(database_url="postgresql+asyncpg://bench@/bench")
    app = create_app(settings, dev_issuer=issuer)
    token = issuer.mint(subject="bench")

    print(f"µs of CPU per call ({n:,} calls each)")
    bare = await per_call(n, lambda: answer(scope(token), receive, send))
    print(f"  the bare ASGI app (scope built, body read, answered): {bare:.1f}")
    stack: Any = answer
    for middleware in reversed(app.user_middleware):
        alone = middleware.cls(answer, *middleware.args, **middleware.kwargs)
        cost = await per_call(n, lambda a=alone: a(scope(token), receive, send))  # type: ignore[misc]
        print(f"  + {middleware.cls.__name__}: {cost - bare:.1f}")
        stack = middleware.cls(stack, *middleware.args, **middleware.kwargs)
    cost = await per_call(n, lambda: stack(scope(token), receive, send))
    print(f"  + all of them: {cost - bare:.1f}")

    async def route() -> None:
        request = scope(token)
        for candidate in app.router.routes:
            match, _ = candidate.matches(request)
            if match == Match.FULL:
                return
        raise AssertionError("no route")

    print(f"  routing a matched PUT (routes tested in order): {await per_call(n, route):.1f}")

    validator = TokenValidator(settings, issuer.issuer, static_jwks=issuer.jwks())
    authenticator = Authenticator(settings, validator)
    print(f"  a verified token again: {await per_call(n, lambda: validator.validate(token)):.1f}")
    claims = await validator.validate(token)

    async def check() -> None:
        validator.check_claims(claims)

    print(f"  its claims checked alone: {await per_call(n, check):.1f}")
    principal = await per_call(n, lambda: authenticator.principal_from_token(token, "r"))
    print(f"  the principal from a verified token: {principal:.1f}")

    async def fresh() -> None:
        validator._verified.clear()
        await validator.validate(token)

    print(f"  a token verified from scratch (signature): {await per_call(n // 50, fresh):.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    asyncio.run(main(parser.parse_args().n))
