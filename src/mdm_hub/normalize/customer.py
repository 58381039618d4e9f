"""normalize_customer: a CustomerIn as a source sent it → the CustomerRecord the hub stores.

Every sub-rule lives in its own module; this one walks the payload, gives each value its JSON
pointer, collects changes and errors, and raises one NormalizationError with all the errors.

Speed: each field normalizer here is a cached pure function of (raw value, JSON pointer) that
returns plain data plus immutable Change/FieldError objects, and the record is validated by
pydantic once, at the end. Values repeat a lot (a site's address, a company's 代表番号, a source
re-sending its records), so most fields cost a dictionary lookup.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from mdm_hub.record import (
    CustomerIn,
    CustomerKind,
    CustomerRecord,
    EmailPurpose,
    PersonNameIn,
    PhonePurpose,
    RelationsIn,
)

from .address import address_outcome
from .base import Change, InvalidValue, NormalizationError, Outcome, RankRule, Report
from .company import company_kana_key, parse_company_name
from .corporate_number import check_digit_problem, corporate_number_digits, invoice_number_form
from .dates import parse_date
from .email import check_email
from .person import parse_person_name
from .phone import normalize_extension, parse_phone
from .rank import derive_rank
from .text import fold_key, kana_fold, normalize_kana, normalize_text

_CACHE = 8192  # entries per cache: see docs/import.md (memory per process)
_JAPAN = ZoneInfo("Asia/Tokyo")


@dataclass
class NormalizationResult:
    record: CustomerRecord
    changes: list[Change]


def normalize_customer(
    payload: CustomerIn, *, rank_rules: Sequence[RankRule] = ()
) -> NormalizationResult:
    """Normalize one customer; raises NormalizationError listing every invalid field."""
    report = Report()
    apply = report.apply
    if payload.kind is CustomerKind.corporation:
        names = apply(
            _corporation_names(payload.name, payload.name_kana, payload.person_name is not None)
        )
    else:
        parts = payload.person_name
        names = apply(
            _person_names(
                payload.name,
                payload.name_kana,
                None
                if parts is None
                else (
                    parts.family_name,
                    parts.given_name,
                    parts.family_name_kana,
                    parts.given_name_kana,
                ),
            )
        )
    record: dict[str, Any] = {"kind": payload.kind, **names}
    record.update(
        apply(_numbers(payload.kind, payload.corporate_number, payload.invoice_registration_number))
    )
    if payload.birth_date is not None:
        record["birth_date"] = apply(_date(payload.birth_date, "/birth_date"))
        _check_not_future(record["birth_date"], "/birth_date", "生年月日", report)
    if payload.addresses:
        record["addresses"] = [
            apply(address_outcome(a, f"/addresses/{i}")) for i, a in enumerate(payload.addresses)
        ]
    if payload.phones:
        record["phones"] = _phones(payload.phones, "/phones", report)
    if payload.emails:
        record["emails"] = _emails(payload.emails, "/emails", report)
    if payload.contacts:
        record["contacts"] = [
            _contact(c, f"/contacts/{i}", report) for i, c in enumerate(payload.contacts)
        ]
    if (billing := payload.billing) is not None:
        record["billing"] = {
            "bill_to_customer_code": apply(
                _text(billing.bill_to_customer_code, "/billing/bill_to_customer_code")
            ),
            "closing_day": billing.closing_day,
            "payment_method": apply(_text(billing.payment_method, "/billing/payment_method")),
            "payment_month_offset": billing.payment_month_offset,
            "payment_day": billing.payment_day,
        }
    amount = None
    if (tx := payload.transactions) is not None:
        amount = tx.annual_amount
        record["transactions"] = apply(
            _transactions(tx.started_on, tx.last_transaction_on, tx.annual_amount, tx.category)
        )
    classification = _classification(payload, amount, rank_rules, report)
    if classification is not None:
        record["classification"] = classification
    if (profile := payload.company_profile) is not None:
        record["company_profile"] = {
            "employees": profile.employees,
            "capital": profile.capital,
            "established_on": apply(
                _date(profile.established_on, "/company_profile/established_on")
            ),
        }
        _check_not_future(
            record["company_profile"]["established_on"],
            "/company_profile/established_on",
            "設立日",
            report,
        )
    if (relations := payload.relations) is not None:
        record["relations"] = _relations(relations, report)
    if payload.custom_fields:
        record["custom_fields"] = dict(payload.custom_fields)
    if report.errors:
        raise NormalizationError(report.errors)
    return NormalizationResult(CustomerRecord.model_validate(record), report.changes)


# --- single values ----------------------------------------------------------------------------


def _rewritten(
    value: str | None, pointer: str, code: str, normalize: Callable[[str], str]
) -> tuple[Report, str | None]:
    """``normalize(value)`` (None for None or an empty result), and a report of the change."""
    report = Report()
    if value is None:
        return report, None
    normalized = normalize(value)
    if normalized != value:
        report.change(pointer, code, f"{value!r} → {normalized!r}")
    return report, normalized or None


@lru_cache(maxsize=_CACHE)
def _text(value: str | None, pointer: str) -> Outcome:
    report, text = _rewritten(value, pointer, "text_normalized", normalize_text)
    return report.outcome(text)


_KANA_DISPLAY = re.compile(r"[\u30a0-\u30ff\s0-9A-Za-z()・.,&'/\-]*")


def _check_kana(kana: str, pointer: str, report: Report) -> None:
    if not _KANA_DISPLAY.fullmatch(kana):
        report.warn(
            pointer, "name_kana_not_kana", f"フリガナ {kana!r} contains characters other than kana"
        )


@lru_cache(maxsize=_CACHE)
def _kana(value: str | None, pointer: str) -> Outcome:
    report, kana = _rewritten(value, pointer, "kana_normalized", normalize_kana)
    if kana:
        _check_kana(kana, pointer, report)
    return report.outcome(kana)


@lru_cache(maxsize=_CACHE)
def _date(value: str | None, pointer: str) -> Outcome:
    report = Report()
    if value is None or not normalize_text(value):
        return report.outcome(None)
    try:
        parsed = parse_date(value)
    except InvalidValue as exc:
        report.error(pointer, exc.code, exc.message)
        return report.outcome(None)
    if parsed.value.isoformat() != value:
        written = f"和暦 ({parsed.era})" if parsed.era else "date"
        report.change(pointer, "date_converted", f"{written} {value!r} → {parsed.value}")
    if parsed.warning:
        report.warn(pointer, "era_date_out_of_range", parsed.warning)
    return report.outcome(parsed.value)


def _check_not_future(value: dt.date | None, pointer: str, label: str, report: Report) -> None:
    # Not inside the cached _date: "today" moves.
    if value is not None and value > dt.datetime.now(_JAPAN).date():
        report.warn(pointer, "date_in_future", f"{label} {value} is in the future")


# --- names ------------------------------------------------------------------------------------


@lru_cache(maxsize=_CACHE)
def _corporation_names(name: str | None, name_kana: str | None, has_person_name: bool) -> Outcome:
    report = Report()
    if name is None or not normalize_text(name):
        report.error("/name", "required", "a corporation needs a name")
        return report.outcome({"name": ""})
    parsed = parse_company_name(name)
    company = parsed.name
    if company.legal_form:
        position = "前株" if company.legal_form_position == "prefix" else "後株"
        report.change(
            "/name",
            "legal_form_extracted",
            f"法人格 {parsed.legal_form_written!r} → {company.legal_form} ({position})",
        )
    if company.branch:
        report.change("/name", "branch_extracted", f"事業所 {company.branch!r} kept apart")
    if company.note:
        report.change(
            "/name", "name_note_extracted", f"注記 {company.note!r} kept apart from the name"
        )
    if parsed.display != name and not (company.legal_form or company.note):
        report.change("/name", "text_normalized", f"{name!r} → {parsed.display!r}")
    if has_person_name:
        report.warn("/person_name", "person_name_ignored", "a corporation has no 姓/名")
    kana = report.apply(_kana(name_kana, "/name_kana"))
    return report.outcome(
        {
            "name": parsed.display,
            "name_kana": kana,
            "company_name": company.model_dump(),
            "kana_key": (company_kana_key(kana) or None) if kana else None,
        }
    )


@lru_cache(maxsize=_CACHE)
def _person_names(
    name: str | None,
    name_kana: str | None,
    parts: tuple[str | None, str | None, str | None, str | None] | None,
) -> Outcome:
    report = Report()
    person = None
    if parts is not None:
        person = PersonNameIn.model_construct(
            family_name=parts[0],
            given_name=parts[1],
            family_name_kana=parts[2],
            given_name_kana=parts[3],
        )
    parsed = parse_person_name(name, name_kana, person)
    if not parsed.display:
        report.error("/name", "required", "a person needs a name or person_name")
        return report.outcome({"name": ""})
    if parsed.split:
        family, given = parsed.name.family_name, parsed.name.given_name
        report.change("/name", "person_name_split", f"姓 {family!r}, 名 {given!r}")
    has_parts = parts is not None and any(p and normalize_text(p) for p in parts[:2])
    if name and normalize_text(name) and has_parts and fold_key(name) != parsed.name.key:
        report.warn(
            "/name",
            "person_name_mismatch",
            f"name {name!r} differs from person_name {parsed.display!r}; person_name kept",
        )
    if name is not None and parsed.display != name and not parsed.split:
        report.change("/name", "text_normalized", f"{name!r} → {parsed.display!r}")
    if name_kana is not None:
        report.apply(_kana(name_kana, "/name_kana"))
    kana = parsed.kana
    if kana and name_kana is None:
        _check_kana(kana, "/person_name", report)
    return report.outcome(
        {
            "name": parsed.display,
            "name_kana": kana,
            "person_name": parsed.name.model_dump(),
            "kana_key": (kana_fold(kana) or None) if kana else None,
        }
    )


# --- relations --------------------------------------------------------------------------------


def _relations(relations: RelationsIn, report: Report) -> dict[str, Any]:
    """Each link named in at most one way; codes and ids as text, 法人番号 as digits, dates
    parsed, the end of a link not before its start."""
    apply = report.apply
    out: dict[str, Any] = {"site_type": relations.site_type}
    for link, prefix in (("site", "site_of"), ("parent", "parent")):
        base = f"/relations/{prefix}"
        code = apply(_text(getattr(relations, f"{prefix}_customer_code"), f"{base}_customer_code"))
        source = getattr(relations, f"{prefix}_source")
        key = None
        if source is not None:
            system = apply(_text(source.system, f"{base}_source/system"))
            source_id = apply(_text(source.source_id, f"{base}_source/source_id"))
            if source_id is None:
                report.error(f"{base}_source/source_id", "required", "name the source record")
            else:
                key = {"system": system, "source_id": source_id}
        number = None
        written = getattr(relations, f"{prefix}_corporate_number")
        if written is not None and normalize_text(written):
            try:
                number = corporate_number_digits(written)
            except InvalidValue as exc:
                report.error(f"{base}_corporate_number", exc.code, exc.message)
        named = [
            n
            for n, v in (("customer_code", code), ("source", key), ("corporate_number", number))
            if v
        ]
        if len(named) > 1:
            report.error(
                f"{base}_{named[1]}",
                "several_references",
                f"name the {link} in one way only ({', '.join(prefix + '_' + n for n in named)})",
            )
        start = apply(
            _date(getattr(relations, f"{link}_valid_from"), f"/relations/{link}_valid_from")
        )
        end = apply(_date(getattr(relations, f"{link}_valid_to"), f"/relations/{link}_valid_to"))
        if start is not None and end is not None and end < start:
            report.error(
                f"/relations/{link}_valid_to", "before_valid_from", "valid_to is before valid_from"
            )
        out |= {
            f"{prefix}_customer_code": code,
            f"{prefix}_source": key,
            f"{prefix}_corporate_number": number,
            f"{link}_valid_from": start,
            f"{link}_valid_to": end,
        }
    out["parent_relation_type"] = relations.parent_relation_type
    return out


# --- numbers ----------------------------------------------------------------------------------


@lru_cache(maxsize=_CACHE)
def _numbers(
    kind: CustomerKind, corporate_number: str | None, invoice_number: str | None
) -> Outcome:
    report = Report()
    corporate = invoice = None
    if corporate_number is not None and normalize_text(corporate_number):
        try:
            corporate = corporate_number_digits(corporate_number)
        except InvalidValue as exc:
            report.error("/corporate_number", exc.code, exc.message)
        else:
            if problem := check_digit_problem(corporate):
                report.warn(
                    "/corporate_number",
                    "corporate_number_check_digit_mismatch",
                    f"法人番号 {corporate}: {problem}; kept as written, not used for matching",
                )
            if corporate != corporate_number:
                report.change(
                    "/corporate_number", "text_normalized", f"{corporate_number!r} → {corporate}"
                )
            if kind is CustomerKind.person:
                report.warn(
                    "/corporate_number",
                    "corporate_number_on_person",
                    "a 法人番号 was given for a person (個人 have none)",
                )
    pointer = "/invoice_registration_number"
    if invoice_number is not None and normalize_text(invoice_number):
        try:
            invoice, added = invoice_number_form(invoice_number)
        except InvalidValue as exc:
            report.error(pointer, exc.code, exc.message)
        else:
            if problem := check_digit_problem(invoice[1:]):
                report.warn(
                    pointer,
                    "invoice_registration_number_check_digit_mismatch",
                    f"インボイス登録番号 {invoice}: {problem}; kept as written",
                )
            if added:
                report.change(
                    pointer, "invoice_number_prefix_added", f"{invoice_number!r} → {invoice}"
                )
            elif invoice != invoice_number:
                report.change(pointer, "text_normalized", f"{invoice_number!r} → {invoice}")
            written = (
                corporate_number if corporate_number and normalize_text(corporate_number) else None
            )
            _check_invoice_against_corporate(kind, written, corporate, invoice, report)
            if kind is CustomerKind.corporation and written is None:
                corporate = invoice[1:]
    return report.outcome({"corporate_number": corporate, "invoice_registration_number": invoice})


def _check_invoice_against_corporate(
    kind: CustomerKind,
    corporate_written: str | None,
    corporate: str | None,
    invoice: str,
    report: Report,
) -> None:
    # A corporation's インボイス登録番号 is T + its 法人番号; anyone else (個人事業主, 人格のない
    # 社団) gets another number, which is valid too.
    if kind is not CustomerKind.corporation:
        return
    if corporate_written is None:
        report.change(
            "/corporate_number",
            "corporate_number_filled",
            f"法人番号 {invoice[1:]} from インボイス登録番号 {invoice} (T + 法人番号)",
        )
    elif corporate is not None and invoice[1:] != corporate:
        report.warn(
            "/invoice_registration_number",
            "invoice_number_differs_from_corporate_number",
            f"a corporation's インボイス登録番号 is T + its 法人番号 (T{corporate}), got {invoice}",
        )


# --- phones, emails, contacts -----------------------------------------------------------------


@lru_cache(maxsize=_CACHE)
def _phone(number: str, purpose: PhonePurpose, extension: str | None, pointer: str) -> Outcome:
    report = Report()
    try:
        parsed = parse_phone(number)
    except InvalidValue as exc:
        report.error(f"{pointer}/number", exc.code, exc.message)
        return report.outcome(None)
    if not parsed.valid:
        report.warn(
            f"{pointer}/number",
            "phone_number_not_valid",
            f"{number!r} is not in an allocated range of numbers; kept as written",
        )
    elif parsed.number != number:
        report.change(f"{pointer}/number", "phone_normalized", f"{number!r} → {parsed.number}")
    if extension is None and parsed.extension:
        report.change(f"{pointer}/extension", "phone_extension_split", f"内線 {parsed.extension}")
    return report.outcome(
        {
            "number": parsed.number,
            "e164": parsed.e164,
            "line_type": parsed.line_type,
            "purpose": purpose,
            "extension": normalize_extension(extension) or parsed.extension,
        }
    )


def _phones(items: Sequence[Any], pointer: str, report: Report) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(items):
        phone = report.apply(_phone(item.number, item.purpose, item.extension, f"{pointer}/{i}"))
        if phone is not None:
            out.append(phone)
    return out


@lru_cache(maxsize=_CACHE)
def _email(address: str, purpose: EmailPurpose, pointer: str) -> Outcome:
    report = Report()
    try:
        cleaned, problem = check_email(address)
    except InvalidValue as exc:
        report.error(f"{pointer}/address", exc.code, exc.message)
        return report.outcome(None)
    if problem is not None:
        report.warn(
            f"{pointer}/address",
            "email_domain_not_deliverable",
            f"{cleaned}: the domain cannot exist ({problem})",
        )
    if cleaned != address:
        report.change(f"{pointer}/address", "email_normalized", f"{address!r} → {cleaned}")
    return report.outcome({"address": cleaned, "purpose": purpose})


def _emails(items: Sequence[Any], pointer: str, report: Report) -> list[dict[str, Any]]:
    out = []
    for i, item in enumerate(items):
        email = report.apply(_email(item.address, item.purpose, f"{pointer}/{i}"))
        if email is not None:
            out.append(email)
    return out


def _contact(item: Any, pointer: str, report: Report) -> dict[str, Any]:
    name = report.apply(_text(item.name, f"{pointer}/name"))
    if not name:
        report.error(f"{pointer}/name", "required", "a contact needs a name")
    return {
        "name": name or "",
        "name_kana": report.apply(_kana(item.name_kana, f"{pointer}/name_kana")),
        "department": report.apply(_text(item.department, f"{pointer}/department")),
        "title": report.apply(_text(item.title, f"{pointer}/title")),
        "phones": _phones(item.phones, f"{pointer}/phones", report),
        "emails": _emails(item.emails, f"{pointer}/emails", report),
    }


# --- the rest ---------------------------------------------------------------------------------


@lru_cache(maxsize=_CACHE)
def _transactions(
    started_on: str | None, last_on: str | None, amount: int | None, category: str | None
) -> Outcome:
    report = Report()
    started = report.apply(_date(started_on, "/transactions/started_on"))
    last = report.apply(_date(last_on, "/transactions/last_transaction_on"))
    if started and last and last < started:
        report.warn(
            "/transactions/last_transaction_on",
            "last_transaction_before_start",
            f"最終取引日 {last} is before 取引開始日 {started}",
        )
    return report.outcome(
        {
            "started_on": started,
            "last_transaction_on": last,
            "annual_amount": amount,
            "category": report.apply(_text(category, "/transactions/category")),
        }
    )


def _classification(
    payload: CustomerIn, amount: int | None, rules: Sequence[RankRule], report: Report
) -> dict[str, Any] | None:
    item = payload.classification
    derived = derive_rank(amount, rules) if rules and amount is not None else None
    if item is None and derived is None:
        return None
    apply = report.apply
    given = apply(_text(item.rank, "/classification/rank")) if item else None
    rank = given
    if derived is not None:
        rank = derived
        if given is None:
            message = f"rank {derived} from 取引金額 {amount:,} 円"
            report.change("/classification/rank", "rank_derived", message)
        elif given != derived:
            report.warn(
                "/classification/rank",
                "rank_conflicts_with_rules",
                f"rank {given!r} was sent, but 取引金額 {amount:,} 円 gives {derived!r}; "
                f"{derived!r} stored",
            )
    if item is None:
        return {"rank": rank}
    return {
        "industry": apply(_text(item.industry, "/classification/industry")),
        "region": apply(_text(item.region, "/classification/region")),
        "rank": rank,
        "segment": apply(_text(item.segment, "/classification/segment")),
    }


# --- the way back -----------------------------------------------------------------------------


def as_input(record: CustomerRecord) -> CustomerIn:
    """A stored record as a source would send it; normalizing it gives the record back.

    Used to re-normalize stored records after a rule change, and by the idempotence tests.
    """
    name = record.name
    if record.company_name and (note := record.company_name.note):
        opening, closing = next(
            (
                (opening, closing)
                for opening, closing in (("【", "】"), ("[", "]"), ("(", ")"))
                # a bracket of the name itself (an unpaired 【) would pair with the note's
                if not {opening, closing} & set(note + name)
            ),
            ("【", "】"),
        )
        name = f"{name} {opening}{note}{closing}"
    data = record.model_dump(mode="json", exclude={"company_name", "kana_key", "name"})
    data["name"] = name
    if record.person_name is not None:
        data["person_name"] = record.person_name.model_dump(exclude={"key"})
    else:
        data.pop("person_name", None)
    for address in data["addresses"]:
        address.pop("site_key")
    for phone in [*data["phones"], *(p for c in data["contacts"] for p in c["phones"])]:
        phone.pop("e164")
        phone.pop("line_type")
    return CustomerIn.model_validate(data)
