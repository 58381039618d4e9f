"""The webhook dispatcher: fan-out, claims, delivery, retries (and, periodically, retention).

The process entry of `mdm-hub worker` and its health/metrics server are in ``worker``; what
retention deletes is in ``retention``.

How events become HTTP requests (docs/webhooks.md has the long version):

1. **Fan-out.** One worker at a time (the single row of ``webhook_fanout_cursor`` is locked
   ``FOR UPDATE SKIP LOCKED``) reads the next events after the cursor in ``(order_txid, seq)``
   order, only those with ``order_txid < pg_snapshot_xmin(pg_current_snapshot())`` (their
   transaction and every one before it has finished, so none can be skipped), inserts one
   ``webhook_deliveries`` row per matching endpoint, marks the (endpoint, customer) pair due in
   ``webhook_queues``, and moves the cursor, all in one transaction.
2. **Claim.** A worker leases due pairs (``FOR UPDATE SKIP LOCKED``, ``leased_until``) and
   takes each pair's head: its pending delivery with the lowest event ``seq``. Only the lease
   holder delivers for a pair, so a customer's events reach an endpoint in order, while other
   customers' pairs are claimed by any worker.
3. **Deliver** the head over HTTP (signed, with timeouts), outside any transaction.
4. **Complete** (batched): record the attempt; on 2xx mark the delivery delivered and make the
   pair's next delivery due; on failure schedule the retry on the pair (the later deliveries of
   that customer wait behind it); after the last retry dead-letter it and move on; on 410
   disable the endpoint. The lease is released.

A worker killed mid-delivery leaves its leases; they expire after ``worker_lease_seconds`` and
another worker delivers again (at least once). SIGTERM stops claiming, lets in-flight attempts
finish (up to ``shutdown_grace_seconds``), records them, releases what it cannot finish.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mdm_hub.auth.masking import webhook_customer_json
from mdm_hub.db import asyncpg_connection
from mdm_hub.events import repository, retention
from mdm_hub.events.signing import (
    THROTTLE_STATUSES,
    AttemptResult,
    Sender,
    active_secrets,
    event_body,
)
from mdm_hub.settings import Settings

logger = logging.getLogger(__name__)

NOTIFY_CHANNEL = "mdm_hub_webhooks"


@dataclass
class Claim:
    endpoint_id: uuid.UUID
    customer_id: uuid.UUID
    token: uuid.UUID
    delivery_id: int | None
    attempts: int
    url: str = ""
    secrets: list[str] = field(default_factory=list)
    msg_id: str = ""
    body: str | None = None


@dataclass
class Outcome:
    """A finished attempt, as the completion step writes it."""

    claim: Claim
    result: AttemptResult | None  # None: nothing was sent (no head, or its event is gone)
    status: str  # delivery status afterwards: pending, delivered, dead
    outcome: str  # attempt outcome: delivered, retrying, dead, disabled
    delay: float | None  # seconds until the pair is due again; None: due now if more pending
    error: str | None = None


def retry_delay(settings: Settings, attempts_made: int, result: AttemptResult) -> float | None:
    """Seconds before the next attempt, or None when the schedule is used up (dead-letter)."""
    schedule = settings.webhook_retry_schedule_seconds
    if attempts_made >= len(schedule):
        return None
    base = schedule[attempts_made]
    jitter = settings.webhook_retry_jitter
    delay = base * random.uniform(1 - jitter, 1 + jitter) if base > 0 else 0.0
    if result.response_status in THROTTLE_STATUSES and result.retry_after is not None:
        delay = max(delay, min(result.retry_after, settings.webhook_retry_after_max_seconds))
    return delay


def decide(settings: Settings, claim: Claim, result: AttemptResult) -> Outcome:
    attempts = claim.attempts + 1
    if result.succeeded:
        return Outcome(claim, result, "delivered", "delivered", None)
    if result.gone:
        return Outcome(claim, result, "pending", "disabled", 0.0)
    delay = retry_delay(settings, attempts, result)
    if delay is None:
        return Outcome(claim, result, "dead", "dead", None)
    return Outcome(claim, result, "pending", "retrying", delay)


# A periodic job of another feature (privacy retention, …), run with the worker's pruning. The
# frame (app.py, cli.py) hands them in, so that events needs no feature above it.
Housekeeping = Callable[[AsyncEngine, Settings], Awaitable[object]]


class Dispatcher:
    """One worker. Several may run at once, in one process or many."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: Settings,
        *,
        sender: Sender | None = None,
        housekeeping: Sequence[Housekeeping] = (),
    ) -> None:
        if settings.worker_lease_seconds <= settings.webhook_timeout_seconds:
            raise ValueError(
                "MDM_WORKER_LEASE_SECONDS must exceed MDM_WEBHOOK_TIMEOUT_SECONDS, or a slow "
                "attempt's pair could be claimed by a second worker and sent out of order"
            )
        self.engine = engine
        self.settings = settings
        self._sender = sender
        self._own_sender = sender is None
        self._wake = asyncio.Event()
        self._inflight: dict[asyncio.Task[None], Claim] = {}
        self._results: asyncio.Queue[Outcome | None] = asyncio.Queue()
        self._listener: Any = None
        self._listen_conn: AsyncConnection | None = None
        self._housekeeping = tuple(housekeeping)
        self._next_prune = 0.0
        self._next_fan_out = 0.0
        self._fan_out_hint = True

    # ---------------------------------------------------------------------------------------
    # Fan-out
    # ---------------------------------------------------------------------------------------

    async def fan_out_once(self) -> int:
        """Turn the next batch of final events into deliveries; returns how many events."""
        async with self.engine.begin() as conn:
            cursor = await repository.lock_fanout_cursor(conn)
            if cursor is None:
                await repository.ensure_fanout_cursor(conn)
                return 0  # another worker is fanning out (or the row was just made)
            from_txid, from_seq = cursor
            batch = await repository.final_events_after(
                conn, from_txid, from_seq, self.settings.worker_batch_size
            )
            if not batch:
                return 0
            to_txid, to_seq = batch[-1]
            await repository.fan_out(conn, (from_txid, from_seq), (to_txid, to_seq))
            await repository.move_fanout_cursor(conn, to_txid, to_seq)
        return len(batch)

    # ---------------------------------------------------------------------------------------
    # Claims
    # ---------------------------------------------------------------------------------------

    async def claim(self, limit: int) -> list[Claim]:
        token = uuid.uuid4()
        async with self.engine.begin() as conn:
            rows = await repository.claim_due(
                conn, limit, self.settings.worker_lease_seconds, token
            )
        claims = []
        for row in rows:
            claim = Claim(
                endpoint_id=row.endpoint_id,
                customer_id=row.customer_id,
                token=token,
                delivery_id=row.delivery_id,
                attempts=row.attempts or 0,
                url=row.url,
                secrets=active_secrets(
                    row.secret, row.previous_secret, row.previous_secret_expires_at
                ),
                msg_id=str(row.event_id) if row.event_id else "",
            )
            if row.delivery_id is not None and row.event_type is not None:
                customer = webhook_customer_json(
                    row.payload_json, self.settings.webhook_include_pii
                )
                claim.body = event_body(row, row.changed_fields_json, customer)
            claims.append(claim)
        return claims

    # ---------------------------------------------------------------------------------------
    # Delivery and completion
    # ---------------------------------------------------------------------------------------

    async def deliver(self, claim: Claim) -> Outcome:
        if claim.delivery_id is None:
            return Outcome(claim, None, "pending", "retrying", None)  # nothing pending: release
        if claim.body is None:
            return Outcome(claim, None, "dead", "dead", None, error="the event no longer exists")
        assert self._sender is not None
        result = await self._sender.post(claim.url, claim.secrets, claim.msg_id, claim.body)
        return decide(self.settings, claim, result)

    async def complete(self, outcomes: list[Outcome]) -> None:
        """Write a batch of finished attempts in one transaction."""
        outcomes = sorted(outcomes, key=lambda o: (o.claim.endpoint_id, o.claim.customer_id))
        async with self.engine.begin() as conn:
            await repository.lock_queues(
                conn,
                [o.claim.endpoint_id for o in outcomes],
                [o.claim.customer_id for o in outcomes],
            )
            tried = [o for o in outcomes if o.claim.delivery_id is not None]
            if tried:
                await self._record(conn, tried)
            for o in outcomes:
                if o.outcome == "disabled" and o.result is not None:
                    await repository.disable_endpoint(
                        conn,
                        o.claim.endpoint_id,
                        f"410 Gone at {o.result.attempted_at.isoformat()}",
                    )
            await repository.release_queues(
                conn,
                [o.claim.endpoint_id for o in outcomes],
                [o.claim.customer_id for o in outcomes],
                [o.claim.token for o in outcomes],
                [o.delay for o in outcomes],
            )

    async def _record(self, conn: AsyncConnection, outcomes: list[Outcome]) -> None:
        ids = [o.claim.delivery_id for o in outcomes]
        results = [o.result for o in outcomes]
        at = [r.attempted_at if r else None for r in results]
        delays = [o.delay for o in outcomes]
        await repository.finish_deliveries(conn, ids, [o.status for o in outcomes], delays, at)
        await repository.insert_attempts(
            conn,
            {
                "id": ids,
                "endpoint": [o.claim.endpoint_id for o in outcomes],
                "attempt": [o.claim.attempts + 1 for o in outcomes],
                "at": at,
                "outcome": [o.outcome for o in outcomes],
                "status": [r.response_status if r else None for r in results],
                "latency": [r.latency_ms if r else 0 for r in results],
                "error": [o.error or (o.result.error if o.result else None) for o in outcomes],
                "delay": delays,
            },
        )

    async def release(self, claims: list[Claim]) -> None:
        """Give leases back without an attempt (shutdown); the pairs are due again at once."""
        if not claims:
            return
        async with self.engine.begin() as conn:
            await repository.release_leases(
                conn,
                [c.endpoint_id for c in claims],
                [c.customer_id for c in claims],
                [c.token for c in claims],
            )

    # ---------------------------------------------------------------------------------------
    # Pruning
    # ---------------------------------------------------------------------------------------

    async def prune(self) -> int:
        """Delete finished deliveries (and their attempts) past retention; idle queue rows;
        then the other features' periodic jobs (``housekeeping``), each in its own
        transaction."""
        deleted = await retention.prune(self.engine, self.settings)
        for job in self._housekeeping:
            await job(self.engine, self.settings)
        return deleted

    # ---------------------------------------------------------------------------------------
    # The loop
    # ---------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Work until ``stop`` is set, then finish or release what is in flight."""
        if self._sender is None:
            self._sender = Sender(self.settings, self.settings.worker_concurrency)
        completer = asyncio.create_task(self._complete_loop(), name="webhook-completer")
        stop_waiter = asyncio.create_task(stop.wait())
        try:
            await self._listen()
            while not stop.is_set():
                self._wake.clear()  # before the step: a wake-up during it is not lost
                busy = await self._step()
                if busy:
                    await asyncio.sleep(0)
                    continue
                waiter = asyncio.create_task(self._wake.wait())
                await asyncio.wait(
                    {waiter, stop_waiter},
                    timeout=self.settings.worker_poll_interval_seconds,
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waiter.cancel()
        finally:
            stop_waiter.cancel()
            await self._shutdown(completer)

    async def _step(self) -> bool:
        """One round of fan-out, claims and pruning. True when there is more to do at once."""
        loop = asyncio.get_running_loop()
        settings = self.settings
        more = False
        try:
            now = loop.time()
            if self._fan_out_hint or now >= self._next_fan_out:
                self._fan_out_hint = False
                self._next_fan_out = now + settings.worker_poll_interval_seconds
                fanned = await self.fan_out_once()
                if fanned >= settings.worker_batch_size:
                    self._fan_out_hint = more = True
            free = settings.worker_concurrency - len(self._inflight)
            # Claim in batches (a quarter of the slots at least), unless idle: fewer, larger
            # claim transactions.
            if free > 0 and (
                free >= max(1, settings.worker_concurrency // 4) or not self._inflight
            ):
                claimed = await self.claim(free)
                for claim in claimed:
                    task = asyncio.create_task(self._deliver_task(claim))
                    self._inflight[task] = claim
                    task.add_done_callback(self._task_done)
                more = more or len(claimed) >= free
            if now >= self._next_prune:
                self._next_prune = now + settings.worker_prune_interval_seconds
                await self.prune()
            if self._listen_conn is None or self._listen_conn.closed:
                await self._listen()
        except Exception:
            logger.exception("webhook worker step failed; retrying after the poll interval")
            return False
        return more

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._inflight.pop(task, None)
        if not self._inflight:
            self._wake.set()

    async def _deliver_task(self, claim: Claim) -> None:
        try:
            outcome = await self.deliver(claim)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug, not the receiver's failure: retry like a failure
            logger.exception("delivery %s failed unexpectedly", claim.delivery_id)
            result = AttemptResult(
                attempted_at=dt.datetime.now(dt.UTC),
                response_status=None,
                latency_ms=0,
                error=f"internal: {type(exc).__name__}",
            )
            outcome = decide(self.settings, claim, result)
        self._results.put_nowait(outcome)

    async def _complete_loop(self) -> None:
        while True:
            first = await self._results.get()
            if first is None:
                return
            batch = [first]
            done = False
            while len(batch) < 1000:
                try:
                    item = self._results.get_nowait()
                except asyncio.QueueEmpty:
                    break
                if item is None:
                    done = True
                    break
                batch.append(item)
            await self._complete_with_retries(batch)
            self._wake.set()
            if done:
                return

    async def _complete_with_retries(self, batch: list[Outcome]) -> None:
        for attempt in range(3):
            try:
                await self.complete(batch)
                return
            except Exception:
                logger.exception("recording %d webhook attempts failed", len(batch))
                await asyncio.sleep(0.2 * (attempt + 1))
        # What could not be recorded is delivered again once its lease expires (at least once).
        for outcome in batch:
            try:
                if len(batch) == 1:  # already tried three times
                    raise RuntimeError("recording failed three times")
                await self.complete([outcome])  # one bad row must not lose the others
            except Exception:
                logger.exception(
                    "could not record the attempt of delivery %s (endpoint %s, customer %s); "
                    "it is sent again when its lease expires",
                    outcome.claim.delivery_id,
                    outcome.claim.endpoint_id,
                    outcome.claim.customer_id,
                )

    async def _shutdown(self, completer: asyncio.Task[None]) -> None:
        await self._unlisten()
        if self._inflight:
            logger.info("webhook worker stopping: %d deliveries in flight", len(self._inflight))
            _, pending = await asyncio.wait(
                set(self._inflight), timeout=self.settings.shutdown_grace_seconds
            )
            unfinished = [self._inflight[t] for t in pending if t in self._inflight]
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            try:
                await self.release(unfinished)
            except Exception:
                logger.exception(
                    "could not release the leases of deliveries %s at shutdown; they are "
                    "claimed again when the leases expire",
                    [c.delivery_id for c in unfinished],
                )
        self._results.put_nowait(None)
        await completer
        if self._own_sender and self._sender is not None:
            await self._sender.aclose()
            self._sender = None

    # ---------------------------------------------------------------------------------------
    # LISTEN/NOTIFY: a hint that wakes the loop early; polling alone is correct.
    # ---------------------------------------------------------------------------------------

    async def _listen(self) -> None:
        try:
            conn = await self.engine.connect()
            driver = await asyncpg_connection(conn)
            self._listener = self._notified
            await driver.add_listener(NOTIFY_CHANNEL, self._listener)
            self._listen_conn = conn
        except Exception:
            logger.warning("LISTEN %s failed; polling only", NOTIFY_CHANNEL, exc_info=True)
            self._listen_conn = None

    def _notified(self, *args: Any) -> None:
        if args and args[-1] == "events":
            self._fan_out_hint = True
        self._wake.set()

    async def _unlisten(self) -> None:
        conn, self._listen_conn = self._listen_conn, None
        if conn is None:
            return
        with contextlib.suppress(Exception):
            driver = await asyncpg_connection(conn)
            await driver.remove_listener(NOTIFY_CHANNEL, self._listener)
        with contextlib.suppress(Exception):
            await conn.close()
