"""Shares of a web worker's CPU samples by part of the request: a py-spy raw profile (collapsed
stacks) of the uvicorn workers, read into middlewares, routing, dependencies, the answer, the
endpoint (the write path), and the server around them.

    py-spy record -r 200 -f raw --subprocesses -o /tmp/spy.txt -- \\
        .venv/bin/python bench/write_path.py --size 20000 --requests 2000 --seconds 40
    .venv/bin/python bench/frame_shares.py /tmp/spy.txt

A sampling profiler costs every function the same (unlike cProfile, whose own cost per call
inflates code made of many small calls, such as routing and dependency resolution). Only the
uvicorn worker processes are counted (their stacks pass through uvicorn's protocol or the app).
"""

from __future__ import annotations

import argparse
from collections import Counter

# Checked in order; the first part whose marker is in a sample's stack takes it.
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("endpoint (the handler: the write path)", ("run_endpoint_function",)),
    ("dependencies: the request's transaction (BEGIN, COMMIT)", ("_request_session",)),
    ("dependencies: authentication (token, roles)", ("authenticate (", "Authenticator")),
    ("dependencies: the rest (resolution, parameters, body validation)", ("solve_dependencies",)),
    ("the answer (validation, serialization, response)", ("serialize_response", "render (")),
    ("request handler (body read, the rest)", ("request_response.",)),
    ("routing", ("starlette/routing.py", "fastapi/routing.py")),
    ("middlewares", ("fastapi/applications.py",)),
)
REST = "server, event loop and the rest (uvicorn, asyncpg callbacks, ...)"
# Stacks that are not serving requests: the workers' start-up and their helper threads.
_NOT_REQUESTS = ("lifespan", "importlib._bootstrap", "Thread._bootstrap", "Server.startup")


def classify(frames: list[str]) -> str:
    stack = ";".join(frames)
    for part, markers in PARTS:
        if any(marker in stack for marker in markers):
            return part
    return REST


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("raw", help="py-spy raw output (--format raw)")
    args = parser.parse_args()
    parts: Counter[str] = Counter()
    total = 0
    with open(args.raw, encoding="utf-8") as file:
        for line in file:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            frames = stack.split(";")
            if not any("uvicorn" in f or "fastapi/applications.py" in f for f in frames):
                continue  # the load generator, the database's loader
            if any(marker in stack for marker in _NOT_REQUESTS):
                continue  # start-up (imports, the postal index, the lifespan), idle threads
            parts[classify(frames)] += int(count)
            total += int(count)
    print(f"{total} samples of the uvicorn workers")
    for part in (*(part for part, _markers in PARTS), REST):
        print(f"  {part}: {parts[part]} ({parts[part] / max(total, 1):.1%})")


if __name__ == "__main__":
    main()
