"""What the registry says about a customer: its 法人番号 row and its インボイス registration."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from mdm_hub.customers import repository as customers
from mdm_hub.registry import repository


async def customer_registry(session: AsyncSession, customer_id: uuid.UUID) -> dict[str, Any]:
    customer = await customers.get_customer(session, customer_id)
    number = customer.corporate_number
    nta = await repository.nta_row(session, number) if number else None
    if nta is not None:
        nta["closed"] = nta["close_date"] is not None
    t_number = customer.record.get("invoice_registration_number") or (
        f"T{number}" if number else None
    )
    invoice = await repository.invoice_row(session, t_number) if t_number else None
    link = await repository.link_row(session, customer_id)
    if link is not None:
        link["closed"] = link["closed_on"] is not None
    return {
        "link": link,
        "corporate_number": number,
        "nta": nta,
        "invoice_registration_number": t_number,
        "invoice_status": invoice["status"] if invoice else "not_registered",
        "invoice": invoice,
    }
