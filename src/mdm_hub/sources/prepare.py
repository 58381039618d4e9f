"""Step 2 of the write path: payloads ready to write — normalized, custom fields validated, NUL
refused, blocking keys computed — against one configuration. A batch is the unit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.custom_fields.service import Configuration
from mdm_hub.customers.prepare import normalize_payload
from mdm_hub.errors import ProblemError
from mdm_hub.matching import service as matching
from mdm_hub.matching.keys import BlockingKey
from mdm_hub.normalize import NormalizationResult
from mdm_hub.record import CustomerIn, CustomerRecord
from mdm_hub.settings import Settings


@dataclass
class Prepared:
    """A payload normalized and validated against one configuration."""

    config: Configuration
    result: NormalizationResult
    normalized: dict[str, Any]
    record: CustomerRecord
    keys: list[BlockingKey]
    findings: list[dict[str, Any]]  # quality findings (issue 18) to store with the record


async def prepare(
    session: AsyncSession,
    settings: Settings,
    payloads: Sequence[CustomerIn],
    config: Configuration,
) -> list[Prepared | ProblemError]:
    """Each payload ready to write, or the problem (422) that stops it, in the given order."""
    prepared: list[Prepared | ProblemError] = []
    for payload in payloads:
        try:
            done = await normalize_payload(session, payload, config)
        except ProblemError as problem:
            prepared.append(problem)
            continue
        record = CustomerRecord.model_validate(done.record)
        keys = matching.record_keys(record, settings)
        prepared.append(Prepared(config, done.result, done.record, record, keys, done.findings))
    return prepared
