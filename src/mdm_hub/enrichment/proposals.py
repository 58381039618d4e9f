"""Name + address matching of customers without a 法人番号 against the registry.

The hub's own matching, unchanged: the registry's row is normalized like any source record
(``normalize_customer`` of the ``nta`` payload), scored against the customer with
``score_pair`` and decided with ``decide`` and the configured thresholds. Blocking is the head
office's postal code (``nta_corporations.post_code``, indexed): a customer without a postal
code gets no proposal.

- ``merge`` (the best registry corporation reaches the merge threshold, and no other reaches
  even the review threshold):
  the customer is linked (``linked_by = match``) and the registry applied to it at once.
- ``review``: every corporation above the review threshold becomes a pending proposal for a
  steward (``GET /v1/registry/proposals``), who accepts (link, ``linked_by = steward``) or
  rejects it. A customer once proposed is not proposed again; one that got neither is
  examined again only once it changed (``recheck`` examines all of them again, for example
  after a 全件 file brought corporations the registry did not have).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import jaconv
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from mdm_hub.context import Actor
from mdm_hub.customers.repository import lock_customer
from mdm_hub.enrichment import repository
from mdm_hub.enrichment.service import ACTOR, apply_one, nta_payload
from mdm_hub.errors import FieldProblem, ProblemError
from mdm_hub.matching.compare import PreparedRecord, prepare
from mdm_hub.matching.config import MatchConfig
from mdm_hub.matching.levels import Level
from mdm_hub.matching.scoring import Decision, MatchScore, decide, score_pair
from mdm_hub.matching.service import match_config
from mdm_hub.normalize.base import InvalidValue, NormalizationError
from mdm_hub.normalize.corporate_number import clean_corporate_number
from mdm_hub.normalize.customer import normalize_customer
from mdm_hub.proposals.repository import pending, record_decision
from mdm_hub.record import CustomerRecord, LegalFormPosition
from mdm_hub.settings import Settings


@dataclass
class ProposeResult:
    customers: int = 0  # customers without a 法人番号 looked at
    linked: int = 0  # linked automatically (merge)
    proposed: int = 0  # customers with pending proposals (review)
    proposals: int = 0


def registry_record(row: dict[str, Any]) -> CustomerRecord | None:
    """The registry's row normalized as the write path normalizes a source record."""
    try:
        return normalize_customer(nta_payload(row)).record
    except NormalizationError:
        return None


# A run's registry rows normalized and prepared for scoring, keyed by the row's values (a row
# that changes is a new key): neighbours share a postal code, so each row is normalized once
# per run instead of once per customer of its postal code.
PreparedRows = dict[tuple[Any, ...], PreparedRecord | None]
CACHED_ROWS = 200_000  # memory stays bounded (a few hundred MB at most) on a national run


def prepared_row(
    row: dict[str, Any], config: MatchConfig, cache: PreparedRows
) -> PreparedRecord | None:
    key = tuple(row.values())
    if key not in cache:
        if len(cache) >= CACHED_ROWS:
            cache.clear()
        record = registry_record(row)
        cache[key] = prepare(record, config) if record is not None else None
    return cache[key]


# Below the review threshold, a registry corporation is still proposed (never linked) when
# the names agree and the addresses agree but for the street: the registry has the head
# office's registered address, a CRM often an older one or another site's (番地 differs).
NEAR_NAME = frozenset({Level.exact.value, Level.normalized_equal.value, Level.kana_equal.value})
NEAR_ADDRESS = frozenset(
    {Level.other_street.value, Level.same_town.value, Level.partial.value, Level.similar.value}
)


def same_legal_form(record: CustomerRecord, registry_name: str | None) -> bool:
    """The customer's legal form, when it has one, is the registry's, in the same place:
    株式会社 is not 有限会社, and 株式会社山田商事 (前株) is not 山田商事株式会社 (後株)."""
    company = record.company_name
    if company is None or company.legal_form is None:
        return True
    name = registry_name or ""
    if company.legal_form_position is LegalFormPosition.prefix:
        return name.startswith(company.legal_form)
    if company.legal_form_position is LegalFormPosition.suffix:
        return name.endswith(company.legal_form)
    return company.legal_form in name


def is_near(score: MatchScore) -> bool:
    """Same name (legal form aside) and the same area, another street."""
    if score.hard_rule is not None:
        return False
    levels = {c.field: c.level for c in score.comparisons}
    return levels.get("name") in NEAR_NAME and levels.get("address") in NEAR_ADDRESS


@dataclass
class Scored:
    decision: Decision
    above: list[tuple[str, MatchScore]]  # reaching the review threshold, best first
    near: list[tuple[str, MatchScore]]  # below it but near (``is_near``), best first


def score_registry(
    settings: Settings,
    record: CustomerRecord,
    rows: list[dict[str, Any]],
    cache: PreparedRows | None = None,
) -> Scored:
    """One customer scored against registry rows (its block): the decision, the rows that
    reach the review threshold, and the near ones below it."""
    config = match_config(settings)
    mine = prepare(record, config)
    cache = {} if cache is None else cache
    scored: list[tuple[str, MatchScore]] = []
    names: dict[str, str | None] = {}
    for row in rows:
        other = prepared_row(row, config, cache)
        if other is not None:
            scored.append((row["corporate_number"], score_pair(mine, other, config=config)))
            names[row["corporate_number"]] = row["name"]
    merge_at = settings.match_merge_threshold or config.merge_threshold
    review_at = settings.match_review_threshold or config.review_threshold
    result = decide(scored, merge_threshold=merge_at, review_threshold=review_at)
    best_first = sorted(scored, key=lambda s: -s[1].probability)
    return Scored(
        result.decision,
        [s for s in best_first if s[1].probability >= review_at],
        [
            s
            for s in best_first
            if s[1].probability < review_at
            and is_near(s[1])
            and same_legal_form(record, names[s[0]])
        ],
    )


async def propose(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    *,
    page: int = 500,
    recheck: bool = False,
) -> ProposeResult:
    """Match every unlinked corporation without a 法人番号 against the registry."""
    result = ProposeResult()
    cache: PreparedRows = {}
    after = uuid.UUID(int=0)
    while True:
        async with sessions() as session, session.begin():
            customers = await repository.unlinked(session, after, page, recheck=recheck)
            # Marked before they are examined: checked_at is then not later than a change
            # made while they are, so such a change gets them examined again.
            await repository.mark_checked(session, [c["id"] for c in customers])
        if not customers:
            return result
        after = customers[-1]["id"]
        for customer in customers:
            result.customers += 1
            record = CustomerRecord.model_validate(customer["record"])
            codes = customer["postal_codes"]
            places = [tuple(p.split("|", 1)) for p in customer["places"]]
            body = record.company_name.body if record.company_name else None
            if not codes and not (places and body):
                continue
            async with sessions() as session, session.begin():
                if codes:
                    rows = await repository.registry_by_postal_code(session, codes)
                else:  # proposals only: a town block without a postal code is too wide
                    assert body is not None
                    rows = await repository.registry_by_place(session, places, name_forms(body))
                if not rows:
                    continue
                names = {r["corporate_number"]: r["name"] for r in rows}
                scored = score_registry(settings, record, rows, cache)
                above, kept = scored.above, [*scored.above, *scored.near]
                if not codes:  # a wide block, the address barely compared: the legal form too
                    kept = [k for k in kept if same_legal_form(record, names.get(k[0]))]
                if not kept:
                    continue
                sure = bool(codes) and scored.decision is Decision.merge and len(above) == 1
                if sure and await repository.insert_link(
                    session, customer["id"], above[0][0], "match"
                ):
                    await apply_one(session, settings, customer["id"])
                    await repository.insert_proposals(
                        session, customer["id"], [_proposal(above[0])], "accepted"
                    )
                    result.linked += 1
                    continue
                await repository.insert_proposals(
                    session, customer["id"], [_proposal(k) for k in kept], "pending"
                )
                result.proposed += 1
                result.proposals += len(kept)


def name_forms(body: str) -> list[str]:
    """The customer's name body as the registry may write it: as normalized (half-width
    letters and digits) and full-width (the NTA's 商号 are mostly full-width)."""
    wide = jaconv.h2z(body, kana=False, ascii=True, digit=True)
    return list(dict.fromkeys([body, wide]))


def _proposal(scored: tuple[str, MatchScore]) -> tuple[str, float, dict[str, Any]]:
    number, score = scored
    return number, score.probability, score.to_dict()


async def decide_proposal(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    proposal_id: int,
    decision: str,
) -> dict[str, Any]:
    """A steward accepts (the customer is linked and the registry applied) or rejects."""
    found = pending(
        await repository.proposal(session, proposal_id, lock=True), "registry proposal", proposal_id
    )
    if decision == "reject":
        await record_decision(session, "registry_proposals", proposal_id, "rejected", actor.subject)
    else:
        linked = await repository.insert_link(
            session, found["customer_id"], found["corporate_number"], "steward"
        )
        if not linked:
            raise ProblemError(
                "conflict", "The customer or this 法人番号 is already linked to the registry"
            )
        await record_decision(session, "registry_proposals", proposal_id, "accepted", actor.subject)
        await repository.supersede_proposals(session, found["customer_id"])
        await apply_one(session, settings, found["customer_id"], actor=actor)
    decided = await repository.proposal(session, proposal_id, lock=False)
    assert decided is not None
    return decided


async def link_by_number(
    session: AsyncSession,
    settings: Settings,
    actor: Actor,
    customer_id: uuid.UUID,
    text: str,
) -> None:
    """A steward links a customer to the registry by its 法人番号 (as accepting a proposal
    does): 422 for a number that is not a valid 法人番号 or that the registry does not publish,
    404 for no customer, 409 when the customer is not an active corporation, is linked to
    another number, or another customer is linked to this one. Linking it again to the same
    number changes nothing."""
    try:
        number = clean_corporate_number(text)
    except InvalidValue as exc:
        raise _invalid(exc.code, exc.message) from None
    customer = await lock_customer(session, customer_id)
    if customer.status != "active" or customer.kind != "corporation":
        raise ProblemError(
            "conflict",
            f"Only an active corporation is linked; this one is {customer.kind}, {customer.status}",
        )
    row = await repository.registry_row(session, number)
    if row is None or row["deleted"]:
        raise _invalid("not_in_registry", f"The imported registry does not publish {number}")
    current = await repository.link_number(session, customer_id)
    if current == number:
        return
    if current is not None:
        raise ProblemError("conflict", f"The customer is linked to {current} already")
    if not await repository.insert_link(session, customer_id, number, "steward"):
        raise ProblemError("conflict", f"Another customer is linked to {number} already")
    await repository.supersede_proposals(session, customer_id)
    await apply_one(session, settings, customer_id, actor=actor)


def _invalid(code: str, message: str) -> ProblemError:
    return ProblemError(
        "validation-error",
        message,
        errors=[FieldProblem(field="/corporate_number", code=code, message=message)],
    )


__all__ = ["ACTOR", "ProposeResult", "decide_proposal", "link_by_number", "propose"]
