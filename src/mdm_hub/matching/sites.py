"""Sites (事業所) found by matching: a corporation record that names a branch (本町支店, or a
site type other than 本社) and carries a 法人番号 is a site of the head office with that number,
never merged into it (sites share the corporation's 法人番号; compare.compare_branch keeps them
apart). The link is made when sure (one head office carries the number and its name is the
site's without the branch), otherwise proposed to a steward.

A site written without a 法人番号 (``株式会社ABC 大阪支店``) is found by name: a corporation
with the same name key, the same legal form where both have one, and some shared evidence (a
phone number, an e-mail domain that is no free mail, or a location in the same city) is
proposed to a steward as its corporation; never linked by name alone, never merged. Never
commits."""

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
        if prepared.is_site:
            if prepared.corporate_number is not None:
                await _consider(session, actor, config, customer, prepared)
            else:
                await _consider_by_name(session, config, customer, prepared)
            continue
        if prepared.corporate_number is not None:
            for site_id in await hierarchy.unlinked_with_number(session, prepared.corporate_number):
                site = await hierarchy.customer(session, site_id)
                if site is not None and site_id != customer.id:
                    await _consider(session, actor, config, site, _prepared(site, config))
        for site_id in await hierarchy.corporations_by_name(session, customer.id, sites=True):
            site = await hierarchy.customer(session, site_id)
            if site is not None:
                await _consider_by_name(session, config, site, _prepared(site, config))


def _same_legal_form(a: PreparedRecord, b: PreparedRecord) -> bool:
    """株式会社 and 有限会社, or 株式会社ABC and ABC株式会社, are different companies."""
    x, y = a.record.company_name, b.record.company_name
    if x is None or y is None:
        return False
    if x.legal_form and y.legal_form:
        return x.legal_form == y.legal_form and x.legal_form_position == y.legal_form_position
    return True


def shared_evidence(site: PreparedRecord, head: PreparedRecord) -> str | None:
    """What besides the name says two records are one corporation: a phone number, an e-mail
    domain (not free mail), or a location in the same city. None when nothing does."""
    phones = sorted(set(site.phones) & set(head.phones))
    if phones:
        return f"phone {phones[0]}"
    domains = sorted(site.email_domains & head.email_domains)
    if domains:
        return f"e-mail domain {domains[0]}"
    for x in site.addresses:
        for y in head.addresses:
            if x.prefecture and x.city and x.prefecture == y.prefecture and x.city == y.city:
                return f"both in {x.prefecture}{x.city}"
    return None


async def _consider_by_name(
    session: AsyncSession, config: MatchConfig, customer: Customer, site: PreparedRecord
) -> None:
    """A site without a 法人番号: propose each corporation of the same name that something
    else ties it to. Only proposed, never linked (a name is no identifier)."""
    if not site.is_site or site.corporate_number is not None or not site.name_key:
        return
    if _names_a_corporation(site.record):
        return
    if await hierarchy.link_of(session, customer.id, "site") is not None:
        return
    if await hierarchy.has_children(session, customer.id, "site"):
        return
    found = []
    for head_id in await hierarchy.corporations_by_name(session, customer.id, sites=False):
        head = await hierarchy.customer(session, head_id)
        if head is None:
            continue
        prepared = _prepared(head, config)
        if prepared.is_site or prepared.name_key != site.name_key:
            continue
        if not _same_legal_form(site, prepared):
            continue
        evidence = shared_evidence(site, prepared)
        if evidence is not None:
            found.append((head, evidence))
    for head, evidence in found:
        reason = f"no 法人番号; same name {site.name_key}; site {site.branch or site.site_type}"
        reason += f"; {evidence}"
        if len(found) > 1:
            reason += f"; {len(found)} corporations of that name"
        await hierarchy.propose_site(session, customer.id, head.id, reason)


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
