"""The source write path, step by step (see the package's docstring), and the dry run.

Services never commit: the request's session does.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.context import Actor
from mdm_hub.custom_fields.service import (
    cached_configuration,
    configuration_for,
    current_configuration,
)
from mdm_hub.customers.models import Customer, SourceRecord
from mdm_hub.customers.prepare import canonical_hash, normalize_payload
from mdm_hub.customers.repository import lock_customer
from mdm_hub.errors import ProblemError
from mdm_hub.governance.models import ChangeRequest
from mdm_hub.hierarchy.follow import Written
from mdm_hub.matching import service as matching
from mdm_hub.privacy.service import hold_if_erased
from mdm_hub.record import CustomerIn, CustomerRecord
from mdm_hub.settings import Settings
from mdm_hub.sources import repository
from mdm_hub.sources.decide import link_target, pinned_resolution, resolve_batch
from mdm_hub.sources.hierarchy import follow_hierarchy
from mdm_hub.sources.locks import lock_batch, lock_keys
from mdm_hub.sources.prepare import Prepared, prepare
from mdm_hub.sources.protect import Guarded, hold_protected, pending_change
from mdm_hub.sources.store import store_changed_source, store_new_source


@dataclass
class SourceWrite:
    customer: Customer
    source: SourceRecord
    created_source: bool
    # governance: the protected values this write sent that wait for approval
    change_request: ChangeRequest | None = None


async def put_source_record(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    system: str,
    source_id: str,
    payload: CustomerIn,
    *,
    hold_erased: bool = True,
    link_to: uuid.UUID | None = None,
) -> SourceWrite:
    """Store a source system's record: validate, normalize, link to a customer, recompute.

    ``hold_erased``: a person record carrying an erased person's identifying values is held
    (privacy.service.WriteHeld) instead of written; False when a 管理者 released it.
    ``link_to``: a new source record joins this customer instead of the one matching decides
    (the registry's record of a customer linked by its 法人番号); candidates are not queued."""
    raw = payload.model_dump(mode="json", exclude_unset=True)
    digest = canonical_hash(raw)
    # Prepared first, with the configuration this process last read (compared below with the
    # transaction's), so that the record's blocking keys and the source record's own key are
    # locked in one statement. A payload with problems is still answered as a replay when it
    # is one: its problems are raised after that check.
    config = cached_configuration() or await current_configuration(session)
    (prepared,) = await prepare(session, settings, [payload], config)
    locked = prepared.keys if isinstance(prepared, Prepared) else []
    await lock_batch(session, [(system, source_id)], locked)
    # Not locked here: the advisory lock serializes writers of this source record, and the row
    # is locked below only after its customer (the order merges use: no deadlock).
    existing, fingerprint = await repository.existing_source(session, system, source_id)
    if existing is not None and existing.payload_hash == digest:
        customer = await session.get_one(Customer, existing.customer_id)
        held = await pending_change(session, system, source_id)
        return SourceWrite(customer, existing, created_source=False, change_request=held)
    if fingerprint != config.fingerprint:  # changed since this process last read it
        config = await configuration_for(session, fingerprint)
        (prepared,) = await prepare(session, settings, [payload], config)
        if isinstance(prepared, Prepared):
            # Out of the usual order, so a deadlock is possible (it answers 503: try again),
            # but only when the change of configuration changed the record's keys.
            await lock_keys(session, [k for k in prepared.keys if k not in locked])
    if isinstance(prepared, ProblemError):
        raise prepared
    relations = prepared.record.relations
    if hold_erased:
        await hold_if_erased(session, settings, actor, system, source_id, raw, prepared.normalized)
    if existing is None:
        if link_to is not None:
            resolution = pinned_resolution(prepared, link_to)
            link = await link_target(session, settings, prepared, resolution)
            if link.created:
                raise ProblemError("conflict", f"Customer {link_to} takes no new source records")
        else:
            (resolution,) = await resolve_batch(session, settings, [prepared])
            link = await link_target(session, settings, prepared, resolution)
        (guard,) = await hold_protected(
            session,
            settings,
            actor,
            system,
            [Guarded(link.customer, link.created, source_id, None, prepared)],
        )
        source = await store_new_source(
            session,
            settings,
            actor,
            system,
            source_id,
            raw,
            digest,
            guard.prepared,
            resolution,
            link,
        )
        await follow_hierarchy(
            session, settings, actor, [Written(link.customer, system, source_id, relations)]
        )
        return SourceWrite(link.customer, source, True, guard.change_request)

    customer = await lock_customer(session, existing.customer_id)
    existing = await session.get_one(
        SourceRecord, existing.id, with_for_update=True, populate_existing=True
    )
    if existing.customer_id != customer.id:  # a merge or unmerge moved it meanwhile
        customer = await lock_customer(session, existing.customer_id)
    (guard,) = await hold_protected(
        session,
        settings,
        actor,
        system,
        [Guarded(customer, False, source_id, existing.normalized, prepared)],
    )
    await store_changed_source(
        session, settings, actor, customer, existing, raw, digest, guard.prepared
    )
    await follow_hierarchy(
        session, settings, actor, [Written(customer, system, source_id, relations)]
    )
    return SourceWrite(customer, existing, False, guard.change_request)


async def match_payload(
    session: AsyncSession, settings: Settings, payload: CustomerIn
) -> matching.Resolution:
    """The dry run (``POST /v1/match``): prepare and decide, without locks or writes.

    Uses the configuration this process last read and checks its fingerprint in the statement
    that reads the candidates: one statement while the configuration is unchanged. Otherwise,
    or when the payload has problems (to be sure they are not the stale configuration's), it
    runs again with the transaction's configuration.
    """
    config = cached_configuration()
    if config is not None:
        (prepared,) = await prepare(session, settings, [payload], config)
        if isinstance(prepared, Prepared):
            resolution, fingerprint = await matching.resolve_with_fingerprint(
                session, settings, prepared.record, keys=prepared.keys, fingerprint=True
            )
            if fingerprint == config.fingerprint:
                return resolution
    normalized = (
        await normalize_payload(session, payload, await current_configuration(session))
    ).record
    return await matching.resolve(
        session, settings, CustomerRecord.model_validate(normalized), lock=False
    )
