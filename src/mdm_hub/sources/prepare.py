"""Step 2 of the write path: payloads ready to write — normalized, custom fields validated, NUL
refused, blocking keys computed — against one configuration. A batch is the unit."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub import heap
from mdm_hub.custom_fields.service import Configuration
from mdm_hub.customers.prepare import changes_json, normalize_with
from mdm_hub.errors import FieldProblem, ProblemError, validation_problem
from mdm_hub.matching import service as matching
from mdm_hub.matching.keys import BlockingKey
from mdm_hub.normalize import postal
from mdm_hub.record import CustomerIn, CustomerRecord
from mdm_hub.settings import Settings


@dataclass
class Prepared:
    """A payload normalized and validated against one configuration."""

    config: Configuration
    changes: list[dict[str, Any]]  # what normalization changed (changes_json)
    normalized: dict[str, Any]
    record: CustomerRecord
    keys: list[BlockingKey]
    findings: list[dict[str, Any]]  # quality findings (issue 18) to store with the record

    def to_json(self) -> dict[str, Any]:
        """What :func:`prepare` can take again as ``ready`` (kept by import staging)."""
        return {
            "fingerprint": self.config.fingerprint,
            "changes": self.changes,
            "normalized": self.normalized,
            "keys": [[k.kind, k.value] for k in self.keys],
            "findings": self.findings,
        }

    @classmethod
    def from_json(cls, config: Configuration, data: Mapping[str, Any]) -> Prepared:
        return cls(
            config,
            list(data["changes"]),
            dict(data["normalized"]),
            CustomerRecord.model_validate(data["normalized"]),
            [BlockingKey(kind, value) for kind, value in data["keys"]],
            list(data["findings"]),
        )


async def prepare(
    session: AsyncSession,
    settings: Settings,
    payloads: Sequence[CustomerIn],
    config: Configuration,
    ready: Sequence[Mapping[str, Any] | None] | None = None,
) -> list[Prepared | ProblemError]:
    """Each payload ready to write, or the problem (422) that stops it, in the given order.

    ``ready``: what an earlier ``prepare`` of the same payloads kept (``Prepared.to_json``),
    taken as it is when it was prepared against this configuration (its fingerprint)."""
    kept: list[Mapping[str, Any] | None] = [
        r if r is not None and r.get("fingerprint") == config.fingerprint else None
        for r in (ready if ready is not None else [None] * len(payloads))
    ]
    todo = [index for index, r in enumerate(kept) if r is None]
    normalized = await _normalize(payloads, todo, config)
    prepared: list[Prepared | ProblemError] = []
    for index in range(len(payloads)):
        done = normalized.get(index)
        if done is None:
            prepared.append(Prepared.from_json(config, kept[index] or {}))
        elif isinstance(done, list):
            prepared.append(validation_problem(done))
        else:
            record = CustomerRecord.model_validate(done.record)
            keys = matching.record_keys(record, settings)
            prepared.append(
                Prepared(config, done.changes, done.record, record, keys, done.findings)
            )
    return prepared


# Normalization of a large batch runs in a pool of processes (``use_processes``: the import
# command and worker set it; the API's requests are normalized in their own process). Each
# process keeps its own caches keyed by value (normalize/), so a value is worked out once per
# process however many rows repeat it.
POOL_MIN_BATCH = 200
_pool: ProcessPoolExecutor | None = None
_pool_size = 0


def use_processes(count: int) -> None:
    """Normalize batches of ``POOL_MIN_BATCH`` payloads or more in ``count`` processes
    (0 or 1: in this one). The pool starts with the first such batch."""
    global _pool, _pool_size
    if count == _pool_size:
        return
    if _pool is not None:
        _pool.shutdown(cancel_futures=True)
    _pool, _pool_size = None, count


def _executor() -> ProcessPoolExecutor | None:
    global _pool
    if _pool is None and _pool_size > 1:
        _pool = ProcessPoolExecutor(
            _pool_size,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_watch_parent,
            initargs=(os.getpid(),),
        )
    return _pool


PARENT_POLL_SECONDS = 0.5


def _watch_parent(parent: int) -> None:
    """A pool process's initializer: exit as soon as the process that started the pool is gone.

    A parent killed with SIGKILL (or SIGTERM, which skips the pool's shutdown) leaves its
    workers blocked on the call queue, whose pipe they hold both ends of, so they never see
    EOF: reparented, they would live on. The parent's death shows as a change of ``getppid``
    (to init or a subreaper), polled by a daemon thread; PR_SET_PDEATHSIG is not used because
    it fires when the parent's *thread* that spawned the worker ends, not the process."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_SECONDS)
        os._exit(0)

    if os.getppid() != parent:  # gone already, before the thread could start
        os._exit(0)
    threading.Thread(target=watch, name="mdm-parent-watch", daemon=True).start()
    postal.index()  # what every batch needs, built once per process
    heap.settle()


@dataclass
class _Normalized:
    changes: list[dict[str, Any]]
    record: dict[str, Any]
    findings: list[dict[str, Any]]


def _normalize_chunk(
    payloads: list[CustomerIn], config: Configuration
) -> list[_Normalized | list[FieldProblem]]:
    """Normalize payloads (in this process or a pool's): each result, or its problems."""
    out: list[_Normalized | list[FieldProblem]] = []
    for payload in payloads:
        try:
            done = normalize_with(payload, config)
        except ProblemError as problem:
            out.append(list(problem.errors or []))
            continue
        out.append(_Normalized(changes_json(done.result), done.record, done.findings))
    return out


async def _normalize(
    payloads: Sequence[CustomerIn], todo: list[int], config: Configuration
) -> dict[int, _Normalized | list[FieldProblem]]:
    chosen = [payloads[i] for i in todo]
    pool = _executor() if len(chosen) >= POOL_MIN_BATCH else None
    if pool is None:
        return dict(zip(todo, _normalize_chunk(chosen, config), strict=True))
    # A plain dict pickles (the configuration's read-only mapping does not).
    portable = replace(config, quality_policies=dict(config.quality_policies))
    size = -(-len(chosen) // _pool_size)
    loop = asyncio.get_running_loop()
    parts = await asyncio.gather(
        *(
            loop.run_in_executor(pool, _normalize_chunk, chosen[i : i + size], portable)
            for i in range(0, len(chosen), size)
        )
    )
    return dict(zip(todo, [r for part in parts for r in part], strict=True))
