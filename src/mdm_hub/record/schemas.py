"""The customer record: what source systems send (``*In``) and what the hub stores (records).

Input models check structure and types only; everything Japanese-specific (width, kana, legal
forms, phones, postal codes, 和暦 dates, 法人番号 check digits) is done by ``mdm_hub.normalize``,
which turns a :class:`CustomerIn` into a :class:`CustomerRecord`.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

ShortText = Annotated[str, Field(max_length=200)]
LongText = Annotated[str, Field(max_length=2000)]
# Dates arrive as ISO dates or 和暦 (令和5年4月1日, R5.4.1); normalize turns them into dates.
DateText = Annotated[str, Field(max_length=40, examples=["2023-04-01", "令和5年4月1日"])]
Yen = Annotated[int, Field(ge=0, le=10**16, description="Integer yen")]


def _day_of_month(value: Any) -> int | str:
    if value in ("end_of_month", "末日"):
        return "end_of_month"
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 31:
        return value
    raise PydanticCustomError("day_of_month", 'Expected a day 1–31 or "end_of_month" (末日)')


DayOfMonth = Annotated[
    int | str,
    PlainValidator(_day_of_month),
    WithJsonSchema(
        {"oneOf": [{"type": "integer", "minimum": 1, "maximum": 31}, {"const": "end_of_month"}]}
    ),
]


CustomerKind = StrEnum("CustomerKind", ["corporation", "person"])
AddressPurpose = StrEnum("AddressPurpose", ["head_office", "billing", "shipping", "home", "other"])
PhonePurpose = StrEnum("PhonePurpose", ["main", "direct", "mobile", "fax", "support", "other"])
PhoneLineType = StrEnum("PhoneLineType", ["fixed_line", "mobile", "toll_free", "voip", "other"])
EmailPurpose = StrEnum("EmailPurpose", ["main", "billing", "support", "other"])
SiteType = StrEnum(
    "SiteType", ["head_office", "branch", "sales_office", "factory", "store", "other"]
)


ParentRelationType = StrEnum("ParentRelationType", ["subsidiary", "affiliate"])


class InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class RecordModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------------------
# Input (as a source system sends it)
# ---------------------------------------------------------------------------------------------


class AddressIn(InputModel):
    purpose: AddressPurpose = AddressPurpose.head_office
    postal_code: ShortText | None = Field(default=None, examples=["〒100-0005"])
    prefecture: ShortText | None = Field(default=None, examples=["東京都"])
    city: ShortText | None = Field(default=None, description="市区町村", examples=["千代田区"])
    town: ShortText | None = Field(default=None, description="町域", examples=["丸の内"])
    street: ShortText | None = Field(
        default=None, description="丁目・番地・号", examples=["一丁目2番3号"]
    )
    building: ShortText | None = Field(
        default=None, description="建物名・階", examples=["丸の内ビル5F"]
    )
    full_text: LongText | None = Field(
        default=None,
        description="The whole address in one line, when the source does not split it",
    )


class PhoneIn(InputModel):
    number: ShortText = Field(examples=["03-1234-5678", "+81 3 1234 5678"])
    purpose: PhonePurpose = PhonePurpose.main
    extension: ShortText | None = None


class EmailIn(InputModel):
    address: ShortText = Field(examples=["info@example.co.jp"])
    purpose: EmailPurpose = EmailPurpose.main


class ContactIn(InputModel):
    """担当者."""

    name: ShortText = Field(examples=["山田 太郎"])
    name_kana: ShortText | None = None
    department: ShortText | None = Field(default=None, examples=["経理部"])
    title: ShortText | None = Field(default=None, examples=["課長"])
    phones: list[PhoneIn] = Field(default_factory=list, max_length=10)
    emails: list[EmailIn] = Field(default_factory=list, max_length=10)


class BillingTermsIn(InputModel):
    """請求条件: 請求先, 締め日, 支払条件, 支払期日."""

    bill_to_customer_code: ShortText | None = Field(
        default=None, description="請求先: the customer code billed, when not this customer"
    )
    closing_day: DayOfMonth | None = Field(default=None, description="締め日 (1–31 or 末日)")
    payment_method: ShortText | None = Field(
        default=None, description="支払条件", examples=["銀行振込"]
    )
    payment_month_offset: int | None = Field(
        default=None, ge=0, le=12, description="支払期日: months after closing (0 当月, 1 翌月)"
    )
    payment_day: DayOfMonth | None = Field(default=None, description="支払期日: day of month")


class TransactionsIn(InputModel):
    started_on: DateText | None = Field(default=None, description="取引開始日")
    last_transaction_on: DateText | None = Field(default=None, description="最終取引日")
    annual_amount: Yen | None = Field(default=None, description="取引金額 (年間, 円)")
    category: ShortText | None = Field(default=None, description="取引区分", examples=["売上"])


class ClassificationIn(InputModel):
    industry: ShortText | None = Field(default=None, description="業種", examples=["製造業"])
    region: ShortText | None = Field(default=None, description="地域", examples=["関東"])
    rank: ShortText | None = Field(default=None, description="顧客ランク", examples=["A"])
    segment: ShortText | None = Field(default=None, description="セグメント")


class CompanyProfileIn(InputModel):
    employees: int | None = Field(default=None, ge=0, le=10_000_000, description="従業員数")
    capital: Yen | None = Field(default=None, description="資本金 (円)")
    established_on: DateText | None = Field(default=None, description="設立年月日")


class SourceKeyIn(InputModel):
    system: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$",
        description="The source system (as in the URL); the writing system when left out",
        examples=["erp"],
    )
    source_id: ShortText = Field(examples=["ACC-0001"])


class RelationsIn(InputModel):
    """The links a source system knows: the corporation a site (事業所) belongs to and a
    corporation's group parent (親会社), each named in one way (customer code, source record or
    法人番号). A target the hub does not hold yet is linked when it arrives."""

    site_type: SiteType | None = Field(default=None, description="事業所の種類")
    site_of_customer_code: ShortText | None = Field(
        default=None, description="The corporation this site (事業所) belongs to"
    )
    site_of_source: SourceKeyIn | None = Field(
        default=None, description="The corporation, as a source record"
    )
    site_of_corporate_number: ShortText | None = Field(
        default=None, description="The corporation, by its 法人番号"
    )
    site_valid_from: DateText | None = None
    site_valid_to: DateText | None = None
    parent_customer_code: ShortText | None = Field(
        default=None, description="Group parent (親会社)"
    )
    parent_source: SourceKeyIn | None = Field(
        default=None, description="Group parent, as a source record"
    )
    parent_corporate_number: ShortText | None = Field(
        default=None, description="Group parent, by its 法人番号"
    )
    parent_relation_type: ParentRelationType | None = Field(
        default=None, description="subsidiary (子会社, the default) or affiliate (関連会社)"
    )
    parent_valid_from: DateText | None = None
    parent_valid_to: DateText | None = None


class PersonNameIn(InputModel):
    family_name: ShortText | None = Field(default=None, examples=["山田"])
    given_name: ShortText | None = Field(default=None, examples=["太郎"])
    family_name_kana: ShortText | None = None
    given_name_kana: ShortText | None = None


class CustomerIn(InputModel):
    """A customer as a source system (CRM, SFA, billing) sends it."""

    kind: CustomerKind
    name: ShortText | None = Field(
        default=None,
        description="Corporation name as written (株式会社ABC 大阪支店), or a person's full name",
        examples=["(株)ＡＢＣ商事 大阪支店"],
    )
    name_kana: ShortText | None = Field(default=None, description="フリガナ")
    person_name: PersonNameIn | None = Field(
        default=None, description="A person's 姓 and 名 when the source keeps them apart"
    )
    corporate_number: ShortText | None = Field(
        default=None, description="法人番号 (13 digits)", examples=["7000012050002"]
    )
    invoice_registration_number: ShortText | None = Field(
        default=None, description="インボイス登録番号 (T + 13 digits)", examples=["T7000012050002"]
    )
    birth_date: DateText | None = Field(default=None, description="生年月日 (persons)")
    addresses: list[AddressIn] = Field(default_factory=list, max_length=20)
    phones: list[PhoneIn] = Field(default_factory=list, max_length=20)
    emails: list[EmailIn] = Field(default_factory=list, max_length=20)
    contacts: list[ContactIn] = Field(default_factory=list, max_length=50)
    billing: BillingTermsIn | None = None
    transactions: TransactionsIn | None = None
    classification: ClassificationIn | None = None
    company_profile: CompanyProfileIn | None = None
    relations: RelationsIn | None = None
    custom_fields: dict[str, Any] = Field(
        default_factory=dict, description="Values for the custom fields an administrator defined"
    )


# ---------------------------------------------------------------------------------------------
# Normalized record (what the hub stores, per source record and as the golden record)
# ---------------------------------------------------------------------------------------------


class LegalFormPosition(StrEnum):
    prefix = "prefix"  # 前株
    suffix = "suffix"  # 後株


class CompanyName(RecordModel):
    legal_form: str | None = Field(default=None, examples=["株式会社"])
    legal_form_position: LegalFormPosition | None = None
    body: str = Field(examples=["ABC商事"])
    branch: str | None = Field(default=None, examples=["大阪支店"])
    note: str | None = None
    key: str = Field(description="Match key: body only, folded", examples=["ABC商事"])


class PersonName(RecordModel):
    family_name: str | None = None
    given_name: str | None = None
    family_name_kana: str | None = None
    given_name_kana: str | None = None
    key: str = Field(description="Match key of the full name, folded")


class Address(RecordModel):
    purpose: AddressPurpose = AddressPurpose.head_office
    postal_code: str | None = Field(default=None, description="7 digits", examples=["1000005"])
    prefecture: str | None = None
    city: str | None = None
    town: str | None = None
    street: str | None = Field(
        default=None, description="Canonical 丁目-番地-号", examples=["1-2-3"]
    )
    building: str | None = None
    site_key: str | None = Field(
        default=None, description="Match key of the site: address without building"
    )


class Phone(RecordModel):
    number: str = Field(description="National display form", examples=["03-1234-5678"])
    e164: str = Field(examples=["+81312345678"])
    line_type: PhoneLineType = PhoneLineType.other
    purpose: PhonePurpose = PhonePurpose.main
    extension: str | None = None


class Email(RecordModel):
    address: str = Field(examples=["info@example.co.jp"])
    purpose: EmailPurpose = EmailPurpose.main


class Contact(RecordModel):
    name: str
    name_kana: str | None = None
    department: str | None = None
    title: str | None = None
    phones: list[Phone] = Field(default_factory=list)
    emails: list[Email] = Field(default_factory=list)


class BillingTerms(RecordModel):
    bill_to_customer_code: str | None = None
    closing_day: int | Literal["end_of_month"] | None = None
    payment_method: str | None = None
    payment_month_offset: int | None = None
    payment_day: int | Literal["end_of_month"] | None = None


class Transactions(RecordModel):
    started_on: dt.date | None = None
    last_transaction_on: dt.date | None = None
    annual_amount: int | None = None
    category: str | None = None


class Classification(RecordModel):
    industry: str | None = None
    region: str | None = None
    rank: str | None = None
    segment: str | None = None


class CompanyProfile(RecordModel):
    employees: int | None = None
    capital: int | None = None
    established_on: dt.date | None = None


class SourceKey(RecordModel):
    system: str | None = None
    source_id: str


class Relations(RecordModel):
    site_type: SiteType | None = None
    site_of_customer_code: str | None = None
    site_of_source: SourceKey | None = None
    site_of_corporate_number: str | None = None
    site_valid_from: dt.date | None = None
    site_valid_to: dt.date | None = None
    parent_customer_code: str | None = None
    parent_source: SourceKey | None = None
    parent_corporate_number: str | None = None
    parent_relation_type: ParentRelationType | None = None
    parent_valid_from: dt.date | None = None
    parent_valid_to: dt.date | None = None


class CustomerRecord(RecordModel):
    """A customer in the hub's canonical (normalized) form."""

    kind: CustomerKind
    name: str = Field(examples=["株式会社ABC商事 大阪支店"])
    name_kana: str | None = Field(default=None, examples=["エービーシーショウジ"])
    company_name: CompanyName | None = None
    person_name: PersonName | None = None
    kana_key: str | None = Field(default=None, description="Match key of the フリガナ")
    corporate_number: str | None = None
    invoice_registration_number: str | None = None
    birth_date: dt.date | None = None
    addresses: list[Address] = Field(default_factory=list)
    phones: list[Phone] = Field(default_factory=list)
    emails: list[Email] = Field(default_factory=list)
    contacts: list[Contact] = Field(default_factory=list)
    billing: BillingTerms | None = None
    transactions: Transactions | None = None
    classification: Classification | None = None
    company_profile: CompanyProfile | None = None
    relations: Relations | None = None
    custom_fields: dict[str, Any] = Field(default_factory=dict)


# Input fields that are objects: a steward's patch overrides them leaf by leaf.
OBJECT_INPUT_FIELDS: dict[str, type[InputModel]] = {
    "billing": BillingTermsIn,
    "transactions": TransactionsIn,
    "classification": ClassificationIn,
    "company_profile": CompanyProfileIn,
    "relations": RelationsIn,
}
# The record's fields that are objects (a dict of leaves), in the record's order.
OBJECT_FIELDS: tuple[str, ...] = tuple(OBJECT_INPUT_FIELDS)
