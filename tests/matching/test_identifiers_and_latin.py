"""Identifier custom fields, latin-script names and addresses, the household rule (weights v2)."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from mdm_hub.matching.compare import (
    compare_address,
    compare_person_name,
    identifier_comparator,
    prepare,
)
from mdm_hub.matching.config import (
    DEFAULT_CONFIG_PATH,
    ConfigError,
    config_from_dict,
    load_config,
)
from mdm_hub.matching.em import comparison_vector, estimate
from mdm_hub.matching.keys import (
    ANY_PART_BIRTH,
    BIRTH_CITY,
    IDENTIFIER,
    NAME_PARTS_BIRTH,
    BlockingKey,
    blocking_keys,
    identifier_value,
)
from mdm_hub.matching.levels import Level
from mdm_hub.matching.scoring import HardRule, score_pair
from mdm_hub.record import CustomerRecord

from .records import MARUNOUCHI, MEMBER_NO, address, person

DEFAULT = load_config()
BIRTH = dt.date(1980, 5, 5)
HOME = address(**MARUNOUCHI)


def with_identifier(field: dict | None = None) -> dict:
    data = DEFAULT.to_dict()
    data["kinds"]["person"]["fields"]["member_no"] = field or MEMBER_NO
    return data


CONFIG = config_from_dict(with_identifier())


def member(record: CustomerRecord, number: object) -> CustomerRecord:
    return record.model_copy(update={"custom_fields": {"member_no": number}})


def level(s, field: str) -> str:  # type: ignore[no-untyped-def]
    return next(c.level for c in s.comparisons if c.field == field)


# --- configuration ---------------------------------------------------------------------------


def test_default_weights_are_v2_and_v1_still_loads() -> None:
    assert DEFAULT.version == "v3"
    assert DEFAULT.identifier_fields == frozenset()
    v1 = load_config(DEFAULT_CONFIG_PATH.with_name("weights_v1.json"))
    assert v1.version == "v1"


def test_identifier_field_is_declared_and_round_trips() -> None:
    assert CONFIG.identifier_fields == frozenset({"member_no"})
    assert CONFIG.kinds["person"].identifier_fields == ("member_no",)
    again = config_from_dict(CONFIG.to_dict())
    assert again.kinds["person"].fields["member_no"].custom_field == "member_no"
    assert again.identifier_fields == frozenset({"member_no"})


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ({**MEMBER_NO, "custom_field": "Member No"}, "custom field key"),
        ({**MEMBER_NO, "compare": "fuzzy"}, "unknown compare"),
        ({k: v for k, v in MEMBER_NO.items() if k != "compare"}, "unknown field"),
        (
            {
                **MEMBER_NO,
                "levels": {"exact": {"m": 0.9, "u": 1e-7}, "different": {"m": 0.1, "u": 1}},
            },
            "levels",
        ),
    ],
)
def test_invalid_identifier_declarations(field: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_dict(with_identifier(field))


def test_identifier_may_not_take_a_built_in_name() -> None:
    data = DEFAULT.to_dict()
    data["kinds"]["person"]["fields"]["email"] = MEMBER_NO
    with pytest.raises(ConfigError, match="built-in"):
        config_from_dict(data)


# --- identifier comparison and keys ----------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("M-12345", "m 12345", Level.exact),  # hyphens, spaces and case do not count
        ("Ｍ１２３４５", "M12345", Level.exact),  # full-width
        (12345, "12345", Level.exact),  # an integer custom field
        ("M12345", "M12354", Level.transposed),  # two neighbours swapped: a typing error
        ("M12345", "M12845", Level.similar),  # one character changed
        ("M12345", "M1234", Level.similar),  # one dropped
        ("M12345", "M99999", Level.different),
        ("123", "124", Level.different),  # too short for a typo to mean anything
        ("M12345", None, Level.missing),
        (True, True, Level.missing),  # a boolean is no identifier
    ],
)
def test_identifier_levels(left: object, right: object, expected: Level) -> None:
    a = prepare(member(person("山田", "太郎"), left), CONFIG)
    b = prepare(member(person("山田", "太郎"), right), CONFIG)
    assert identifier_comparator("member_no")(a, b, CONFIG)[0] == expected


def test_undeclared_custom_fields_are_not_compared_or_keyed() -> None:
    record = member(person("山田", "太郎"), "M12345")
    assert prepare(record, DEFAULT).identifiers == {}
    assert not any(k.kind == IDENTIFIER for k in blocking_keys(record, DEFAULT))
    assert not any(k.kind == IDENTIFIER for k in blocking_keys(record))


def test_identifier_is_a_blocking_key_when_declared() -> None:
    keys = blocking_keys(member(person("山田", "太郎"), " m-12345 "), CONFIG)
    assert BlockingKey(IDENTIFIER, "member_no|m12345") in keys
    assert identifier_value("") is None


def test_shared_identifier_is_strong_evidence_and_frequency_adjusted() -> None:
    a = member(person("山田", "太郎", birth_date=BIRTH), "M12345")
    b = member(person("Yamada", "Taro", birth_date=BIRTH), "M12345")
    s = score_pair(a, b, config=CONFIG)
    assert level(s, "member_no") == Level.exact
    assert s.probability >= CONFIG.merge_threshold
    # A placeholder number held by 1,000 customers is worth ~10 bits less.
    key = BlockingKey(IDENTIFIER, "member_no|m12345")
    common = score_pair(a, b, config=CONFIG, key_frequencies={key: 1000})
    assert common.match_weight == pytest.approx(s.match_weight - math.log2(1000), abs=0.01)


def test_different_birth_date_rule_yields_to_a_shared_identifier() -> None:
    a = person("Smith", "John", birth_date=BIRTH, addresses=[HOME])
    b = person("Smith", "John", birth_date=dt.date(1952, 10, 4), addresses=[HOME])
    # Father and son of one name at one address: never merged on their own.
    assert score_pair(a, b, config=CONFIG).hard_rule == HardRule.different_birth_date
    other = score_pair(member(a, "M1000001"), member(b, "M2000002"), config=CONFIG)
    assert other.hard_rule == HardRule.different_birth_date
    same = score_pair(member(a, "M1000001"), member(b, "M1000001"), config=CONFIG)
    assert same.hard_rule is None
    assert same.probability >= CONFIG.merge_threshold


def test_em_keeps_and_estimates_identifier_fields() -> None:
    pairs = [
        (member(person("山田", "太郎"), f"M{i:05d}"), member(person("山田", "太郎"), f"M{i:05d}"))
        for i in range(30)
    ]
    assert comparison_vector(*pairs[0], CONFIG) is not None
    result = estimate(pairs, CONFIG, version="v2-test")
    fm = result.config.kinds["person"].fields["member_no"]
    assert fm.compare == "identifier" and fm.custom_field == "member_no"
    assert result.config.identifier_fields == frozenset({"member_no"})


# --- latin-script names and addresses the Japanese postal data cannot place -----------------


def test_family_and_given_swapped() -> None:
    a = prepare(person("gawthrop", "catherine"), DEFAULT)
    b = prepare(person("catherine", "gawthrop"), DEFAULT)
    assert compare_person_name(a, b, DEFAULT)[0] == Level.similar_high
    # One part agrees in the other's place, the other part is another name: weak, like one
    # part agreeing in its place (family_differs), not a swap.
    c = prepare(person("catherine", "smith"), DEFAULT)
    assert compare_person_name(a, c, DEFAULT)[0] == Level.family_differs
    d = prepare(person("jones", "smith"), DEFAULT)
    assert compare_person_name(a, d, DEFAULT)[0] == Level.different


def test_swapped_names_share_a_blocking_key() -> None:
    a = blocking_keys(person("gawthrop", "catherine", birth_date=BIRTH))
    b = blocking_keys(person("catherine", "gawthrop", birth_date=BIRTH))
    shared = {k.kind for k in set(a) & set(b)}
    assert shared == {NAME_PARTS_BIRTH, ANY_PART_BIRTH}


def test_birth_date_and_city_is_a_key() -> None:
    a = person("Smith", "John", birth_date=BIRTH, addresses=[address(city="dapto", town="x st")])
    assert BlockingKey(BIRTH_CITY, "1980-05-05|dapto") in blocking_keys(a)


def _home(city: str, town: str, street: str | None = "8", prefecture: str | None = None):  # type: ignore[no-untyped-def]
    return address(prefecture=prefecture, city=city, town=town, street=street)


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        # Unplaced (no prefecture): a typo in the city is the same area, at best `similar`.
        (
            _home("winston hills", "stanley street"),
            _home("winstonbhills", "stanley street"),
            Level.similar,
        ),
        (
            _home("winston hills", "stanley street"),
            _home("winston hills", "stanleykstreet"),
            Level.similar,
        ),
        # Another free-text area with the same town and number: partial agreement, and with
        # another number too: different.
        (
            _home("winston hills", "stanley street"),
            _home("richlands", "stanley street"),
            Level.partial,
        ),
        (
            _home("winston hills", "stanley street"),
            _home("richlands", "stanley street", "42"),
            Level.different,
        ),
        # The same area and number, the town replaced: partial.
        (
            _home("winston hills", "stanley street"),
            _home("winston hills", "ambalindum street"),
            Level.partial,
        ),
        # Placed Japanese cities are canonical: 府中市 and 豊中市 stay two areas.
        (
            _home("府中市", "宮西町", "1-2", "東京都"),
            _home("豊中市", "宮西町", "1-2", "東京都"),
            Level.different,
        ),
        # A town typo with no street number on one side: the same town, not another site.
        (
            _home("kogarah", "totterdell street", None),
            _home("kogarah", "totterdellqstreet", None),
            Level.same_town,
        ),
    ],
)
def test_unplaced_addresses(left, right, expected: Level) -> None:  # type: ignore[no-untyped-def]
    a = prepare(person("a", "b", addresses=[left]), DEFAULT)
    b = prepare(person("a", "b", addresses=[right]), DEFAULT)
    assert compare_address(a, b, DEFAULT)[0] == expected


# --- household rule --------------------------------------------------------------------------


def test_household_evidence_does_not_count_when_given_names_differ() -> None:
    a = person("山田", "太郎", birth_date=BIRTH, addresses=[HOME], phones=["+81312345678"])
    b = person(
        "山田", "花子", birth_date=dt.date(1982, 3, 3), addresses=[HOME], phones=["+81312345678"]
    )
    s = score_pair(a, b, config=DEFAULT)
    assert level(s, "name") == Level.given_differs
    weights = {c.field: c.weight for c in s.comparisons}
    assert weights["address"] == 0.0 and weights["phone"] == 0.0
    assert "household" in next(c.detail for c in s.comparisons if c.field == "address")
    assert s.probability < DEFAULT.review_threshold


def test_twins_are_not_merged_but_a_shared_identifier_merges_a_renamed_given_name() -> None:
    a = person("山田", "一郎", birth_date=BIRTH, addresses=[HOME], phones=["+81312345678"])
    b = person("山田", "二郎", birth_date=BIRTH, addresses=[HOME], phones=["+81312345678"])
    assert score_pair(a, b, config=DEFAULT).probability < DEFAULT.review_threshold
    s = score_pair(member(a, "M12345"), member(b, "M12345"), config=CONFIG)
    assert s.probability >= CONFIG.merge_threshold and s.hard_rule is None


def test_a_shared_mobile_still_counts_when_given_names_differ() -> None:
    a = person("山田", "太郎", addresses=[HOME], mobiles=["+819012345678"])
    b = person("山田", "太朗", addresses=[HOME], mobiles=["+819012345678"])
    s = score_pair(a, b, config=DEFAULT)
    assert next(c.weight for c in s.comparisons if c.field == "phone") > 10


def test_consecutive_member_numbers_of_twins_do_not_merge_them() -> None:
    a = person("山田", "一郎", birth_date=BIRTH, addresses=[HOME])
    b = person("山田", "二郎", birth_date=BIRTH, addresses=[HOME])
    s = score_pair(member(a, "M0001"), member(b, "M0002"), config=CONFIG)
    assert level(s, "member_no") == Level.similar
    assert s.probability < CONFIG.merge_threshold


def test_a_shared_identifier_lifts_the_household_rule() -> None:
    # Members of a household share the home but not a member number: with the same number the
    # other given name is the error (a replaced or retyped name), so the home counts again.
    a = person("山田", "一郎", addresses=[HOME])
    b = person("山田", "二郎", addresses=[HOME])
    shared = score_pair(member(a, "M12345"), member(b, "M12345"), config=CONFIG)
    assert level(shared, "name") == Level.given_differs
    address_weight = next(c for c in shared.comparisons if c.field == "address")
    assert address_weight.weight > 10 and "household" not in address_weight.detail
    for other in (
        score_pair(a, b, config=CONFIG),
        score_pair(member(a, "M12345"), member(b, "X99"), config=CONFIG),
    ):
        assert next(c.weight for c in other.comparisons if c.field == "address") == 0.0
        assert other.probability < shared.probability


def test_household_rule_sees_one_family_through_old_character_forms() -> None:
    # 髙田 (旧字体) and 高田 are one family name: the pair is given_differs (household evidence
    # not counted), not "different" with the shared home and landline counted as if one person.
    a = person("高田", "太郎", addresses=[HOME], phones=["+81650422212"])
    b = person("髙田", "聡", addresses=[HOME], phones=["+81650422212"])
    s = score_pair(a, b, config=DEFAULT)
    assert level(s, "name") == Level.given_differs
    assert s.probability < DEFAULT.review_threshold
    assert level(
        score_pair(person("髙田", "聡"), person("高田", "聡"), config=DEFAULT), "name"
    ) in (
        Level.exact,
        Level.kana_equal,
    )


def test_a_placeholder_identifier_lifts_neither_rule() -> None:
    # 0000000 held by 5,000 customers identifies nobody: household members and a father and
    # son of one name stay apart even though "their" numbers agree.
    key = BlockingKey(IDENTIFIER, "member_no|0000000")
    placeholder = {key: 5000}
    a = member(person("山田", "一郎", addresses=[HOME], phones=["+81650422212"]), "0000000")
    b = member(person("山田", "二郎", addresses=[HOME], phones=["+81650422212"]), "0000000")
    household = score_pair(a, b, config=CONFIG, key_frequencies=placeholder)
    assert next(c.weight for c in household.comparisons if c.field == "address") == 0.0
    assert household.probability < CONFIG.review_threshold
    father = member(person("Smith", "John", birth_date=BIRTH, addresses=[HOME]), "0000000")
    son = member(
        person("Smith", "John", birth_date=dt.date(1952, 10, 4), addresses=[HOME]), "0000000"
    )
    s = score_pair(father, son, config=CONFIG, key_frequencies=placeholder)
    assert s.hard_rule == HardRule.different_birth_date
    # The same number held by this customer alone still lifts both.
    assert score_pair(father, son, config=CONFIG, key_frequencies={key: 1}).hard_rule is None
