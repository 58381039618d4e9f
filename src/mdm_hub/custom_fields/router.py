"""Custom field definitions (/v1/custom-fields) and rank rules (/v1/rank-rules)."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import status

from mdm_hub.auth.roles import ConfigManage, ConfigRead
from mdm_hub.custom_fields import service
from mdm_hub.custom_fields.schemas import (
    CustomFieldCreate,
    CustomFieldOut,
    CustomFieldUpdate,
    RankRules,
)
from mdm_hub.db import DbSession
from mdm_hub.errors import problem_responses
from mdm_hub.idempotency.route import api_router
from mdm_hub.types import KeyPath

router = api_router(tags=["configuration"])


@router.post(
    "/custom-fields", status_code=status.HTTP_201_CREATED, responses=problem_responses(409)
)
async def create_custom_field(
    body: CustomFieldCreate, session: DbSession, actor: ConfigManage
) -> CustomFieldOut:
    """Define a custom field; every later customer write is validated against it."""
    definition = await service.create_definition(session, actor, body)
    return CustomFieldOut(**service.definition_dict(definition))


@router.get("/custom-fields")
async def list_custom_fields(session: DbSession, principal: ConfigRead) -> list[CustomFieldOut]:
    return [
        CustomFieldOut(**service.definition_dict(d))
        for d in await service.list_definitions(session)
    ]


@router.get("/custom-fields/{key}")
async def get_custom_field(
    key: KeyPath, session: DbSession, principal: ConfigRead
) -> CustomFieldOut:
    return CustomFieldOut(**service.definition_dict(await service.get_definition(session, key)))


@router.patch("/custom-fields/{key}")
async def update_custom_field(
    key: KeyPath,
    body: CustomFieldUpdate,
    session: DbSession,
    actor: ConfigManage,
) -> CustomFieldOut:
    """Change a definition's label, description, requiredness or allowed values."""
    definition = await service.update_definition(session, actor, key, body)
    return CustomFieldOut(**service.definition_dict(definition))


@router.delete("/custom-fields/{key}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_custom_field(key: KeyPath, session: DbSession, actor: ConfigManage) -> None:
    """Remove a definition. Stored values stay in source records but are no longer accepted."""
    await service.delete_definition(session, actor, key)


@router.get("/rank-rules")
async def get_rank_rules(session: DbSession, principal: ConfigRead) -> RankRules:
    """The thresholds that derive 顧客ランク from 取引金額 (highest matching threshold wins)."""
    rules = await service.load_rank_rules(session)
    return RankRules.model_validate({"rules": [asdict(r) for r in rules]})


@router.put("/rank-rules")
async def put_rank_rules(body: RankRules, session: DbSession, actor: ConfigManage) -> RankRules:
    """Replace the rank rules. They apply to every write from now on."""
    return await service.replace_rank_rules(session, actor, body)
