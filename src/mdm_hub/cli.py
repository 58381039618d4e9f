"""`mdm-hub serve | worker | migrate | openapi | matching-refit | dev-token`."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdm_hub.observability.logs import configure_logging
from mdm_hub.settings import Settings, get_settings

if TYPE_CHECKING:
    from mdm_hub.auth.dev_issuer import DevIssuer

logger = logging.getLogger("mdm_hub")


def resolve_database_url(settings: Settings) -> str:
    """DATABASE_URL when given; otherwise the embedded PostgreSQL in the data folder."""
    if settings.database_url:
        return settings.database_url
    from mdm_hub.embedded import start_embedded_postgres

    logger.info("no DATABASE_URL: starting the embedded PostgreSQL in %s", settings.data_dir)
    return start_embedded_postgres(settings.data_dir)


class StartupError(RuntimeError):
    """A reason not to start, said plainly; the process exits with status 2."""


def check_database(url: str) -> None:
    """Fail fast when the database does not answer or its schema is behind the code."""
    import asyncio

    import asyncpg

    from mdm_hub.db import sqlalchemy_url
    from mdm_hub.migrate import migration_head, schema_is_behind

    dsn = sqlalchemy_url(url).replace("postgresql+asyncpg://", "postgresql://")

    async def current_revision() -> str | None:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            exists = await conn.fetchval("SELECT to_regclass('alembic_version') IS NOT NULL")
            return (
                await conn.fetchval("SELECT version_num FROM alembic_version") if exists else None
            )
        finally:
            await conn.close()

    try:
        current = asyncio.run(current_revision())
    except (TimeoutError, OSError, asyncpg.PostgresError) as exc:
        raise StartupError(
            f"cannot reach the database ({type(exc).__name__}: {exc}); check DATABASE_URL"
        ) from exc
    if schema_is_behind(current):
        raise StartupError(
            f"the database schema is at {current or 'no revision'} but this version needs "
            f"{migration_head()}: run `mdm-hub migrate` first"
        )


def cmd_migrate(settings: Settings) -> int:
    from mdm_hub.migrate import upgrade

    upgrade(resolve_database_url(settings))
    logger.info("database migrated to head")
    return 0


def cmd_serve(settings: Settings, host: str | None, port: int | None) -> int:
    import uvicorn

    from mdm_hub.app import create_app
    from mdm_hub.migrate import upgrade

    host = host or settings.host
    port = port or settings.port
    dev_issuer = _dev_issuer(settings, host, port)  # before anything starts: may refuse
    url = resolve_database_url(settings)
    if not settings.database_url:
        upgrade(url)  # the embedded database belongs to this process: keep it at head
    check_database(url)
    settings = settings.model_copy(update={"database_url": url, "host": host, "port": port})
    # The webhook worker runs as a task beside the API unless MDM_SERVE_WORKER=false (then run
    # `mdm-hub worker` on its own, e.g. as a separate deployment).
    app = create_app(settings, run_worker=settings.serve_worker, dev_issuer=dev_issuer)
    print(f"mdm-hub on http://{host}:{port}  (API docs: http://{host}:{port}/docs)", flush=True)
    if dev_issuer is not None:
        token, path = dev_issuer.write_admin_token(settings.data_dir)
        print(
            "No MDM_OIDC_ISSUER: the built-in development issuer signs tokens (loopback only).\n"
            f"Administrator token (24 h, also in {path}):\n{token}\n"
            "Tokens for other roles: mdm-hub dev-token --role steward",
            flush=True,
        )
    # uvicorn drains requests on SIGTERM/SIGINT, then re-raises the signal: exit normally then,
    # so that atexit handlers run (they stop the embedded PostgreSQL cleanly).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _exit_cleanly)
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        log_config=None,  # keep our JSON logging
        access_log=False,  # AccessLogMiddleware writes the access line, without query strings
        timeout_graceful_shutdown=settings.shutdown_grace_seconds,
        proxy_headers=True,
    )
    return 0


def _dev_issuer(settings: Settings, host: str, port: int) -> DevIssuer | None:
    """The built-in development issuer when no real one is configured, on loopback only."""
    from mdm_hub.auth.dev_issuer import DevIssuer, is_loopback

    if settings.oidc_issuer:
        return None
    if not is_loopback(host):
        raise StartupError(
            f"no MDM_OIDC_ISSUER is configured and the hub would listen on {host}: the built-in "
            "development issuer serves on a loopback address only. Configure your IdP "
            "(MDM_OIDC_ISSUER, MDM_OIDC_AUDIENCE; see docs/security.md) or bind to 127.0.0.1"
        )
    issuer = DevIssuer.url_for(host, port)
    return DevIssuer.load_or_create(settings.data_dir, issuer, settings.oidc_audience)


def cmd_dev_token(
    settings: Settings,
    roles: list[str],
    scopes: list[str],
    subject: str,
    hours: float,
    host: str | None,
    port: int | None,
) -> int:
    """Print a token of the development issuer (for a hub served on loopback, no IdP)."""
    from mdm_hub.auth.dev_issuer import DevIssuer, is_loopback

    host = host or settings.host
    port = port or settings.port
    if settings.oidc_issuer or not is_loopback(host):
        raise StartupError("dev-token is for the development issuer (loopback, no MDM_OIDC_ISSUER)")
    if not (settings.data_dir / "dev-issuer" / "key.json").exists():
        raise StartupError(f"no development issuer key in {settings.data_dir}: run `mdm-hub serve`")
    issuer = DevIssuer.load_or_create(
        settings.data_dir, DevIssuer.url_for(host, port), settings.oidc_audience
    )
    print(
        issuer.mint(
            subject=subject,
            roles=roles if roles or scopes else ["administrator"],
            scopes=scopes,
            lifetime_seconds=int(hours * 3600),
        )
    )
    return 0


def _exit_cleanly(signum: int, frame: object) -> None:
    sys.exit(0)


def cmd_worker(settings: Settings) -> int:
    """Deliver webhooks until SIGTERM/SIGINT (then finish or release in-flight deliveries)."""
    import asyncio

    from mdm_hub.events.worker import run_worker
    from mdm_hub.housekeeping import PERIODIC_JOBS
    from mdm_hub.migrate import upgrade

    url = resolve_database_url(settings)
    if not settings.database_url:
        upgrade(url)  # the embedded database: same as serve
    check_database(url)
    try:  # uvloop (from uvicorn[standard]) halves the event loop's share of each delivery
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(run_worker(settings.model_copy(update={"database_url": url}), PERIODIC_JOBS))
    return 0


def cmd_matching_refit(settings: Settings, output: Path, max_pairs: int) -> int:
    """Refit the matching weights on this hub's data and write a new weights file."""
    import asyncio

    from mdm_hub.db import create_engine, create_sessionmaker
    from mdm_hub.matching.refit import RefitData, collect_pairs, refit, write_weights
    from mdm_hub.matching.service import match_config

    url = resolve_database_url(settings)
    check_database(url)

    async def collect() -> RefitData:
        engine = create_engine(url, settings)
        try:
            async with create_sessionmaker(engine)() as session:
                return await collect_pairs(
                    session, max_pairs=max_pairs, max_block_size=settings.match_max_block_size
                )
        finally:
            await engine.dispose()

    data = asyncio.run(collect())
    config = match_config(settings)
    version = output.stem.removeprefix("weights_") or f"{config.version}-refit"
    result = refit(data, config, version)
    print(result.summary())
    write_weights(result, output)
    print(f"wrote {output}; adopt it with MDM_MATCH_CONFIG_PATH={output} after reading the above")
    return 0


def cmd_matching_reindex(settings: Settings, batch_size: int) -> int:
    """Recompute every source record's blocking keys (after a release or a weights change)."""
    import asyncio

    from mdm_hub.db import create_engine
    from mdm_hub.matching.reindex import ReindexResult, reindex
    from mdm_hub.matching.service import match_config

    url = resolve_database_url(settings)
    check_database(url)

    async def run() -> ReindexResult:
        engine = create_engine(url, settings)
        try:
            return await reindex(
                engine,
                match_config(settings),
                batch_size=batch_size,
                progress=lambda r: print(f"  {r.source_records:,} source records", flush=True),
            )
        finally:
            await engine.dispose()

    print(asyncio.run(run()).summary())
    return 0


def openapi_document() -> dict[str, Any]:
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
    commands.add_parser("worker", help="deliver webhooks (several may run at once)")
    dev_token = commands.add_parser(
        "dev-token", help="print a token of the built-in development issuer (no IdP, loopback)"
    )
    dev_token.add_argument("--role", action="append", default=[], help="hub role (repeatable)")
    dev_token.add_argument("--scope", action="append", default=[], help="scope (repeatable)")
    dev_token.add_argument("--subject", default="dev-user")
    dev_token.add_argument("--hours", type=float, default=8)
    dev_token.add_argument("--host")
    dev_token.add_argument("--port", type=int)
    commands.add_parser("migrate", help="upgrade the database schema to the latest revision")
    refit_parser = commands.add_parser(
        "matching-refit", help="estimate matching weights from this hub's data (EM)"
    )
    refit_parser.add_argument("--output", type=Path, required=True, help="new weights file")
    refit_parser.add_argument("--max-pairs", type=int, default=50_000)
    reindex_parser = commands.add_parser(
        "matching-reindex",
        help="recompute every source record's blocking keys (after an upgrade or weights change)",
    )
    reindex_parser.add_argument("--batch-size", type=int, default=1000)
    openapi = commands.add_parser("openapi", help="write the OpenAPI document")
    openapi.add_argument("--output", type=Path, help="file to write (default: stdout)")
    args = parser.parse_args(argv)

    settings = get_settings()
    configure_logging(settings.log_level, json_lines=settings.log_format == "json")
    try:
        return _run(args, settings)
    except StartupError as exc:
        logger.error("not starting: %s", exc)
        print(f"mdm-hub: not starting: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "serve":
        return cmd_serve(settings, args.host, args.port)
    if args.command == "worker":
        return cmd_worker(settings)
    if args.command == "dev-token":
        return cmd_dev_token(
            settings, args.role, args.scope, args.subject, args.hours, args.host, args.port
        )
    if args.command == "migrate":
        return cmd_migrate(settings)
    if args.command == "matching-refit":
        return cmd_matching_refit(settings, args.output, args.max_pairs)
    if args.command == "matching-reindex":
        return cmd_matching_reindex(settings, args.batch_size)
    return cmd_openapi(args.output)


if __name__ == "__main__":
    sys.exit(main())
