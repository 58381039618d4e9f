"""Properties: idempotence, only NormalizationError escapes, keys stable under display forms."""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdm_hub.normalize import (
    NormalizationError,
    RankRule,
    as_input,
    fold_key,
    kana_key,
    name_key,
    normalize_customer,
    normalize_kana,
    normalize_text,
    parse_company_name,
)
from mdm_hub.normalize.address import canonical_street
from mdm_hub.normalize.text import HYPHEN_LIKE
from mdm_hub.record import CustomerIn, CustomerRecord

PROFILE = settings(
    max_examples=int(os.environ.get("NORMALIZE_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Characters that make Japanese master data hard: every width, look-alikes, legal-form symbols.
JAPANESE = (
    "株式会社有限合同法人医療社団財団一般支店営業所本社大阪東京丸の内千代田区髙﨑邊齋德佐々木"
    "あいうえおかがきぎゃゅょっアイウエオカガキギャュョッヶヵｱｲｳｴｵｶﾞｷﾞｬｯﾟｰ"
    "ＡＢＣａｂｃ０１２３ABCabc0123 \u3000()（）【】[]・,.&'"
    "㈱㈲㍿㊑一二三十丁目番地号〒〜～"
) + HYPHEN_LIKE
text = st.text(alphabet=JAPANESE, max_size=30)
any_text = st.text(max_size=30)  # the whole of Unicode, surrogates excluded by hypothesis
some_text = st.one_of(text, any_text)

phone_text = st.one_of(
    st.sampled_from(
        ["03-1234-5678", "+81 3 1234 5678", "090１２３４５６７８", "0120-123-456", "12"]
    ),
    st.text(alphabet="0123456789-+() ０１２３ー−", max_size=16),
)
email_text = st.one_of(
    st.sampled_from(["Info@Example.CO.JP", "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "bad@", "a@b.c"]),
    st.text(max_size=20),
)
date_text = st.one_of(
    st.sampled_from(
        ["2023-04-01", "令和5年4月1日", "R5.4.1", "平成31年5月1日", "令和5年2月30日", "S50.1.1"]
    ),
    st.text(alphabet="令和平成昭和RHS元年月日0123456789./-", max_size=14),
)
postal_text = st.one_of(
    st.sampled_from(["1000005", "〒100-0005", "100-0013", "5300001", "0000000", "123"]),
    st.text(alphabet="0123456789-〒 ー", max_size=10),
)
street_text = st.one_of(
    st.sampled_from(["一丁目2番3号", "1-2-3 丸の内ビル5F", "2番地の5", "1-2-3-405"]), text
)

address = st.fixed_dictionaries(
    {},
    optional={
        "postal_code": postal_text,
        "prefecture": st.one_of(st.sampled_from(["東京都", "東京", "大阪府", "北海道"]), text),
        "city": st.one_of(st.sampled_from(["千代田区", "府中市", "与那国町", "大阪市北区"]), text),
        "town": st.one_of(st.sampled_from(["丸の内", "丸の内一丁目", "霞ヶ関", "梅田"]), text),
        "street": street_text,
        "building": text,
        "full_text": st.one_of(
            st.sampled_from(
                ["〒100-0005 東京都千代田区丸の内1-2-3 ABCビル", "江東区豊洲 一丁目2-27"]
            ),
            text,
        ),
    },
)
phone = st.fixed_dictionaries({"number": phone_text}, optional={"extension": some_text})
email = st.fixed_dictionaries({"address": email_text})
contact = st.fixed_dictionaries(
    {"name": some_text},
    optional={
        "name_kana": some_text,
        "department": text,
        "phones": st.lists(phone, max_size=2),
        "emails": st.lists(email, max_size=2),
    },
)
customer = st.fixed_dictionaries(
    {"kind": st.sampled_from(["corporation", "person"])},
    optional={
        "name": some_text,
        "name_kana": some_text,
        "person_name": st.fixed_dictionaries(
            {}, optional={k: some_text for k in ("family_name", "given_name", "family_name_kana")}
        ),
        "corporate_number": st.one_of(
            st.sampled_from(["7000012050002", "7000-0120-50002", "1234567890123"]), text
        ),
        "invoice_registration_number": st.one_of(
            st.sampled_from(["T7000012050002", "t5835678256246", "7000012050002"]), text
        ),
        "birth_date": date_text,
        "addresses": st.lists(address, max_size=2),
        "phones": st.lists(phone, max_size=2),
        "emails": st.lists(email, max_size=2),
        "contacts": st.lists(contact, max_size=2),
        "transactions": st.fixed_dictionaries(
            {},
            optional={
                "started_on": date_text,
                "annual_amount": st.integers(0, 10**16),
                "category": text,
            },
        ),
        "classification": st.fixed_dictionaries({}, optional={"rank": text, "industry": text}),
        "company_profile": st.fixed_dictionaries({}, optional={"established_on": date_text}),
        "custom_fields": st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    },
)
RULES = [RankRule("A", 10_000_000), RankRule("B", 1_000_000)]

# The same shape with every checked value drawn from valid spellings, so that nearly every
# example normalizes and the idempotence check runs on many records; free text stays wild.
VALID_PHONES = ["03-1234-5678", "+81 3 1234 5678", "０９０ー１２３４ー５６７８", "0120(123)456"]
VALID_EMAILS = ["Info@Example.CO.JP", "ｔａｒｏ＠ｅｘａｍｐｌｅ．ｊｐ", "Taro.Yamada@example.co.jp"]
VALID_DATES = [
    "2023-04-01",
    "令和5年4月1日",
    "R5.4.1",
    "平成31年5月1日",
    "S50.1.1",
    "２０２３年４月１日",
]
LINES = ["〒100-0005 東京都千代田区丸の内1-2-3 ABCビル", "江東区豊洲 一丁目2-27"]
VALID_POSTAL = ["1000005", "〒100-0005", "100-0013", "5300001", "0000000", "0600000"]
clean_address = st.fixed_dictionaries(
    {},
    optional={
        "postal_code": st.sampled_from(VALID_POSTAL),
        "prefecture": st.one_of(st.sampled_from(["東京都", "東京", "大阪府", "北海道"]), text),
        "city": st.one_of(st.sampled_from(["千代田区", "府中市", "与那国町", "大阪市北区"]), text),
        "town": st.one_of(st.sampled_from(["丸の内", "丸の内一丁目", "霞ヶ関", "梅田"]), text),
        "street": street_text,
        "building": text,
        "full_text": st.one_of(
            st.sampled_from(
                ["〒100-0005 東京都千代田区丸の内1-2-3 ABCビル", "江東区豊洲 一丁目2-27"]
            ),
            text,
        ),
    },
)
clean_phone = st.fixed_dictionaries(
    {"number": st.sampled_from(VALID_PHONES)}, optional={"extension": text}
)
clean_email = st.fixed_dictionaries({"address": st.sampled_from(VALID_EMAILS)})
clean_customer = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["corporation", "person"]),
        "name": st.one_of(
            st.sampled_from(["(株)ＡＢＣ商事 大阪支店", "山田　太郎", "ABC Co., Ltd.", "ｶ)ｴｰﾋﾞｰｼｰ"]),
            text.map(lambda t: "株" + t),
            text.map(lambda t: t + "X"),
        ),
    },
    optional={
        "name_kana": text,
        "person_name": st.fixed_dictionaries(
            {}, optional={k: text for k in ("family_name", "given_name", "given_name_kana")}
        ),
        "corporate_number": st.sampled_from(["7000012050002", "7000-0120-50002"]),
        "invoice_registration_number": st.sampled_from(["T7000012050002", "t5835678256246"]),
        "birth_date": st.sampled_from(VALID_DATES),
        "addresses": st.lists(clean_address, max_size=2),
        "phones": st.lists(clean_phone, max_size=2),
        "emails": st.lists(clean_email, max_size=2),
        "contacts": st.lists(
            st.fixed_dictionaries(
                {"name": text.map(lambda t: t + "様")},
                optional={
                    "name_kana": text,
                    "title": text,
                    "phones": st.lists(clean_phone, max_size=2),
                    "emails": st.lists(clean_email, max_size=2),
                },
            ),
            max_size=2,
        ),
        "transactions": st.fixed_dictionaries(
            {},
            optional={
                "started_on": st.sampled_from(VALID_DATES),
                "last_transaction_on": st.sampled_from(VALID_DATES),
                "annual_amount": st.integers(0, 10**16),
                "category": text,
            },
        ),
        "classification": st.fixed_dictionaries({}, optional={"rank": text, "segment": text}),
        "company_profile": st.fixed_dictionaries(
            {}, optional={"established_on": st.sampled_from(VALID_DATES)}
        ),
        "billing": st.fixed_dictionaries({}, optional={"payment_method": text}),
        "relations": st.fixed_dictionaries({}, optional={"parent_customer_code": text}),
    },
)


def _normalize(data: dict[str, Any]) -> CustomerRecord | None:
    try:
        return normalize_customer(CustomerIn.model_validate(data), rank_rules=RULES).record
    except NormalizationError as exc:
        assert exc.errors, "a NormalizationError always lists its errors"
        assert all(e.field.startswith("/") and e.code and e.message for e in exc.errors)
        return None


@PROFILE
@given(customer)
def test_only_normalization_errors_escape_and_twice_equals_once(data: dict[str, Any]) -> None:
    record = _normalize(data)
    if record is None:
        return
    # a stored record stays what it is when it is normalized again
    again = normalize_customer(as_input(record), rank_rules=RULES).record
    assert again == record
    # and it is a valid record
    assert CustomerRecord.model_validate(record.model_dump()) == record


@PROFILE
@given(clean_customer)
def test_normalizing_twice_equals_once(data: dict[str, Any]) -> None:
    record = normalize_customer(CustomerIn.model_validate(data), rank_rules=RULES).record
    again = normalize_customer(as_input(record), rank_rules=RULES).record
    assert again == record


@PROFILE
@given(some_text)
def test_text_is_idempotent(raw: str) -> None:
    once = normalize_text(raw)
    assert normalize_text(once) == once
    assert normalize_kana(normalize_kana(raw)) == normalize_kana(raw)


@PROFILE
@given(some_text)
def test_key_of_display_equals_key_of_raw(raw: str) -> None:
    assert fold_key(normalize_text(raw)) == fold_key(raw)
    assert kana_key(normalize_kana(raw)) == kana_key(raw)
    parsed = parse_company_name(raw)
    assert name_key(parsed.display) == name_key(raw) == parsed.name.key


@PROFILE
@given(some_text)
def test_company_display_is_stable(raw: str) -> None:
    display = parse_company_name(raw).display
    assert parse_company_name(display).display == display


@PROFILE
@given(street_text)
def test_street_is_idempotent(raw: str) -> None:
    street = canonical_street(raw).street
    if street is not None:
        assert canonical_street(street).street == street


def test_a_long_vowel_mark_before_the_street_number_is_dropped_with_or_without_a_space() -> None:
    """Found by hypothesis: ``ー 0`` gave ``ー0``, which (ー before a digit read as a hyphen)
    gave ``0``: a stored street changed when sent again. No word starts with ー, so before the
    number (and before a building) it is a separator either way."""
    for raw in ("ー 0", "ー0", "ー ー 0", "ーア 1-2"):
        street = canonical_street(raw).street
        assert street is not None and not street.startswith("ー"), (raw, street)
        assert canonical_street(street).street == street, raw
    assert canonical_street("1-2 ービル") == canonical_street("1-2 ビル")


def test_a_note_beside_an_unpaired_bracket_comes_back_the_same() -> None:
    """Found by hypothesis: 株【(0) stores 株【 with the note 0; re-sent as 株【 【0】, the name's
    own 【 paired with the note's 】 and the name became 株."""
    data = {"kind": "corporation", "name": "株【(0)"}
    record = normalize_customer(CustomerIn.model_validate(data), rank_rules=RULES).record
    assert record.company_name is not None and record.company_name.note == "0"
    again = normalize_customer(as_input(record), rank_rules=RULES).record
    assert again == record
