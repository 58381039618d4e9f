"""`mdm-hub serve | worker | import | migrate | openapi | matching-refit | dev-token | nta |
invoice`."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdm_hub.observability.logs import configure_logging
from mdm_hub.settings import Settings, get_settings

if TYPE_CHECKING:
    import asyncio

    from sqlalchemy.ext.asyncio import AsyncEngine

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

    from mdm_hub.db import schema_revision_at
    from mdm_hub.migrate import migration_head, schema_is_behind

    try:
        current = asyncio.run(schema_revision_at(url))
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


def with_field_key(settings: Settings, *, loopback: bool) -> Settings:
    """Settings with MDM_FIELD_ENCRYPTION_KEY: the one set, else (on loopback) the one in the
    data folder, made when ``mdm-hub serve`` starts there the first time."""
    from pydantic import SecretStr

    from mdm_hub.privacy.fields import KEY_FILE, local_key_text

    if settings.field_encryption_key is not None:
        return settings
    text = local_key_text(settings.data_dir, create=loopback)
    if text is None:
        raise StartupError(
            "no MDM_FIELD_ENCRYPTION_KEY is set (and no "
            f"{settings.data_dir / KEY_FILE}): set the key the hub's personal data is encrypted "
            "with (docs/operations.md); `mdm-hub serve` on loopback makes one"
        )
    return settings.model_copy(update={"field_encryption_key": SecretStr(text)})


def _open_keyring(settings: Settings, engine: AsyncEngine) -> Coroutine[Any, Any, None]:
    from mdm_hub.encryption import install_keyring
    from mdm_hub.privacy.fields import open_keyring

    assert settings.field_encryption_key is not None
    current = settings.field_encryption_key.get_secret_value()

    async def run() -> None:
        previous = settings.field_encryption_key_previous
        install_keyring(
            await open_keyring(
                engine,
                current,
                previous.get_secret_value() if previous else None,
            )
        )

    return run()


def _database(
    settings: Settings, *, loopback: bool, upgrade_embedded: bool = False
) -> tuple[Settings, str]:
    """The settings with the field key (``with_field_key``) and the database's URL, checked to
    be at the schema's head; with ``upgrade_embedded`` the embedded database (no
    MDM_DATABASE_URL, it belongs to this process) is first brought there."""
    settings = with_field_key(settings, loopback=loopback)
    url = resolve_database_url(settings)
    if upgrade_embedded and not settings.database_url:
        from mdm_hub.migrate import upgrade

        upgrade(url)
    check_database(url)
    return settings, url


@asynccontextmanager
async def _engine(
    settings: Settings, url: str, *, keyring: bool = True
) -> AsyncIterator[AsyncEngine]:
    """An engine on ``url``, disposed after; with ``keyring`` the data keys are installed first
    (for a command that reads or writes sealed values)."""
    from mdm_hub.db import create_engine

    engine = create_engine(url, settings)
    try:
        if keyring:
            await _open_keyring(settings, engine)
        yield engine
    finally:
        await engine.dispose()


async def _load_keyring(settings: Settings) -> None:
    assert settings.database_url
    async with _engine(settings, settings.database_url):
        pass


def cmd_serve(settings: Settings, host: str | None, port: int | None) -> int:
    import uvicorn

    from mdm_hub.app import create_app

    host = host or settings.host
    port = port or settings.port
    dev_issuer = _dev_issuer(settings, host, port)  # before anything starts: may refuse
    from mdm_hub.auth.dev_issuer import is_loopback

    settings, url = _database(settings, loopback=is_loopback(host), upgrade_embedded=True)
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

    settings, url = _database(settings, loopback=False, upgrade_embedded=True)
    try:  # uvloop (from uvicorn[standard]) halves the event loop's share of each delivery
        import uvloop

        loop_factory = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    settings = settings.model_copy(update={"database_url": url})
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(_load_keyring(settings))  # the worker decrypts the payloads it sends
        runner.run(
            run_worker(
                settings,
                PERIODIC_JOBS,
                also=lambda engine, stop: _import_jobs(engine, stop, settings),
            )
        )
    return 0


async def _import_jobs(engine: AsyncEngine, stop: asyncio.Event, settings: Settings) -> None:
    """Import jobs and the reload of the field encryption keys, beside the webhook deliveries
    of `mdm-hub worker`."""
    import asyncio

    from mdm_hub.db import create_sessionmaker
    from mdm_hub.imports.service import Runner
    from mdm_hub.privacy.fields import refresh_keyring

    assert settings.field_encryption_key is not None
    await asyncio.gather(
        Runner(create_sessionmaker(engine), settings, settings.import_batch_size).run(stop),
        refresh_keyring(
            engine,
            settings.field_encryption_key,
            settings.field_key_refresh_seconds,
            stop,
            settings.field_encryption_key_previous,
        ),
    )


def cmd_matching_refit(settings: Settings, output: Path, max_pairs: int) -> int:
    """Refit the matching weights on this hub's data and write a new weights file."""
    import asyncio

    from mdm_hub.db import create_sessionmaker
    from mdm_hub.matching.refit import RefitData, collect_pairs, refit, write_weights
    from mdm_hub.matching.service import match_config

    settings, url = _database(settings, loopback=False)

    async def collect() -> RefitData:
        async with _engine(settings, url) as engine, create_sessionmaker(engine)() as session:
            return await collect_pairs(
                session, max_pairs=max_pairs, max_block_size=settings.match_max_block_size
            )

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

    from mdm_hub.matching.reindex import ReindexResult, reindex
    from mdm_hub.matching.service import match_config

    settings, url = _database(settings, loopback=False)

    async def run() -> ReindexResult:
        async with _engine(settings, url) as engine:
            return await reindex(
                engine,
                match_config(settings),
                batch_size=batch_size,
                progress=lambda r: print(f"  {r.source_records:,} source records", flush=True),
            )

    print(asyncio.run(run()).summary())
    return 0


# The exit status of `mdm-hub keys rotate|rewrap` when another key operation is running
# (EX_TEMPFAIL: nothing was done; run it again once the other has ended).
KEY_OPERATION_RUNNING = 75


def cmd_keys_rotate(settings: Settings, batch_size: int, settle_seconds: float | None) -> int:
    """A new data key, every stored value re-encrypted under it (online, resumable)."""
    import asyncio

    from mdm_hub.encryption import parse_kek
    from mdm_hub.privacy.keylock import KeyOperationRunning
    from mdm_hub.privacy.rotation import rotate

    settings, url = _database(settings, loopback=False)
    assert settings.field_encryption_key is not None
    settle = 2 * settings.field_key_refresh_seconds if settle_seconds is None else settle_seconds

    async def run() -> int:
        async with _engine(settings, url, keyring=False) as engine:
            assert settings.field_encryption_key is not None
            try:
                result = await rotate(
                    engine,
                    parse_kek(settings.field_encryption_key.get_secret_value()),
                    batch_size=batch_size,
                    settle_seconds=settle,
                    progress=lambda line: print(f"  {line}", flush=True),
                )
            except KeyOperationRunning as exc:
                print(f"mdm-hub keys rotate: {exc}", file=sys.stderr)
                return KEY_OPERATION_RUNNING
        rewritten = sum(result.rewritten.values())
        print(
            f"data key {result.key_id} active{' (resumed)' if result.resumed else ''}: "
            f"{rewritten:,} values re-encrypted in {result.passes} pass(es); "
            f"dropped {', '.join(result.dropped) or 'no key'}"
        )
        return 0

    return asyncio.run(run())


def cmd_keys_rewrap(settings: Settings) -> int:
    """Re-wrap every stored key under MDM_FIELD_ENCRYPTION_KEY (the new KEK), opening the ones
    not yet re-wrapped with MDM_FIELD_ENCRYPTION_KEY_PREVIOUS (online, resumable)."""
    import asyncio

    from mdm_hub.encryption import EncryptionError, parse_kek
    from mdm_hub.privacy.keylock import KeyOperationRunning
    from mdm_hub.privacy.rewrap import RewrapResult, rewrap

    key, previous = settings.field_encryption_key, settings.field_encryption_key_previous
    if key is None or previous is None:
        print(
            "mdm-hub keys rewrap: set MDM_FIELD_ENCRYPTION_KEY to the new key and "
            "MDM_FIELD_ENCRYPTION_KEY_PREVIOUS to the one it replaces",
            file=sys.stderr,
        )
        return 2
    url = resolve_database_url(settings)
    check_database(url)

    async def run() -> RewrapResult:
        async with _engine(settings, url, keyring=False) as engine:
            return await rewrap(
                engine,
                parse_kek(key.get_secret_value()),
                parse_kek(previous.get_secret_value()),
                progress=lambda line: print(f"  {line}", flush=True),
            )

    try:
        print(asyncio.run(run()).summary(), flush=True)
    except EncryptionError as exc:
        print(f"mdm-hub keys rewrap: {exc}", file=sys.stderr)
        return 1
    except KeyOperationRunning as exc:
        print(f"mdm-hub keys rewrap: {exc}", file=sys.stderr)
        return KEY_OPERATION_RUNNING
    return 0


def cmd_backup(settings: Settings, folder: Path, keep_days: float | None) -> int:
    """A pg_dump of the hub's database into ``folder`` (the Helm chart's backup CronJob)."""
    from mdm_hub.backup import backup

    url = resolve_database_url(settings)
    check_database(url)
    result = backup(url, folder, keep_days=keep_days)
    print(f"{result.path} ({result.size:,} bytes)", flush=True)
    for old in result.pruned:
        print(f"pruned {old}", flush=True)
    return 0


def cmd_import(settings: Settings, args: argparse.Namespace) -> int:
    """Import a CSV/TSV/xlsx file (or the generated sample) through the write path."""
    import asyncio
    import tempfile

    from mdm_hub.imports.cli import run_import, summary
    from mdm_hub.imports.mapping import MappingFileError, load_mapping
    from mdm_hub.imports.reader import _normalized_encoding
    from mdm_hub.imports.service import ImportOptions

    files: list[tuple[Path, str]] = []
    if args.sample:
        from mdm_hub.imports.sample import write_sample

        folder = Path(tempfile.mkdtemp(prefix="mdm-sample-"))
        files = write_sample(folder, customers=args.sample_size)
    elif args.file is None or args.system is None:
        print("mdm-hub import: give FILE and --system (or --sample)", file=sys.stderr)
        return 2
    else:
        if not args.file.is_file():
            print(f"mdm-hub import: no file {args.file}", file=sys.stderr)
            return 2
        files = [(args.file, args.system)]
    try:
        mapping = load_mapping(args.mapping) if args.mapping else None
        if args.encoding:
            _normalized_encoding(args.encoding)
    except (MappingFileError, ValueError) as exc:
        print(f"mdm-hub import: {exc}", file=sys.stderr)
        return 2
    settings, url = _database(settings, loopback=not settings.database_url, upgrade_embedded=True)
    # The rows are stored sealed and written through the write path: the keys first.
    asyncio.run(_load_keyring(settings.model_copy(update={"database_url": url})))
    status = 0
    for path, system in files:
        options = ImportOptions(
            system=system,
            filename=path.name,
            encoding=args.encoding,
            sheet=args.sheet,
            kind=args.kind,
            mapping=mapping,
            dry_run=args.dry_run,
            summary_event=args.summary_event,
        )
        job = asyncio.run(run_import(url, settings, path, options, batch_size=args.batch_size))
        print(summary(job))
        status = status or (0 if job.status == "done" else 1)
    return status


def cmd_registry_import(
    settings: Settings,
    kind: str,
    path: Path,
    encoding: str | None,
    batch_size: int,
    restart: bool,
    apply: bool = True,
) -> int:
    """Import a published 法人番号 or インボイス file into the registry (resumable); for the
    法人番号 registry, then apply it to customers (``cmd_registry_apply``)."""
    import asyncio

    from mdm_hub.db import sqlalchemy_url
    from mdm_hub.registry.importer import Progress, RegistryFileError, import_file

    url = resolve_database_url(settings)
    check_database(url)
    dsn = sqlalchemy_url(url).replace("postgresql+asyncpg://", "postgresql://")

    def report(state: Progress) -> None:
        print(
            f"  {state.member}: row {state.rows_read:,} ({state.rows_imported:,} imported, "
            f"{state.rows_rejected:,} rejected this run; {state.rate():,.0f} rows/s)",
            file=sys.stderr,
            flush=True,
        )

    # A folder: every .zip and .csv in it, in name order (dated names sort by date); files
    # imported before are recognised by their checkpoint and skipped.
    paths = (
        sorted(p for p in path.iterdir() if p.suffix.lower() in (".zip", ".csv"))
        if path.is_dir()
        else [path]
    )
    results = []
    try:
        for one in paths:
            results += asyncio.run(
                import_file(
                    dsn,
                    one,
                    kind,
                    encoding=encoding,
                    batch_size=batch_size,
                    restart=restart,
                    progress=report,
                )
            )
    except RegistryFileError as exc:
        print(f"mdm-hub {kind} import: {exc}", file=sys.stderr)
        return 1
    busy = False
    for result in results:
        if result.state == "busy":
            busy = True
            print(f"{result.member}: another process is importing this file now; nothing done")
            continue
        if result.state == "already_imported":
            print(
                f"{result.member}: already imported ({result.rows_imported:,} rows, "
                f"{result.rows_rejected:,} rejected); --restart to import it again"
            )
            continue
        resumed = f", resumed after row {result.resumed_at:,}" if result.resumed_at else ""
        print(
            f"{result.member} ({result.encoding}{resumed}): {result.rows_read:,} rows read, "
            f"{result.rows_imported:,} imported, {result.rows_rejected:,} rejected"
        )
        for error in result.first_rejects:
            print(f"  rejected row {error.row_number}: {error.reason}")
        if result.rows_rejected > len(result.first_rejects):
            print("  (every rejected row is in the table registry_import_rejects)")
    if busy:
        return 3
    if kind == "nta" and apply:
        return cmd_registry_apply(settings)
    return 0


def cmd_registry_apply(settings: Settings, *, recheck: bool = False) -> int:
    """Link customers to the NTA registry by 法人番号 and apply the registry's changes to
    linked customers (the ``nta`` source record, closure, successor, withdrawal)."""
    import asyncio

    from mdm_hub.db import create_sessionmaker
    from mdm_hub.enrichment.proposals import ProposeResult, propose
    from mdm_hub.enrichment.service import ApplyResult, apply_registry

    settings, url = _database(settings, loopback=not settings.database_url)

    async def run() -> tuple[ApplyResult, ProposeResult]:
        # The keyring: it writes through the write path (sealed).
        async with _engine(settings, url) as engine:
            sessions = create_sessionmaker(engine)
            applied = await apply_registry(sessions, settings)
            return applied, await propose(sessions, settings, recheck=recheck)

    result, proposed = asyncio.run(run())
    print(
        f"registry applied: {result.linked:,} customers linked by 法人番号, "
        f"{result.applied:,} linked customers updated, "
        f"{result.state_changed:,} closed/successor/withdrawn changes, "
        f"{len(result.failed):,} failed"
    )
    print(
        f"name + address matching: {proposed.customers:,} customers without 法人番号, "
        f"{proposed.linked:,} linked (sure), {proposed.proposed:,} with proposals for a steward "
        f"({proposed.proposals:,} proposals)"
    )
    for customer_id, reason in result.failed[:20]:
        print(f"  failed {customer_id}: {reason}")
    return 1 if result.failed else 0


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
    commands.add_parser(
        "worker", help="deliver webhooks and run import jobs (several may run at once)"
    )
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
    backup_parser = commands.add_parser(
        "backup", help="pg_dump the database into a folder (custom format) and prune old dumps"
    )
    backup_parser.add_argument("--to", type=Path, required=True, help="the folder of the dumps")
    backup_parser.add_argument(
        "--keep-days", type=float, default=None, help="delete this command's older dumps"
    )
    keys = commands.add_parser(
        "keys",
        help="field encryption keys",
        description="One key operation at a time: while a rotate or rewrap runs, another one "
        f"stops at once (exit status {KEY_OPERATION_RUNNING}) and names the running one.",
    ).add_subparsers(dest="action", required=True)
    rotate_parser = keys.add_parser(
        "rotate",
        help="add a data key and re-encrypt every stored value under it (online, resumable)",
    )
    rotate_parser.add_argument("--batch-size", type=int, default=500)
    rotate_parser.add_argument(
        "--settle-seconds",
        type=float,
        default=None,
        help="wait between the steps so every process loads the new key "
        "(default: twice MDM_FIELD_KEY_REFRESH_SECONDS)",
    )
    keys.add_parser(
        "rewrap",
        help="re-wrap every stored key under a new MDM_FIELD_ENCRYPTION_KEY, opening them with "
        "MDM_FIELD_ENCRYPTION_KEY_PREVIOUS (online, resumable)",
    )
    importer = commands.add_parser(
        "import", help="import customers from a CSV, TSV or Excel file (resumable)"
    )
    importer.add_argument("file", type=Path, nargs="?", help="the file (.csv, .tsv, .xlsx)")
    importer.add_argument("--system", help="the source system the rows come from, e.g. crm")
    importer.add_argument("--mapping", type=Path, help="column mapping (YAML or JSON)")
    importer.add_argument("--encoding", help="text encoding (default: detected), e.g. cp932")
    importer.add_argument("--sheet", help="Excel sheet name or number (default: the first)")
    importer.add_argument("--kind", choices=["corporation", "person"], help="for every row")
    importer.add_argument("--dry-run", action="store_true", help="preview; write nothing")
    importer.add_argument(
        "--summary-event",
        action="store_true",
        help="one import.completed webhook event instead of one per customer change (the "
        "change feed keeps every change)",
    )
    importer.add_argument("--batch-size", type=int, default=None, help="rows per transaction")
    importer.add_argument(
        "--sample", action="store_true", help="import generated sample customers (two systems)"
    )
    importer.add_argument("--sample-size", type=int, default=5000, help=argparse.SUPPRESS)
    for kind, what in (
        ("nta", "the NTA 法人番号 registry (基本3情報 CSV: 全件 or 差分, zip or CSV)"),
        ("invoice", "the インボイス registry (適格請求書発行事業者 法人 CSV, zip or CSV)"),
    ):
        registry = commands.add_parser(kind, help=what).add_subparsers(dest="action", required=True)
        registry_import = registry.add_parser(
            "import", help="import a downloaded file (streams; run again to resume)"
        )
        registry_import.add_argument(
            "file", type=Path, help="a downloaded zip or CSV, or a folder of them (name order)"
        )
        registry_import.add_argument(
            "--encoding", help="utf-8 or shift_jis (default: judged from the file)"
        )
        registry_import.add_argument("--batch-size", type=int, default=5000)
        registry_import.add_argument(
            "--restart", action="store_true", help="import from the first row again"
        )
        if kind == "nta":
            registry_import.add_argument(
                "--no-apply",
                dest="apply",
                action="store_false",
                help="import only; do not apply the registry to customers (see nta apply)",
            )
            registry.add_parser(
                "apply",
                help="link customers by 法人番号 and apply the registry's changes to them",
            ).add_argument(
                "--recheck",
                action="store_true",
                help="match every unlinked customer without 法人番号 again (by name + address)",
            )
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
    if args.command == "backup":
        return cmd_backup(settings, args.to, args.keep_days)
    if args.command == "keys" and args.action == "rewrap":
        return cmd_keys_rewrap(settings)
    if args.command == "keys":
        return cmd_keys_rotate(settings, args.batch_size, args.settle_seconds)
    if args.command == "import":
        if args.batch_size is None:
            args.batch_size = settings.import_batch_size
        return cmd_import(settings, args)
    if args.command == "nta" and args.action == "apply":
        return cmd_registry_apply(settings, recheck=args.recheck)
    if args.command in ("nta", "invoice"):
        return cmd_registry_import(
            settings,
            args.command,
            args.file,
            args.encoding,
            args.batch_size,
            args.restart,
            getattr(args, "apply", False),
        )
    return cmd_openapi(args.output)


if __name__ == "__main__":
    sys.exit(main())
