"""Builders of already-normalized records, as ``mdm_hub.normalize`` would produce them."""

from __future__ import annotations

import datetime as dt

from mdm_hub.matching.config import identifier_declaration
from mdm_hub.record import (
    Address,
    AddressPurpose,
    CompanyName,
    CustomerKind,
    CustomerRecord,
    Email,
    PersonName,
    Phone,
    PhoneLineType,
    Relations,
    SiteType,
)

MARUNOUCHI = {
    "postal_code": "1000005",
    "prefecture": "東京都",
    "city": "千代田区",
    "town": "丸の内",
    "street": "1-2-3",
}
UMEDA = {
    "postal_code": "5300001",
    "prefecture": "大阪府",
    "city": "大阪市北区",
    "town": "梅田",
    "street": "2-4-9",
}


def address(
    *,
    postal_code: str | None = None,
    prefecture: str | None = None,
    city: str | None = None,
    town: str | None = None,
    street: str | None = None,
    building: str | None = None,
    purpose: AddressPurpose = AddressPurpose.head_office,
) -> Address:
    site_key = None
    if city and town:
        site_key = f"{prefecture or ''}{city}{town}{street or ''}"
    return Address(
        purpose=purpose,
        postal_code=postal_code,
        prefecture=prefecture,
        city=city,
        town=town,
        street=street,
        building=building,
        site_key=site_key,
    )


def phone(e164: str, line_type: PhoneLineType = PhoneLineType.fixed_line) -> Phone:
    national = "0" + e164.removeprefix("+81")
    return Phone(number=national, e164=e164, line_type=line_type)


def corp(
    key: str | None,
    *,
    legal_form: str | None = "株式会社",
    kana: str | None = None,
    corporate_number: str | None = None,
    branch: str | None = None,
    site_type: SiteType | None = None,
    addresses: list[Address] | None = None,
    phones: list[str] | None = None,
    emails: list[str] | None = None,
) -> CustomerRecord:
    company = (
        CompanyName(legal_form=legal_form, body=key, key=key, branch=branch)
        if key is not None
        else None
    )
    return CustomerRecord(
        kind=CustomerKind.corporation,
        name=f"{legal_form or ''}{key or ''}{' ' + branch if branch else ''}",
        company_name=company,
        kana_key=kana,
        corporate_number=corporate_number,
        addresses=addresses or [],
        phones=[phone(p) for p in phones or []],
        emails=[Email(address=e) for e in emails or []],
        relations=Relations(site_type=site_type) if site_type else None,
    )


def person(
    family: str | None,
    given: str | None,
    *,
    family_kana: str | None = None,
    given_kana: str | None = None,
    key: str | None = None,
    birth_date: dt.date | None = None,
    addresses: list[Address] | None = None,
    phones: list[str] | None = None,
    mobiles: list[str] | None = None,
    emails: list[str] | None = None,
) -> CustomerRecord:
    name_key = key if key is not None else f"{family or ''}{given or ''}"
    kana_key = f"{family_kana}{given_kana}" if family_kana and given_kana else None
    return CustomerRecord(
        kind=CustomerKind.person,
        name=f"{family or ''} {given or ''}".strip() or name_key,
        person_name=PersonName(
            family_name=family,
            given_name=given,
            family_name_kana=family_kana,
            given_name_kana=given_kana,
            key=name_key,
        ),
        kana_key=kana_key,
        birth_date=birth_date,
        addresses=addresses or [],
        phones=[phone(p) for p in phones or []]
        + [phone(p, PhoneLineType.mobile) for p in mobiles or []],
        emails=[Email(address=e) for e in emails or []],
    )


# An identifier custom field as an administrator declares it in the weights file.
MEMBER_NO = identifier_declaration("member_no", "Member number (custom field member_no).")
