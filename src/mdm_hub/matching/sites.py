"""Sites (事業所) found by matching: a corporation record that names a branch (本町支店, or a
site type other than 本社) and carries a 法人番号 is a site of the head office with that number,
never merged into it (sites share the corporation's 法人番号; compare.compare_branch keeps them
apart). The link is made when sure (one head office carries the number and its name is the
site's without the branch), otherwise proposed to a steward. Never commits."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.context import Actor
from mdm_hub.customers.models import Customer
from mdm_hub.errors import ProblemError
from mdm_hub.hierarchy import repository as hierarchy
from mdm_hub.hierarchy import service as links
from mdm_hub.matching.compare import PreparedRecord, prepare
from mdm_hub.matching.config import MatchConfig
from mdm_hub.matching.service import match_config
from mdm_hub.record import CustomerRecord
from mdm_hub.settings import Settings

MATCHING = "matching"


def _prepared(customer: Customer, config: MatchConfig) -> PreparedRecord:
    return prepare(CustomerRecord.model_validate(customer.record), config)


def _names_a_corporation(record: CustomerRecord) -> bool:
    r = record.relations
    return r is not None and bool(
        r.site_of_customer_code or r.site_of_source or r.site_of_corporate_number
    )


async def propose_sites(
    session: AsyncSession, settings: Settings, actor: Actor, customers: Sequence[Customer]
) -> None:
    """For each customer that is a site with a 法人番号 and no corporation yet: link it to its
    head office when sure, else propose each head office with that number. A head office
    written after its sites looks for them."""
    config = match_config(settings)
    for customer in customers:
        if customer.kind != "corporation" or customer.status != "active":
            continue
        prepared = _prepared(customer, config)
        if prepared.corporate_number is None:
            continue
        if prepared.is_site:
            await _consider(session, actor, config, customer, prepared)
            continue
        for site_id in await hierarchy.unlinked_with_number(session, prepared.corporate_number):
            site = await hierarchy.customer(session, site_id)
            if site is not None and site_id != customer.id:
                await _consider(session, actor, config, site, _prepared(site, config))


async def _consider(
    session: AsyncSession,
    actor: Actor,
    config: MatchConfig,
    customer: Customer,
    site: PreparedRecord,
) -> None:
    number = site.corporate_number
    if not site.is_site or number is None or _names_a_corporation(site.record):
        return
    if await hierarchy.link_of(session, customer.id, "site") is not None:
        return
    if await hierarchy.has_children(session, customer.id, "site"):
        return  # a corporation with sites of its own: not a site
    heads: list[tuple[Customer, PreparedRecord]] = []
    for head_id in await hierarchy.corporations_by_number(session, number):
        head = await hierarchy.customer(session, head_id)
        if head_id == customer.id or head is None:
            continue
        prepared = _prepared(head, config)
        if not prepared.is_site:
            heads.append((head, prepared))
    if len(heads) == 1 and heads[0][1].name_key == site.name_key:
        head = heads[0][0]
        try:
            await links.link_site(session, actor, customer.id, head.id, None, None, MATCHING)
        except ProblemError:
            pass  # refused (e.g. the head office became a site meanwhile): propose instead
        else:
            await hierarchy.close_proposals(session, customer.id, "superseded", MATCHING)
            return
    for head, prepared in heads:
        reason = f"法人番号 {number}; site {site.branch or site.site_type}"
        if prepared.name_key != site.name_key:
            reason += f"; names differ: {site.name_key} ≠ {prepared.name_key}"
        if len(heads) > 1:
            reason += f"; {len(heads)} head offices carry the number"
        await hierarchy.propose_site(session, customer.id, head.id, reason)
