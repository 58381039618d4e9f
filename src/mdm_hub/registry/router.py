"""HTTP for the registry: what the NTA's data says about a customer."""

from __future__ import annotations

import uuid

from mdm_hub.auth.roles import CustomersRead
from mdm_hub.db import DbSession
from mdm_hub.idempotency.route import api_router
from mdm_hub.registry import service
from mdm_hub.registry.schemas import RegistryOut

router = api_router(tags=["registry"])


@router.get("/customers/{customer_id}/registry")
async def get_customer_registry(
    customer_id: uuid.UUID, session: DbSession, principal: CustomersRead
) -> RegistryOut:
    """The customer's row in the imported 法人番号 registry (by its 法人番号) and its インボイス
    status (by its registration number, else T + its 法人番号): registered, expired (失効),
    revoked (取消), deleted, or not_registered."""
    return RegistryOut.model_validate(await service.customer_registry(session, customer_id))
