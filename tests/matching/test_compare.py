"""One test per comparison level."""

import datetime as dt

import pytest

from mdm_hub.matching.compare import (
    compare_address,
    compare_birth_date,
    compare_branch,
    compare_company_name,
    compare_corporate_number,
    compare_email_corporation,
    compare_email_person,
    compare_person_name,
    compare_phone_corporation,
    compare_phone_person,
    prepare,
)
from mdm_hub.matching.config import load_config
from mdm_hub.matching.levels import FIELD_LEVELS, Level
from mdm_hub.record import AddressPurpose, SiteType

from .records import MARUNOUCHI, UMEDA, address, corp, person

CONFIG = load_config()


def level(fn, a, b) -> str:  # type: ignore[no-untyped-def]
    result = fn(prepare(a, CONFIG), prepare(b, CONFIG), CONFIG)
    # Comparisons are symmetric.
    assert fn(prepare(b, CONFIG), prepare(a, CONFIG), CONFIG)[0] == result[0]
    return result[0]


def test_every_level_is_in_the_default_config() -> None:
    for kind, fields in FIELD_LEVELS.items():
        for name, levels in fields.items():
            assert set(CONFIG.kinds[kind].fields[name].levels) == set(levels)


def test_corporate_number() -> None:
    a = corp("A", corporate_number="7000012050002")
    assert (
        level(compare_corporate_number, a, corp("B", corporate_number="7000012050002")) == "exact"
    )
    assert (
        level(compare_corporate_number, a, corp("A", corporate_number="1010001000006"))
        == "different"
    )
    assert level(compare_corporate_number, a, corp("A")) == "missing"


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("ABC商事", "ABC商事", Level.exact),
        ("エー・ビー・シー商事", "エービーシー商事", Level.normalized_equal),
        ("ABC Trading", "abc trading", Level.normalized_equal),
        ("ヤマダ電機産業", "ヤマダ電機産業所", Level.similar_high),
        ("山田製作所", "山田製造所", Level.similar_low),
        ("ABC商事", "XYZ物産", Level.different),
    ],
)
def test_company_name_levels(left: str, right: str, expected: Level) -> None:
    assert level(compare_company_name, corp(left), corp(right)) == expected


def test_company_name_kana_equal_and_missing() -> None:
    a = corp("日の出商会", kana="ヒノデショウカイ")
    b = corp("日之出商会", kana="ヒノデショウカイ")
    assert level(compare_company_name, a, b) == Level.kana_equal
    assert level(compare_company_name, a, corp(None)) == Level.missing


def test_company_name_legal_form_is_not_compared() -> None:
    # 株式会社 on both sides must not make different bodies similar.
    a = corp("ABC", legal_form="株式会社")
    b = corp("XYZ", legal_form="株式会社")
    assert level(compare_company_name, a, b) == Level.different
    assert level(compare_company_name, corp("ABC", legal_form="有限会社"), corp("ABC")) == "exact"


def test_string_similarity_is_on_characters() -> None:
    # One differing kanji out of four: bytes would see 3 of 12 bytes differ, characters 1 of 4.
    result = compare_company_name(
        prepare(corp("山田工業"), CONFIG), prepare(corp("山田興業"), CONFIG), CONFIG
    )
    assert "jaro_winkler=0.87" in result[1]


def test_branch_levels() -> None:
    osaka = corp("ABC", branch="大阪支店")
    assert level(compare_branch, osaka, corp("ABC", branch="大阪支店")) == Level.exact
    assert level(compare_branch, osaka, corp("ABC", branch="名古屋支店")) == Level.different
    assert level(compare_branch, osaka, corp("ABC", branch="本社")) == Level.different
    assert (
        level(compare_branch, osaka, corp("ABC", site_type=SiteType.head_office)) == Level.different
    )
    assert level(compare_branch, osaka, corp("ABC")) == Level.one_sided
    assert level(compare_branch, corp("ABC"), corp("ABC")) == Level.missing
    assert (
        level(compare_branch, corp("A", site_type=SiteType.head_office), corp("A", branch="本店"))
        == Level.exact
    )
    assert (
        level(
            compare_branch,
            corp("A", site_type=SiteType.branch),
            corp("A", site_type=SiteType.factory),
        )
        == Level.different
    )


@pytest.mark.parametrize(
    ("right", "expected"),
    [
        (dict(MARUNOUCHI, building="丸の内ビル5F"), Level.exact),
        (dict(MARUNOUCHI), Level.same_site),
        (dict(MARUNOUCHI, building="丸の内ビル6F"), Level.other_unit),
        (dict(MARUNOUCHI, building="丸の内 ビル 5F"), Level.exact),  # spacing only
        (dict(MARUNOUCHI, building="丸の内ビル"), Level.same_site),  # floor on one side only
        (dict(MARUNOUCHI, building="丸の内ビル5F B棟"), Level.same_site),
        (dict(MARUNOUCHI, building="丸の内ビル52F"), Level.other_unit),  # another floor
        (dict(MARUNOUCHI, town="丸の内町"), Level.similar),
        (dict(MARUNOUCHI, street="1-2"), Level.similar),
        (dict(MARUNOUCHI, street=None), Level.same_town),
        (dict(MARUNOUCHI, street="3-5-1"), Level.other_street),
        (dict(MARUNOUCHI, town="大手町", postal_code="1000004"), Level.partial),  # same 番地
        (dict(MARUNOUCHI, town="大手町", street="3-5-1"), Level.different),
        (dict(UMEDA), Level.different),
        (dict(UMEDA, street="1-2-3"), Level.different),
        (dict(postal_code="1000005"), Level.same_town),
        (dict(prefecture="東京都"), Level.missing),
    ],
)
def test_address_levels(right: dict, expected: Level) -> None:
    a = corp("A", addresses=[address(**MARUNOUCHI, building="丸の内ビル5F")])
    assert level(compare_address, a, corp("A", addresses=[address(**right)])) == expected


def test_address_by_postal_code_when_town_is_missing() -> None:
    a = corp("A", addresses=[address(postal_code="1000005", street="1-2-3")])
    b = corp("A", addresses=[address(postal_code="1000005")])
    c = corp("A", addresses=[address(postal_code="5300001")])
    assert level(compare_address, a, b) == Level.same_town
    assert level(compare_address, a, c) == Level.different
    assert level(compare_address, a, corp("A")) == Level.missing


def test_address_same_city_name_in_another_prefecture_is_different() -> None:
    tokyo = dict(prefecture="東京都", city="府中市", town="宮町", street="1-1-1")
    hiroshima = dict(prefecture="広島県", city="府中市", town="宮町", street="1-1-1")
    assert (
        level(
            compare_address,
            corp("A", addresses=[address(**tokyo)]),
            corp("A", addresses=[address(**hiroshima)]),
        )
        == Level.different
    )


def test_billing_address_is_not_the_site() -> None:
    # A branch billed to the head office: only its own location is compared.
    head = corp("A", addresses=[address(**MARUNOUCHI)])
    branch = corp(
        "A",
        addresses=[
            address(**UMEDA),
            address(**MARUNOUCHI, purpose=AddressPurpose.billing),
        ],
    )
    assert level(compare_address, head, branch) == Level.different
    # Without any location address, the billing address stands in.
    billing_only = corp("A", addresses=[address(**MARUNOUCHI, purpose=AddressPurpose.billing)])
    assert level(compare_address, head, billing_only) == Level.exact


def test_phone_levels() -> None:
    a = corp("A", phones=["+81312345678", "+81355556666"])
    assert level(compare_phone_corporation, a, corp("A", phones=["+81312345678"])) == "exact"
    assert level(compare_phone_corporation, a, corp("A", phones=["+81699998888"])) == "different"
    assert level(compare_phone_corporation, a, corp("A")) == "missing"

    p = person("山田", "太郎", phones=["+81312345678"], mobiles=["+819011112222"])
    assert level(compare_phone_person, p, person("山田", "太郎", mobiles=["+819011112222"])) == (
        Level.exact_mobile
    )
    assert level(compare_phone_person, p, person("山田", "花子", phones=["+81312345678"])) == (
        Level.exact
    )
    assert level(compare_phone_person, p, person("山田", "花子", phones=["+81300000000"])) == (
        Level.different
    )
    assert level(compare_phone_person, p, person("山田", "花子")) == Level.missing


def test_email_levels() -> None:
    a = corp("A", emails=["t.yamada@abc.co.jp", "info@abc.co.jp"])
    assert level(compare_email_corporation, a, corp("A", emails=["t.yamada@abc.co.jp"])) == "exact"
    assert level(compare_email_corporation, a, corp("A", emails=["info@abc.co.jp"])) == (
        Level.role_exact
    )
    assert level(compare_email_corporation, a, corp("A", emails=["sales@abc.co.jp"])) == (
        Level.same_domain
    )
    assert level(compare_email_corporation, a, corp("A", emails=["a@xyz.co.jp"])) == "different"
    assert level(compare_email_corporation, a, corp("A")) == Level.missing
    # A free-mail domain is not a company domain.
    g = corp("A", emails=["abc.shop@gmail.com"])
    assert level(compare_email_corporation, g, corp("A", emails=["xyz@gmail.com"])) == "different"

    p = person("山田", "太郎", emails=["taro@example.jp"])
    assert level(compare_email_person, p, person("山田", "太郎", emails=["taro@example.jp"])) == (
        "exact"
    )
    assert level(compare_email_person, p, person("山田", "太郎", emails=["t@example.jp"])) == (
        "different"
    )


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        (("山田", "太郎"), ("山田", "太郎"), Level.exact),
        (
            ("髙橋", "一郎", "タカハシ", "イチロウ"),
            ("高橋", "一郎", "タカハシ", "イチロウ"),
            Level.kana_equal,
        ),
        (
            ("山田", "太郎", "ヤマダ", "タロウ"),
            ("山田", "太朗", "ヤマダ", "タロウ"),
            Level.kana_equal,
        ),
        (("渡辺", "アレクサンダー"), ("渡辺", "アレキサンダー"), Level.similar_high),
        (("渡辺", "健太郎"), ("渡辺", "健太朗"), Level.given_differs),  # without フリガナ: strict
        (("山田", "太郎"), ("山田", "花子"), Level.given_differs),
        (("山田", "太郎"), ("山田", "次郎"), Level.given_differs),
        (("佐藤", "花子"), ("鈴木", "花子"), Level.family_differs),
        (("佐藤", "花子"), ("鈴木", "一郎"), Level.different),
    ],
)
def test_person_name_levels(left: tuple, right: tuple, expected: Level) -> None:
    def make(parts: tuple):  # type: ignore[no-untyped-def]
        family, given, *kana = parts
        return person(
            family,
            given,
            family_kana=kana[0] if kana else None,
            given_kana=kana[1] if kana else None,
        )

    assert level(compare_person_name, make(left), make(right)) == expected


def test_person_name_without_parts() -> None:
    def whole(key: str):  # type: ignore[no-untyped-def]
        return person(None, None, key=key)

    assert level(compare_person_name, whole("山田太郎"), whole("山田花子")) == Level.given_differs
    assert level(compare_person_name, whole("ヤマモトタロウ"), whole("ヤマモトタロ")) == (
        Level.similar_high
    )
    assert level(compare_person_name, whole("山田太郎"), whole("鈴木一郎")) == Level.different
    assert level(compare_person_name, whole("山田太郎"), person(None, None, key="")) == "missing"


def test_birth_date_levels() -> None:
    def born(d: dt.date | None):  # type: ignore[no-untyped-def]
        return person("山田", "太郎", birth_date=d)

    base = born(dt.date(1980, 4, 12))
    assert level(compare_birth_date, base, born(dt.date(1980, 4, 12))) == Level.exact
    assert level(compare_birth_date, base, born(dt.date(1980, 4, 13))) == Level.similar
    assert level(compare_birth_date, base, born(dt.date(1980, 12, 4))) == Level.similar
    assert level(compare_birth_date, base, born(dt.date(1975, 1, 3))) == Level.different
    assert level(compare_birth_date, base, born(None)) == Level.missing
