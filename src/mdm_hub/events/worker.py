"""`mdm-hub worker`: the process entry of the webhook worker (signals, the dispatcher loop) and
its /healthz and /metrics server."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from mdm_hub.events.dispatcher import Dispatcher, Housekeeping
from mdm_hub.settings import Settings

# The dispatcher's logger: the worker's lines read as they did before the split.
logger = logging.getLogger("mdm_hub.events.dispatcher")


async def run_worker(
    settings: Settings,
    housekeeping: Sequence[Housekeeping] = (),
    also: Callable[[AsyncEngine, asyncio.Event], Awaitable[None]] | None = None,
) -> None:
    """`mdm-hub worker`: run until SIGTERM or SIGINT, then stop cleanly. ``also``: other work
    run beside the deliveries until the same stop (the import jobs)."""
    from mdm_hub.db import create_engine

    assert settings.database_url
    engine = create_engine(settings.database_url, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    logger.info("webhook worker started")
    http = await start_worker_http(engine, settings.worker_http_port, stop, settings)
    try:
        dispatcher = Dispatcher(engine, settings, housekeeping=housekeeping)
        if also is None:
            await dispatcher.run(stop)
        else:
            await asyncio.gather(dispatcher.run(stop), also(engine, stop))
    finally:
        if http is not None:
            await http.cleanup()
        await engine.dispose()
    logger.info("webhook worker stopped")


async def start_worker_http(
    engine: AsyncEngine, port: int | None, stop: asyncio.Event, settings: Settings | None = None
) -> web.AppRunner | None:
    """/healthz (200 until shutdown begins) and /metrics for a worker pod, when a port is set."""
    if port is None:
        return None
    from prometheus_client import CONTENT_TYPE_LATEST

    from mdm_hub.observability.metrics import exposition, refresh_gauges

    async def healthz(request: web.Request) -> web.Response:
        if stop.is_set():
            return web.json_response({"status": "stopping"}, status=503)
        return web.json_response({"status": "ok"})

    async def metrics(request: web.Request) -> web.Response:
        try:
            await refresh_gauges(engine, settings)
        except Exception:  # process metrics still matter when the database does not answer
            logger.warning("metrics: database gauges unavailable", exc_info=True)
        return web.Response(body=exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host="0.0.0.0", port=port).start()
    logger.info("worker health and metrics on port %s", port)
    return runner
