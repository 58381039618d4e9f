"""Field comparisons: each turns a pair of prepared records into one comparison level.

Records arrive normalized (``mdm_hub.normalize``); :func:`prepare` extracts, once per record,
what the comparisons need, so scoring a record against 20 candidates prepares it once.

Similarity is measured on characters (rapidfuzz Jaro-Winkler on ``str``), and only on what
distinguishes customers: the company *name body* key (the legal form is not in it), the address
*below the city* (prefecture and city only decide whether two addresses are comparable at all,
they never add weight by agreeing).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from rapidfuzz.distance import OSA, JaroWinkler

from mdm_hub.matching.keys import (
    EMAIL,
    IDENTIFIER,
    NAME,
    PERSON_NAME,
    PHONE,
    BlockingKey,
    identifier_key_value,
    identifier_value,
)
from mdm_hub.matching.levels import IDENTIFIER_COMPARE, OPTIONAL_LEVELS, L
from mdm_hub.normalize.corporate_number import is_valid_corporate_number
from mdm_hub.normalize.text import fold_key, kana_fold
from mdm_hub.record import AddressPurpose, CustomerKind, CustomerRecord, PhoneLineType, SiteType

if TYPE_CHECKING:
    from mdm_hub.matching.config import MatchConfig

_jw = JaroWinkler.normalized_similarity


_SEPARATORS = str.maketrans("", "", " 　・･.,，、。'’\"-‐‑–—_/&＆()（）")
_BILLING, _SHIPPING = AddressPurpose.billing.value, AddressPurpose.shipping.value
_PERSON, _CORPORATION = CustomerKind.person.value, CustomerKind.corporation.value
_HEAD_OFFICE = SiteType.head_office.value
_MOBILE = PhoneLineType.mobile.value
_SITE_TYPES = {member: member.value for member in SiteType}


# ---------------------------------------------------------------------------------------------
# Prepared records
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class PreparedAddress:
    postal_code: str | None
    prefecture: str | None
    city: str | None
    town: str | None
    street: str | None
    building: str | None
    site_key: str | None

    def describe(self) -> str:
        parts = [self.city or "", self.town or "", self.street or ""]
        text = "".join(parts) or (self.postal_code or "")
        return f"{text}{' ' + self.building if self.building else ''}"


@dataclass(slots=True, eq=False)
class PreparedRecord:
    """What the comparisons need from one record, computed once (treat as read-only)."""

    record: CustomerRecord
    kind: str
    corporate_number: str | None
    name_key: str | None
    name_compact: str | None
    kana_key: str | None
    branch: str | None
    site_type: str | None
    is_head_office: bool
    is_site: bool
    family: str | None
    given: str | None
    family_kana: str | None
    given_kana: str | None
    birth_date: dt.date | None
    addresses: tuple[PreparedAddress, ...]
    phones: dict[str, bool]  # e164 → is mobile
    emails: frozenset[str]
    email_domains: frozenset[str]
    role_emails: frozenset[str]
    identifiers: dict[str, str]  # custom field key → comparable value (declared fields only)


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = "".join(value.split())
    return value or None


def prepare(record: CustomerRecord | PreparedRecord, config: MatchConfig) -> PreparedRecord:
    """Extract what scoring needs from a normalized record (idempotent)."""
    if isinstance(record, PreparedRecord):
        return record
    # Enum members are turned into plain str once: hashing/comparing members is slow.
    kind = _PERSON if record.kind == _PERSON else _CORPORATION
    cn = record.company_name
    pn = record.person_name
    if kind is _PERSON:
        name_key = _clean(pn.key) if pn else None
    else:
        name_key = _clean(cn.key) if cn else None
    branch = _clean(cn.branch) if cn else None
    relations = record.relations
    site_type = relations.site_type if relations is not None else None
    site_type_s = None if site_type is None else _SITE_TYPES.get(site_type, str(site_type))
    is_head = site_type_s == _HEAD_OFFICE or (
        branch is not None and branch in config.head_office_names
    )
    is_site = (not is_head) and (branch is not None or site_type_s is not None)

    # The site is where the customer *is* (head office, home, other), not where bills go.
    location = [a for a in record.addresses if a.purpose != _BILLING and a.purpose != _SHIPPING]
    addresses = tuple(
        PreparedAddress(
            a.postal_code or None,
            a.prefecture or None,
            a.city or None,
            a.town or None,
            a.street or None,
            a.building or None,
            a.site_key or None,
        )
        for a in (location or record.addresses)
    )

    phones: dict[str, bool] = {}
    for p in record.phones:
        if p.e164:
            phones[p.e164] = phones.get(p.e164, False) or p.line_type == _MOBILE

    emails: set[str] = set()
    domains: set[str] = set()
    roles: set[str] = set()
    for e in record.emails:
        address = e.address
        if not address:
            continue
        emails.add(address)
        local, _, domain = address.rpartition("@")
        domain = domain.casefold()
        if domain and domain not in config.free_mail_domains:
            domains.add(domain)
        if local.casefold() in config.role_mailboxes:
            roles.add(address)

    return PreparedRecord(
        record=record,
        kind=kind,
        # A failing check digit: neither evidence for nor against (a quality finding).
        corporate_number=record.corporate_number
        if record.corporate_number and is_valid_corporate_number(record.corporate_number)
        else None,
        name_key=name_key,
        name_compact=name_key.translate(_SEPARATORS).casefold() if name_key else None,
        kana_key=_clean(record.kana_key),
        branch=branch,
        site_type=site_type_s,
        is_head_office=is_head,
        is_site=is_site,
        # Parts folded like the name key (旧字体, width, case): 髙田 and 高田 are one family.
        family=_folded(pn.family_name, fold_key) if pn else None,
        given=_folded(pn.given_name, fold_key) if pn else None,
        family_kana=_folded(pn.family_name_kana, kana_fold) if pn else None,
        given_kana=_folded(pn.given_name_kana, kana_fold) if pn else None,
        birth_date=record.birth_date,
        addresses=addresses,
        phones=phones,
        emails=frozenset(emails),
        email_domains=frozenset(domains),
        role_emails=frozenset(roles),
        identifiers=_identifiers(record, config.identifier_fields),
    )


def _folded(value: str | None, fold: Callable[[str], str]) -> str | None:
    return (fold(value) or None) if value else None


def _identifiers(record: CustomerRecord, fields: frozenset[str]) -> dict[str, str]:
    if not fields or not record.custom_fields:
        return {}
    out: dict[str, str] = {}
    for key in fields:
        value = identifier_value(record.custom_fields.get(key))
        if value:
            out[key] = value
    return out


# ---------------------------------------------------------------------------------------------
# Comparisons. Each returns (level, detail, keys whose frequency adjusts the weight).
# ---------------------------------------------------------------------------------------------

TermKeys = tuple[str, tuple[str, ...]] | None
"""(blocking-key kind, agreeing values) whose frequency may lower the weight."""
Outcome = tuple[str, str, TermKeys]
Comparator = Callable[[PreparedRecord, PreparedRecord, "MatchConfig"], Outcome]
_NONE: TermKeys = None
_MISSING: Outcome = (L.missing, "", _NONE)


def term_keys(tf: TermKeys) -> list[BlockingKey]:
    """The blocking keys of an outcome's agreeing values."""
    return [] if tf is None else [BlockingKey(tf[0], v) for v in tf[1]]


def compare_corporate_number(a: PreparedRecord, b: PreparedRecord, c: MatchConfig) -> Outcome:
    if not a.corporate_number or not b.corporate_number:
        return _MISSING
    if a.corporate_number == b.corporate_number:
        return (L.exact, a.corporate_number, _NONE)
    return (L.different, f"{a.corporate_number} ≠ {b.corporate_number}", _NONE)


def compare_company_name(a: PreparedRecord, b: PreparedRecord, c: MatchConfig) -> Outcome:
    if not a.name_key or not b.name_key:
        return _MISSING
    if a.name_key == b.name_key:
        return (L.exact, a.name_key, (NAME, (a.name_key,)))
    if a.name_compact == b.name_compact:
        return (L.normalized_equal, f"{a.name_key} ≈ {b.name_key}", _NONE)
    if a.kana_key and a.kana_key == b.kana_key:
        return (L.kana_equal, f"kana={a.kana_key}", _NONE)
    s = _jw(a.name_key, b.name_key)
    detail = f"jaro_winkler={s:.2f}"
    if s >= c.similarity.name_high:
        return (L.similar_high, detail, _NONE)
    if s >= c.similarity.name_low:
        return (L.similar_low, detail, _NONE)
    return (L.different, detail, _NONE)


def compare_branch(a: PreparedRecord, b: PreparedRecord, c: MatchConfig) -> Outcome:
    """The site (事業所) each record names: 本社, 大阪支店, or a site type."""
    if a.branch and b.branch:
        if a.branch == b.branch:
            return (L.exact, a.branch, _NONE)
        s = _jw(a.branch, b.branch)
        if s >= c.similarity.branch and a.is_head_office == b.is_head_office:
            return (L.exact, f"{a.branch} ≈ {b.branch} jaro_winkler={s:.2f}", _NONE)
        return (L.different, f"{a.branch} ≠ {b.branch}", _NONE)
    if a.is_head_office and b.is_head_office:
        return (L.exact, "head_office", _NONE)
    if (a.is_head_office and b.is_site) or (a.is_site and b.is_head_office):
        return (L.different, f"{_site_label(a)} ≠ {_site_label(b)}", _NONE)
    if a.site_type and b.site_type and a.site_type != b.site_type:
        return (L.different, f"{a.site_type} ≠ {b.site_type}", _NONE)
    if a.is_site != b.is_site and not (a.site_type and b.site_type):
        return (L.one_sided, f"site only on one side: {_site_label(a if a.is_site else b)}", _NONE)
    return _MISSING


def _site_label(p: PreparedRecord) -> str:
    return p.branch or p.site_type or ("head_office" if p.is_head_office else "-")


_ADDRESS_RANK = {
    L.exact: 0,
    L.same_site: 1,
    L.similar: 2,
    L.other_unit: 3,
    L.same_town: 4,
    L.other_street: 5,
    L.partial: 6,
    L.different: 7,
    L.missing: 8,
}


def compare_address(a: PreparedRecord, b: PreparedRecord, c: MatchConfig) -> Outcome:
    """The best agreement between the records' location addresses (not billing/shipping)."""
    if not a.addresses or not b.addresses:
        return _MISSING
    best: str = L.missing
    best_detail = ""
    for x in a.addresses:
        for y in b.addresses:
            level, detail = _address_level(x, y, c.similarity.town)
            if _ADDRESS_RANK[level] < _ADDRESS_RANK[best]:
                best, best_detail = level, detail
                if level == L.exact:
                    return (best, best_detail, _NONE)
    if best == L.partial and L.partial not in c.kinds[a.kind].fields["address"].levels:
        best = OPTIONAL_LEVELS[L.partial]  # a weights file from before the level
    return (best, best_detail, _NONE)


def _address_level(
    x: PreparedAddress, y: PreparedAddress, town_threshold: float
) -> tuple[str, str]:
    # Is the area (市区町村) the same? Prefecture alone never counts.
    area_typo = False
    if x.city and y.city:
        same_area = x.city == y.city and (
            not x.prefecture or not y.prefecture or x.prefecture == y.prefecture
        )
        if not same_area and not x.prefecture and not y.prefecture:
            # Neither address could be placed (no prefecture: not a Japanese address the
            # postal data knows), so the city is free text and may carry a typo. A placed
            # city is canonical: 府中市 and 豊中市 stay two areas.
            same_area = area_typo = _jw(x.city, y.city) >= town_threshold
    elif x.postal_code and y.postal_code:
        same_area = x.postal_code == y.postal_code
    else:
        return (L.missing, "")
    if not same_area:
        # Free-text areas (neither placed): the same town and number under another area name
        # is partial agreement. A placed city is canonical: another city is another place.
        if (
            not x.prefecture
            and not y.prefecture
            and x.street
            and x.street == y.street
            and x.town
            and y.town
            and (x.town == y.town or _jw(x.town, y.town) >= town_threshold)
        ):
            return (L.partial, f"{x.town}{x.street}, area {x.city} ≠ {y.city}")
        return (L.different, f"{x.describe()} ≠ {y.describe()}")
    if area_typo:
        level, detail = _address_level_in_area(x, y, town_threshold)
        if level in (L.exact, L.same_site):
            return (L.similar, f"city {x.city} ~ {y.city}; {detail}")
        return (level, detail)
    return _address_level_in_area(x, y, town_threshold)


def _address_level_in_area(
    x: PreparedAddress, y: PreparedAddress, town_threshold: float
) -> tuple[str, str]:

    if x.town and y.town:
        town_equal = x.town == y.town
        town_score = 1.0 if town_equal else _jw(x.town, y.town)
    elif x.postal_code and y.postal_code:
        town_equal = x.postal_code == y.postal_code
        town_score = 1.0 if town_equal else 0.0
    elif x.street and x.street == y.street:
        # The town written on one side only (or on neither): the same number in the same area
        # agrees as far as both go, like a street on one side only; nothing tells the sites
        # apart, and nothing says they are two.
        return (L.same_town, f"{x.town or y.town or ''}{x.street}, town on one side only")
    else:
        return (L.missing, "")

    if x.street and y.street:
        if x.street == y.street or (x.site_key and x.site_key == y.site_key):
            if town_equal or (x.site_key and x.site_key == y.site_key):
                return _building_level(x, y)
            if town_score >= town_threshold:
                return (L.similar, f"town jaro_winkler={town_score:.2f}")
            return (L.partial, f"{x.street}, town {x.town} ≠ {y.town}")
        if not town_equal:
            return (L.different, f"{x.describe()} ≠ {y.describe()}")
        if _street_prefix(x.street, y.street):
            return (L.similar, f"{x.street} ⊂ {y.street}")
        return (L.other_street, f"{x.town}: {x.street} ≠ {y.street}")
    if town_equal:
        return (L.same_town, f"{x.town or x.postal_code}, street on one side only")
    if town_score >= town_threshold and not (x.street and y.street):
        # No street number to tell two sites apart, and the town differs by a typo.
        return (L.same_town, f"town jaro_winkler={town_score:.2f}, no street on one side")
    return (L.different, f"{x.describe()} ≠ {y.describe()}")


def _unit_on_one_side(a: str, b: str) -> bool:
    """One building text is the other plus a floor/wing/room; "ハイツ20" / "ハイツ205" are two
    rooms, not one room written twice (digits running on are not a new part)."""
    short, long = sorted((a, b), key=len)
    if not long.startswith(short) or len(long) == len(short):
        return False
    rest = long[len(short) :]
    return rest[0] == " " or not (short[-1].isdigit() and rest[0].isdigit())


def _building_level(x: PreparedAddress, y: PreparedAddress) -> tuple[str, str]:
    where = f"{x.town or ''}{x.street}"
    if x.building == y.building:
        return (L.exact, where + (f" {x.building}" if x.building else ""))
    if x.building and y.building:
        a, b = fold_key(x.building), fold_key(y.building)
        if a == b:  # "サンハイツ 205" / "サンハイツ205": spacing and width only
            return (L.exact, f"{where} {x.building}")
        if _unit_on_one_side(x.building, y.building):
            # "サンハイツ205" / "サンハイツ205 3~6階": the floor or wing written on one side only
            return (L.same_site, f"{where}: {x.building} / {y.building}, unit on one side only")
        return (L.other_unit, f"{where}: {x.building} ≠ {y.building}")
    return (L.same_site, f"{where}, building on one side only")


def _street_prefix(s: str, t: str) -> bool:
    """``1-2`` and ``1-2-3``: one street number is the other with 号 left out."""
    short, long_ = (s, t) if len(s) < len(t) else (t, s)
    return long_.startswith(short + "-")


def compare_phone_corporation(a: PreparedRecord, b: PreparedRecord, c: MatchConfig) -> Outcome:
    if not a.phones or not b.phones:
        return _MISSING
    shared = [p for p in a.phones if p in b.phones]
    if shared:
        shared.sort()
        return (L.exact, ",".join(shared), (PHONE, tuple(shared)))
    return (L.different, "", _NONE)


def compare_phone_person(a: PreparedRecord, b: PreparedRecord, c: MatchConfig) -> Outcome:
    if not a.phones or not b.phones:
        return _MISSING
    shared = sorted(p for p in a.phones if p in b.phones)
    if not shared:
        return (L.different, "", _NONE)
    mobile = [p for p in shared if a.phones[p] or b.phones[p]]
    keys = (PHONE, tuple(mobile or shared))
    if mobile:
        return (L.exact_mobile, ",".join(mobile), keys)
    return (L.exact, ",".join(shared), keys)


def compare_email_corporation(a: PreparedRecord, b: PreparedRecord, c: MatchConfig) -> Outcome:
    if not a.emails or not b.emails:
        return _MISSING
    shared = a.emails & b.emails
    if shared:
        personal = sorted(shared - a.role_emails - b.role_emails)
        if personal:
            return (L.exact, ",".join(personal), (EMAIL, tuple(personal)))
        roles = sorted(shared)
        return (L.role_exact, ",".join(roles), (EMAIL, tuple(roles)))
    domains = a.email_domains & b.email_domains
    if domains:
        return (L.same_domain, ",".join(sorted(domains)), _NONE)
    return (L.different, "", _NONE)


def compare_email_person(a: PreparedRecord, b: PreparedRecord, c: MatchConfig) -> Outcome:
    if not a.emails or not b.emails:
        return _MISSING
    shared = sorted(a.emails & b.emails)
    if shared:
        return (L.exact, ",".join(shared), (EMAIL, tuple(shared)))
    return (L.different, "", _NONE)


def compare_person_name(a: PreparedRecord, b: PreparedRecord, c: MatchConfig) -> Outcome:
    if not a.name_key or not b.name_key:
        return _MISSING
    if a.name_key == b.name_key:
        return (L.exact, a.name_key, (PERSON_NAME, (a.name_key,)))
    if a.kana_key and a.kana_key == b.kana_key:
        return (L.kana_equal, f"kana={a.kana_key}", _NONE)
    sim = c.similarity
    parts = _split(a, b)
    if parts is not None:
        (fa, ga, fka, gka), (fb, gb, fkb, gkb) = parts
        fam_eq = fa == fb or bool(fka and fka == fkb)
        giv_eq = ga == gb or bool(gka and gka == gkb)
        if fam_eq and giv_eq:
            return (L.kana_equal, f"{fa}{ga} ≈ {fb}{gb}", _NONE)
        fam_s = 1.0 if fam_eq else _jw(fa, fb)
        giv_s = 1.0 if giv_eq else _jw(ga, gb)
        detail = f"family jaro_winkler={fam_s:.2f}, given jaro_winkler={giv_s:.2f}"
        fam_sim = fam_s >= sim.person_part
        giv_sim = giv_s >= sim.person_part
        if fam_sim and giv_sim:
            return (L.similar_high, detail, _NONE)
        # 姓 and 名 entered the wrong way round (one source's form had them reversed).
        if not fam_sim and _jw(fa, gb) >= sim.person_part and _jw(ga, fb) >= sim.person_part:
            return (L.similar_high, f"family and given swapped: {fa} {ga} ↔ {fb} {gb}", _NONE)
        # One part the same (or the same up to a typing error), the other another name.
        if fam_sim and not giv_sim:
            return (L.given_differs, f"{fa}: {ga} ≠ {gb}", _NONE)
        if giv_sim and not fam_sim:
            return (L.family_differs, f"{ga}: {fa} ≠ {fb}", _NONE)
        # One part agrees but in the other's place (姓 and 名 swapped, the other replaced): as
        # weak as one part agreeing in its place with the other replaced.
        if _jw(fa, gb) >= sim.person_part or _jw(ga, fb) >= sim.person_part:
            return (
                L.family_differs,
                f"one part in the other's place: {fa} {ga} / {fb} {gb}",
                _NONE,
            )
        return (L.different, detail, _NONE)
    one_part = _one_part_agrees(a, b, sim.person_part)
    if one_part:
        return (L.similar_low, one_part, _NONE)
    s = _jw(a.name_key, b.name_key)
    detail = f"jaro_winkler={s:.2f}"
    # Unsplit names: a shared head with different tails reads as one family, two people —
    # unless the tails are the same letters with two neighbours swapped (a typing error).
    head = _common_prefix_len(a.name_key, b.name_key)
    if (
        head >= 2
        and min(len(a.name_key), len(b.name_key)) > head
        and not _adjacent_swap(a.name_key, b.name_key)
    ):
        tail_a, tail_b = a.name_key[head:], b.name_key[head:]
        if _jw(tail_a, tail_b) < sim.person_part:
            return (L.given_differs, f"{a.name_key[:head]}: {tail_a} ≠ {tail_b}", _NONE)
    if s >= sim.person_name_high:
        return (L.similar_high, detail, _NONE)
    if s >= sim.person_name_low:
        return (L.similar_low, detail, _NONE)
    return (L.different, detail, _NONE)


def _split(
    a: PreparedRecord, b: PreparedRecord
) -> tuple[tuple[str, str, str | None, str | None], tuple[str, str, str | None, str | None]] | None:
    if a.family and a.given and b.family and b.given:
        return (
            (a.family, a.given, a.family_kana, a.given_kana),
            (b.family, b.given, b.family_kana, b.given_kana),
        )
    return None


def _one_part_agrees(a: PreparedRecord, b: PreparedRecord, threshold: float) -> str:
    """One record names 姓 and 名, the other only one of them, and that one agrees with a part
    of the full name (Jaro-Winkler ≥ ``threshold``; either part, as sources swap them): the
    detail of a weak agreement, or "" when this is not the case."""
    if a.family and a.given:
        full, lone = a, b
    elif b.family and b.given:
        full, lone = b, a
    else:
        return ""
    if bool(lone.family) == bool(lone.given):  # both parts (handled by the caller) or none
        return ""
    part = lone.family or lone.given or ""
    for other in (full.family or "", full.given or ""):
        if part == other or _jw(part, other) >= threshold:
            which = "family name" if lone.family else "given name"
            return f"only the {which} on one side: {part} ~ {other}"
    return ""


def _adjacent_swap(s: str, t: str) -> bool:
    """``t`` is ``s`` with two neighbouring characters swapped (HERBERT / HERBRET)."""
    if len(s) != len(t) or s == t:
        return False
    diff = [i for i, (x, y) in enumerate(zip(s, t, strict=True)) if x != y]
    return (
        len(diff) == 2
        and diff[1] == diff[0] + 1
        and s[diff[0]] == t[diff[1]]
        and (s[diff[1]] == t[diff[0]])
    )


def _common_prefix_len(s: str, t: str) -> int:
    n = 0
    for x, y in zip(s, t, strict=False):
        if x != y:
            break
        n += 1
    return n


def compare_birth_date(a: PreparedRecord, b: PreparedRecord, c: MatchConfig) -> Outcome:
    x, y = a.birth_date, b.birth_date
    if x is None or y is None:
        return _MISSING
    if x == y:
        return (L.exact, x.isoformat(), _NONE)
    same = (x.year == y.year) + (x.month == y.month) + (x.day == y.day)
    swapped = x.year == y.year and x.month == y.day and x.day == y.month
    # Two neighbouring digits of YYYYMMDD swapped across month and day (1957-10-24 /
    # 1957-12-04); a digit changed within one part is already "one part differs".
    if same == 2 or swapped or _adjacent_swap(_digits(x), _digits(y)):
        return (L.similar, f"{x.isoformat()} ~ {y.isoformat()}", _NONE)
    return (L.different, f"{x.isoformat()} ≠ {y.isoformat()}", _NONE)


def _digits(day: dt.date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


@lru_cache(maxsize=64)
def identifier_comparator(custom_field: str) -> Comparator:
    """The comparison of one identifier custom field (a member number, another system's id).

    ``exact`` is frequency-adjusted by the ``identifier`` blocking key: a placeholder value
    (``0000000``) held by many customers weighs little.
    """

    def compare_identifier(a: PreparedRecord, b: PreparedRecord, c: MatchConfig) -> Outcome:
        x = a.identifiers.get(custom_field)
        y = b.identifiers.get(custom_field)
        if not x or not y:
            return _MISSING
        if x == y:
            return (L.exact, x, (IDENTIFIER, (identifier_key_value(custom_field, x),)))
        # One typing error, only on values long enough for one error not to be a coincidence.
        if min(len(x), len(y)) >= 4 and OSA.distance(x, y, score_cutoff=1) <= 1:
            if _adjacent_swap(x, y) and _has_level(c, a.kind, custom_field, L.transposed):
                return (L.transposed, f"{x} ~ {y}, two neighbours swapped", _NONE)
            return (L.similar, f"{x} ~ {y}", _NONE)
        return (L.different, f"{x} ≠ {y}", _NONE)

    return compare_identifier


def _has_level(c: MatchConfig, kind: str, custom_field: str, level: str) -> bool:
    """Whether the identifier field of ``custom_field`` has ``level`` (a weights file declared
    before ``transposed`` existed scores a swap as ``similar``)."""
    for fm in c.kinds[kind].fields.values():
        if fm.custom_field == custom_field:
            return level in fm.levels
    return False


COMPARATORS: dict[str, dict[str, Comparator]] = {
    "corporation": {
        "corporate_number": compare_corporate_number,
        "name": compare_company_name,
        "branch": compare_branch,
        "address": compare_address,
        "phone": compare_phone_corporation,
        "email": compare_email_corporation,
    },
    "person": {
        "name": compare_person_name,
        "birth_date": compare_birth_date,
        "address": compare_address,
        "phone": compare_phone_person,
        "email": compare_email_person,
    },
}


def comparator_for(kind: str, name: str, compare: str = "", custom_field: str = "") -> Comparator:
    """The comparator of a configured field: a built-in one, or an identifier custom field."""
    if compare == IDENTIFIER_COMPARE:
        return identifier_comparator(custom_field)
    return COMPARATORS[kind][name]
