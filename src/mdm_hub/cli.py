"""`mdm-hub serve | migrate | openapi`."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from mdm_hub.settings import Settings, get_settings

logger = logging.getLogger("mdm_hub")


def resolve_database_url(settings: Settings) -> str:
    """DATABASE_URL when given; otherwise the embedded PostgreSQL in the data folder."""
    if settings.database_url:
        return settings.database_url
    from mdm_hub.embedded import start_embedded_postgres

    logger.info("no DATABASE_URL: starting the embedded PostgreSQL in %s", settings.data_dir)
    return start_embedded_postgres(settings.data_dir)


def cmd_migrate(settings: Settings) -> int:
    from mdm_hub.migrate import upgrade

    upgrade(resolve_database_url(settings))
    logger.info("database migrated to head")
    return 0


def cmd_serve(settings: Settings, host: str | None, port: int | None) -> int:
    import uvicorn

    from mdm_hub.app import create_app
    from mdm_hub.migrate import upgrade

    url = resolve_database_url(settings)
    if not settings.database_url:
        upgrade(url)  # the embedded database belongs to this process: keep it at head
    settings = settings.model_copy(update={"database_url": url})
    app = create_app(settings)
    host = host or settings.host
    port = port or settings.port
    print(f"mdm-hub on http://{host}:{port}  (API docs: http://{host}:{port}/docs)", flush=True)
    # uvicorn drains requests on SIGTERM/SIGINT, then re-raises the signal: exit normally then,
    # so that atexit handlers run (they stop the embedded PostgreSQL cleanly).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        proxy_headers=True,
    )
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    sys.exit(0)


def openapi_document() -> dict:
    from mdm_hub.app import create_app

    return create_app(Settings(database_url=None)).openapi()


def cmd_openapi(output: Path | None) -> int:
    text = json.dumps(openapi_document(), ensure_ascii=False, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mdm-hub", description="Customer master-data hub")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the API (starts an embedded DB if needed)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    commands.add_parser("migrate", help="upgrade the database schema to the latest revision")
    openapi = commands.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument("--output", type=Path, help="file to write (default: stdout)")
    args = parser.parse_args(argv)

    settings = get_settings()
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    if args.command == "serve":
        return cmd_serve(settings, args.host, args.port)
    if args.command == "migrate":
        return cmd_migrate(settings)
    return cmd_openapi(args.output)


if __name__ == "__main__":
    sys.exit(main())
