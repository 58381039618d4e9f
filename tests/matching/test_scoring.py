"""Realistic Japanese pairs through the default configuration."""

import datetime as dt
import math

import pytest

from mdm_hub.matching.compare import prepare
from mdm_hub.matching.config import load_config
from mdm_hub.matching.keys import BlockingKey
from mdm_hub.matching.scoring import (
    HardRule,
    MatchScore,
    probability_from_weight,
    score_pair,
)
from mdm_hub.record import AddressPurpose, SiteType

from .records import MARUNOUCHI, UMEDA, address, corp, person

CONFIG = load_config()
MERGE = CONFIG.merge_threshold
REVIEW = CONFIG.review_threshold


def score(a, b, **kw) -> MatchScore:  # type: ignore[no-untyped-def]
    s = score_pair(a, b, config=CONFIG, **kw)
    t = score_pair(b, a, config=CONFIG, **kw)
    assert s.match_weight == pytest.approx(t.match_weight)  # symmetric
    assert s.hard_rule == t.hard_rule
    return s


def merges(s: MatchScore) -> bool:
    return s.probability >= MERGE and s.hard_rule is None


def level_of(s: MatchScore, field: str) -> str:
    return next(c.level for c in s.comparisons if c.field == field)


# -- one company written by several systems ---------------------------------------------------

CRM = corp(
    "ABC商事",
    legal_form="株式会社",
    kana="エービーシーショウジ",
    addresses=[address(**MARUNOUCHI, building="丸の内ビル5F")],
    phones=["+81312345678"],
    emails=["t.yamada@abc.co.jp"],
)


@pytest.mark.parametrize(
    "variant",
    [
        # (株)ABC商事: legal form stripped by normalize, building left out.
        corp(
            "ABC商事",
            legal_form="株式会社",
            addresses=[address(**MARUNOUCHI)],
            phones=["+81312345678"],
        ),
        # 後株 with 法人番号 and no phone.
        corp(
            "ABC商事",
            corporate_number="7000012050002",
            addresses=[address(**MARUNOUCHI)],
            emails=["t.yamada@abc.co.jp"],
        ),
        # A typo in the name, same site and phone.
        corp("ABC商亊", addresses=[address(**MARUNOUCHI)], phones=["+81312345678"]),
        # Name written with separators, 番地 without 号.
        corp(
            "A・B・C商事",
            addresses=[address(**dict(MARUNOUCHI, street="1-2"))],
            phones=["+81312345678"],
        ),
        # Different kanji, same reading, same site.
        corp("エービーシー商事", kana="エービーシーショウジ", addresses=[address(**MARUNOUCHI)]),
    ],
)
def test_variants_of_one_company_merge(variant) -> None:  # type: ignore[no-untyped-def]
    s = score(CRM, variant)
    assert merges(s), s


def test_same_corporate_number_and_name_merge_without_address() -> None:
    a = corp("ABC商事", corporate_number="7000012050002")
    b = corp("ABC商事", corporate_number="7000012050002", phones=["+81312345678"])
    assert merges(score(a, b))


def test_name_alone_is_not_enough_to_merge() -> None:
    s = score(corp("ABC商事"), corp("ABC商事"))
    assert not merges(s)
    assert REVIEW <= s.probability < MERGE


def test_different_companies_in_one_building_do_not_match() -> None:
    a = corp("ABC商事", addresses=[address(**MARUNOUCHI, building="丸の内ビル5F")])
    b = corp("XYZ物産", addresses=[address(**MARUNOUCHI, building="丸の内ビル5F")])
    assert score(a, b).probability < REVIEW


# -- sites of one corporation ----------------------------------------------------------------

HEAD = corp(
    "ABC商事",
    branch="本社",
    addresses=[address(**MARUNOUCHI)],
    phones=["+81312345678"],
    emails=["info@abc.co.jp"],
)
OSAKA = corp(
    "ABC商事",
    branch="大阪支店",
    site_type=SiteType.branch,
    addresses=[address(**UMEDA), address(**MARUNOUCHI, purpose=AddressPurpose.billing)],
    phones=["+81312345678"],  # the head office's 代表番号
    emails=["info@abc.co.jp"],
)


def test_branch_sharing_phone_and_info_mail_is_not_merged() -> None:
    s = score(HEAD, OSAKA)
    assert not merges(s)
    assert s.probability < REVIEW
    assert level_of(s, "address") == "different"
    assert level_of(s, "branch") == "different"


def test_branch_without_branch_name_is_not_merged() -> None:
    # The site name is missing on both sides: only the address tells the sites apart.
    head = corp(
        "ABC商事",
        addresses=[address(**MARUNOUCHI)],
        phones=["+81312345678"],
        emails=["info@abc.co.jp"],
    )
    osaka = corp(
        "ABC商事", addresses=[address(**UMEDA)], phones=["+81312345678"], emails=["info@abc.co.jp"]
    )
    assert not merges(score(head, osaka))


def test_branch_named_on_one_side_only_at_another_address_is_new() -> None:
    head = corp(
        "ABC商事",
        addresses=[address(**MARUNOUCHI)],
        phones=["+81312345678"],
        emails=["info@abc.co.jp"],
    )
    osaka = corp(
        "ABC商事",
        branch="大阪支店",
        addresses=[address(**UMEDA)],
        phones=["+81312345678"],
        emails=["info@abc.co.jp"],
    )
    assert score(head, osaka).probability < REVIEW


def test_same_corporate_number_at_another_site_is_a_site_not_a_duplicate() -> None:
    head = corp("ABC商事", corporate_number="7000012050002", addresses=[address(**MARUNOUCHI)])
    osaka = corp(
        "ABC商事", corporate_number="7000012050002", branch="大阪支店", addresses=[address(**UMEDA)]
    )
    s = score(head, osaka)
    assert s.hard_rule == HardRule.same_corporation_different_site
    assert not merges(s)


def test_same_site_of_a_branch_merges() -> None:
    a = corp(
        "ABC商事", branch="大阪支店", corporate_number="7000012050002", addresses=[address(**UMEDA)]
    )
    b = corp(
        "ABC商事",
        branch="大阪支店",
        addresses=[address(**UMEDA, building="梅田ビル")],
        phones=["+81667778888"],
    )
    assert merges(score(a, b))


def test_shared_phone_shared_by_many_customers_is_weak() -> None:
    a = corp("ABC商事", addresses=[address(**MARUNOUCHI)], phones=["+81312345678"])
    b = corp("ABC商事", addresses=[address(**MARUNOUCHI)], phones=["+81312345678"])
    plain = score(a, b)
    common = score(a, b, key_frequencies={BlockingKey("phone", "+81312345678"): 32})
    w_plain = next(c.weight for c in plain.comparisons if c.field == "phone")
    w_common = next(c.weight for c in common.comparisons if c.field == "phone")
    assert w_common == pytest.approx(w_plain - math.log2(32))
    assert "shared_by=32" in next(c.detail for c in common.comparisons if c.field == "phone")
    # Never below the configured floor (0: agreement never counts against).
    flood = score(a, b, key_frequencies={BlockingKey("phone", "+81312345678"): 10**9})
    assert next(c.weight for c in flood.comparisons if c.field == "phone") == 0.0


def test_common_name_is_weaker_evidence() -> None:
    a = corp("山田工業", addresses=[address(**MARUNOUCHI)])
    b = corp("山田工業", addresses=[address(**dict(MARUNOUCHI, street=None))])
    rare = score(a, b, key_frequencies={BlockingKey("name", "山田工業"): 1})
    common = score(a, b, key_frequencies={BlockingKey("name", "山田工業"): 400})
    assert common.match_weight < rare.match_weight - 8
    assert common.probability < rare.probability


def test_different_corporate_numbers_are_a_hard_rule() -> None:
    a = corp(
        "ABC商事",
        corporate_number="7000012050002",
        addresses=[address(**MARUNOUCHI)],
        phones=["+81312345678"],
    )
    b = corp(
        "ABC商事",
        corporate_number="1010001000006",
        addresses=[address(**MARUNOUCHI)],
        phones=["+81312345678"],
    )
    s = score(a, b)
    assert s.hard_rule == HardRule.different_corporate_number
    assert not merges(s)


# -- persons ----------------------------------------------------------------------------------

HOME = dict(UMEDA, building="梅田ハイツ101")


def test_household_members_do_not_match() -> None:
    taro = person("山田", "太郎", addresses=[address(**HOME)], phones=["+81612345678"])
    hanako = person("山田", "花子", addresses=[address(**HOME)], phones=["+81612345678"])
    s = score(taro, hanako)
    assert level_of(s, "name") == "given_differs"
    assert s.probability < REVIEW


def test_household_members_without_split_names_do_not_match() -> None:
    taro = person(None, None, key="山田太郎", addresses=[address(**HOME)], phones=["+81612345678"])
    hanako = person(
        None, None, key="山田花子", addresses=[address(**HOME)], phones=["+81612345678"]
    )
    assert score(taro, hanako).probability < REVIEW


def test_twins_with_one_birthday_are_not_merged() -> None:
    born = dt.date(2001, 5, 5)
    a = person(
        "山田", "一郎", birth_date=born, addresses=[address(**HOME)], phones=["+81612345678"]
    )
    b = person(
        "山田", "二郎", birth_date=born, addresses=[address(**HOME)], phones=["+81612345678"]
    )
    assert not merges(score(a, b))


def test_same_name_elsewhere_is_another_person() -> None:
    a = person("佐藤", "健", addresses=[address(**HOME)], mobiles=["+819011112222"])
    b = person("佐藤", "健", addresses=[address(**MARUNOUCHI)], mobiles=["+818033334444"])
    assert score(a, b).probability < REVIEW


def test_neighbours_in_one_building_are_different_people() -> None:
    a = person("佐藤", "健", addresses=[address(**HOME)])
    b = person("佐藤", "健", addresses=[address(**dict(UMEDA, building="梅田ハイツ305"))])
    assert not merges(score(a, b))


@pytest.mark.parametrize(
    "variant",
    [
        person("山田", "太郎", addresses=[address(**HOME)], mobiles=["+819012345678"]),
        person("山田", "太郎", birth_date=dt.date(1980, 4, 12), emails=["taro@example.jp"]),
        person(
            "山田", "太朗", family_kana="ヤマダ", given_kana="タロウ", addresses=[address(**UMEDA)]
        ),
        person("山田", "太郎", birth_date=dt.date(1980, 4, 12), mobiles=["+819012345678"]),
    ],
)
def test_variants_of_one_person_merge(variant) -> None:  # type: ignore[no-untyped-def]
    base = person(
        "山田",
        "太郎",
        family_kana="ヤマダ",
        given_kana="タロウ",
        birth_date=dt.date(1980, 4, 12),
        addresses=[address(**HOME)],
        mobiles=["+819012345678"],
        emails=["taro@example.jp"],
    )
    assert merges(score(base, variant))


def test_different_birth_dates_are_a_hard_rule() -> None:
    a = person("山田", "太郎", birth_date=dt.date(1950, 1, 1), addresses=[address(**HOME)])
    b = person("山田", "太郎", birth_date=dt.date(1982, 7, 20), addresses=[address(**HOME)])
    s = score(a, b)
    assert s.hard_rule == HardRule.different_birth_date
    assert not merges(s)


def test_person_and_corporation_never_merge() -> None:
    a = corp("山田太郎", addresses=[address(**HOME)])
    b = person("山田", "太郎", addresses=[address(**HOME)])
    assert score(a, b).hard_rule == HardRule.different_kind


# -- explanation and arithmetic -----------------------------------------------------------------


def test_missing_values_are_neutral() -> None:
    s = score(corp("ABC商事"), corp("ABC商事"))
    for c in s.comparisons:
        if c.level == "missing":
            assert c.weight == 0.0
    assert s.match_weight == pytest.approx(
        CONFIG.kinds["corporation"].prior_weight + CONFIG.weight("corporation", "name", "exact")
    )


def test_explanation_adds_up() -> None:
    s = score(CRM, HEAD)
    assert s.match_weight == pytest.approx(s.prior_weight + sum(c.weight for c in s.comparisons))
    assert s.probability == pytest.approx(probability_from_weight(s.match_weight))
    d = s.to_dict()
    assert d["config_version"] == "v3"
    assert [c["field"] for c in d["comparisons"]] == list(CONFIG.kinds["corporation"].fields)


def test_prepared_records_score_the_same() -> None:
    assert score_pair(prepare(CRM, CONFIG), HEAD, config=CONFIG) == score_pair(
        CRM, HEAD, config=CONFIG
    )


def test_probability_is_finite_at_extremes() -> None:
    assert probability_from_weight(5000) == 1.0
    assert probability_from_weight(-5000) == pytest.approx(0.0, abs=1e-300)
    assert probability_from_weight(0) == 0.5
