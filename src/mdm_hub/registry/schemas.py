"""What GET /v1/customers/{id}/registry answers."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, Field


class NtaEntry(BaseModel):
    corporate_number: str
    process: str = Field(
        description="処理区分 of the latest published row (01 新規, 11 商号変更, …)"
    )
    update_date: dt.date
    change_date: dt.date | None
    name: str | None
    furigana: str | None
    kind: str | None = Field(description="法人種別 (301 株式会社, …)")
    prefecture_name: str | None
    city_name: str | None
    street_number: str | None
    post_code: str | None
    address_outside: str | None
    close_date: dt.date | None
    close_cause: str | None = Field(description="01 清算の結了等, 11 合併による解散等, …")
    successor_corporate_number: str | None
    en_name: str | None
    deleted: bool = Field(description="The publication was withdrawn (処理区分 99)")
    closed: bool = Field(description="The registration is closed (a 閉鎖等年月日 is published)")


class InvoiceEntry(BaseModel):
    registration_number: str
    status: Literal["registered", "expired", "revoked", "deleted"]
    process: str
    registration_date: dt.date | None
    update_date: dt.date
    expire_date: dt.date | None = Field(description="失効年月日")
    disposal_date: dt.date | None = Field(description="取消年月日")
    name: str | None


class RegistryLinkOut(BaseModel):
    """The customer is this corporation of the registry: the registry is its source ``nta``."""

    corporate_number: str
    linked_by: Literal["corporate_number", "match", "steward"] = Field(
        description="corporate_number: its own 法人番号; match: name + address matching was sure;"
        " steward: a steward accepted a proposal"
    )
    closed: bool = Field(description="The registry published a closure (閉鎖等)")
    closed_on: dt.date | None = Field(description="登記記録の閉鎖等年月日")
    close_cause: str | None = Field(description="01 清算の結了等, 11 合併による解散等, …")
    successor_corporate_number: str | None = Field(description="承継先法人番号 (a merger)")
    successor_customer_id: uuid.UUID | None = Field(
        description="The hub's customer of the successor, when it has one"
    )
    withdrawn: bool = Field(description="The registry withdrew the number (処理区分 99)")
    updated_at: dt.datetime


class RegistryOut(BaseModel):
    link: RegistryLinkOut | None = Field(
        description="Set when the customer is linked to the registry (mdm-hub nta apply)"
    )
    corporate_number: str | None = Field(description="The customer's 法人番号, if it has one")
    nta: NtaEntry | None = Field(description="Its row in the imported 法人番号 registry")
    invoice_registration_number: str | None = Field(
        description="The customer's T-number, or T + its 法人番号 when it gave none"
    )
    invoice_status: Literal["registered", "expired", "revoked", "deleted", "not_registered"] = (
        Field(description="not_registered: the number is not in the imported インボイス registry")
    )
    invoice: InvoiceEntry | None
