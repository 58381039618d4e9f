"""Issue 21, second part: corruptions that data the rules were not tuned on carries — typing
errors in dates, names and identifiers, a name part missing, the address partly replaced — each
as a category; and weights files from before the new levels still load and mean what they meant."""

from __future__ import annotations

import datetime as dt

from mdm_hub.matching.compare import (
    compare_address,
    compare_birth_date,
    compare_person_name,
    identifier_comparator,
    prepare,
)
from mdm_hub.matching.config import DEFAULT_CONFIG_PATH, config_from_dict, load_config
from mdm_hub.matching.keys import ANY_PART_BIRTH, IDENTIFIER_NEAR, BlockingKey, blocking_keys
from mdm_hub.matching.levels import Level
from mdm_hub.matching.scoring import HardRule, score_pair
from mdm_hub.record import CustomerRecord

from .records import MARUNOUCHI, MEMBER_NO, address, corp, person

DEFAULT = load_config()
V2 = load_config(DEFAULT_CONFIG_PATH.with_name("weights_v2.json"))


def _with_member_no(field: dict | None = None):  # type: ignore[no-untyped-def]
    data = DEFAULT.to_dict()
    data["kinds"]["person"]["fields"]["member_no"] = field or MEMBER_NO
    return config_from_dict(data)


CONFIG = _with_member_no()


def member(record: CustomerRecord, number: str) -> CustomerRecord:
    return record.model_copy(update={"custom_fields": {"member_no": number}})


def level(fn, a, b, config=DEFAULT) -> str:  # type: ignore[no-untyped-def]
    result = fn(prepare(a, config), prepare(b, config), config)[0]
    assert fn(prepare(b, config), prepare(a, config), config)[0] == result  # symmetric
    return str(result)


# --- birth date ------------------------------------------------------------------------------


def test_birth_date_digits_swapped_across_month_and_day_are_similar() -> None:
    def born(y: int, m: int, d: int) -> CustomerRecord:
        return person("山田", "太郎", birth_date=dt.date(y, m, d))

    assert level(compare_birth_date, born(1957, 10, 24), born(1957, 12, 4)) == Level.similar
    assert level(compare_birth_date, born(1933, 2, 12), born(1933, 1, 22)) == Level.similar
    # Two digits swapped that are not neighbours, or two changes: another date.
    assert level(compare_birth_date, born(1957, 10, 24), born(1957, 4, 21)) == Level.different
    assert level(compare_birth_date, born(1988, 6, 13), born(1972, 4, 8)) == Level.different


# --- person names ----------------------------------------------------------------------------


def test_one_name_part_only_agrees_weakly() -> None:
    full = person("buhagiar", "william")
    assert level(compare_person_name, full, person(None, "wizlliam")) == Level.similar_low
    assert level(compare_person_name, full, person("buhagiar", None)) == Level.similar_low
    assert level(compare_person_name, person("山田", "太郎"), person("山田", None)) == (
        Level.similar_low
    )
    # The lone part agrees with nothing: by the whole key, as before.
    assert level(compare_person_name, full, person(None, "jessica")) == Level.different


def test_a_typo_in_one_part_with_the_other_replaced_is_that_part_agreeing() -> None:
    a = person("fitzpatrick", "caleb")
    assert level(compare_person_name, a, person("fitzpagrick", "joshua")) == Level.given_differs
    assert level(compare_person_name, a, person("smith", "calebb")) == Level.family_differs


def test_unsplit_names_with_two_letters_swapped_are_a_typo_not_a_family() -> None:
    def whole(key: str) -> CustomerRecord:
        return person(None, None, key=key)

    assert level(compare_person_name, whole("HERBERT"), whole("HERBRET")) == Level.similar_high
    # A household stays a household: 山田太郎 / 山田花子, and one kanji changed.
    assert level(compare_person_name, whole("山田太郎"), whole("山田花子")) == Level.given_differs
    assert level(compare_person_name, whole("山田一郎"), whole("山田二郎")) == Level.given_differs


# --- address: partial ------------------------------------------------------------------------


def _home(city: str, town: str, street: str = "27", prefecture: str | None = None):  # type: ignore[no-untyped-def]
    return person(
        "a", "b", addresses=[address(prefecture=prefecture, city=city, town=town, street=street)]
    )


def test_partial_address_levels() -> None:
    same_area = _home("armidale", "woolnough street")
    assert level(compare_address, same_area, _home("armidale", "ambalindum street")) == (
        Level.partial
    )
    assert level(compare_address, same_area, _home("armidale", "ambalindum street", "28")) == (
        Level.different
    )
    # Placed cities are canonical: the same town and number in another city is another place.
    tokyo = _home("府中市", "宮西町", "1-2", "東京都")
    assert level(compare_address, tokyo, _home("府中市", "宮西町", "1-2", "広島県")) == (
        Level.different
    )


def test_partial_scores_as_different_with_weights_from_before_it() -> None:
    a, b = _home("armidale", "woolnough street"), _home("armidale", "ambalindum street")
    assert "partial" not in V2.kinds["person"].fields["address"].levels
    assert level(compare_address, a, b, V2) == Level.different
    v3 = score_pair(a, b, config=DEFAULT)
    assert next(c.weight for c in v3.comparisons if c.field == "address") > 0


def test_partial_is_another_site_of_one_corporation() -> None:
    number = "7000012050002"
    head = corp("ABC", corporate_number=number, addresses=[address(**MARUNOUCHI)])
    other = corp(
        "ABC", corporate_number=number, addresses=[address(**dict(MARUNOUCHI, town="大手町"))]
    )
    score = score_pair(head, other, config=DEFAULT)
    assert next(c.level for c in score.comparisons if c.field == "address") == Level.partial
    assert score.hard_rule == HardRule.same_corporation_different_site


# --- identifiers -----------------------------------------------------------------------------


def test_identifier_near_keys_bring_one_typing_error_together() -> None:
    def keys(number: str) -> set[BlockingKey]:
        record = member(person("a", "b"), number)
        return {k for k in blocking_keys(record, CONFIG) if k.kind == IDENTIFIER_NEAR}

    base = keys("7156436")
    assert len(base) == 8  # the value and the value less each of its 7 digits
    assert base & keys("7156463")  # two neighbours swapped
    assert base & keys("7156437")  # one digit changed
    assert base & keys("715636")  # one dropped
    assert not base & keys("7190000")
    assert keys("123") == set()  # too short for a typo to mean anything


def test_a_transposed_identifier_lifts_the_birth_date_rule_a_consecutive_one_does_not() -> None:
    home = [address(**MARUNOUCHI)]
    a = member(person("山田", "太郎", birth_date=dt.date(1980, 5, 5), addresses=home), "M715643")
    swapped = member(
        person("山田", "太郎", birth_date=dt.date(1950, 1, 1), addresses=home), "M715634"
    )
    next_one = member(
        person("山田", "太郎", birth_date=dt.date(1950, 1, 1), addresses=home), "M715644"
    )
    s = score_pair(a, swapped, config=CONFIG)
    assert next(c.level for c in s.comparisons if c.field == "member_no") == Level.transposed
    assert s.hard_rule is None
    t = score_pair(a, next_one, config=CONFIG)
    assert next(c.level for c in t.comparisons if c.field == "member_no") == Level.similar
    assert t.hard_rule == HardRule.different_birth_date


def test_an_identifier_declared_before_transposed_still_loads_and_scores_similar() -> None:
    old = {**MEMBER_NO, "levels": dict(MEMBER_NO["levels"])}
    transposed = old["levels"].pop("transposed")
    similar = old["levels"]["similar"]
    old["levels"]["similar"] = {
        "m": similar["m"] + transposed["m"],
        "u": similar["u"] + transposed["u"],
    }
    config = _with_member_no(old)
    a = prepare(member(person("a", "b"), "M12345"), config)
    b = prepare(member(person("a", "b"), "M12354"), config)
    assert identifier_comparator("member_no")(a, b, config)[0] == Level.similar


# --- the town written on one side only; a name part in the other's place ----------------------


def test_the_same_number_in_the_same_area_with_the_town_on_one_side_only() -> None:
    full = _home("east ryde", "hodgkinson street", "4")
    no_town = _home("east ryde", None, "4")
    assert level(compare_address, full, no_town) == Level.same_town
    assert level(compare_address, no_town, _home("east ryde", None, "4")) == Level.same_town
    # Another number, another area, or no number: nothing to go by.
    assert level(compare_address, full, _home("east ryde", None, "40")) == Level.missing
    assert level(compare_address, full, _home("east ryde", None, None)) == Level.missing
    assert level(compare_address, full, _home("dapto", None, "4")) == Level.different
    jp = _home("千代田区", "丸の内", "1-2-3", "東京都")
    assert level(compare_address, jp, _home("千代田区", None, "1-2-3", "東京都")) == (
        Level.same_town
    )
    # Still the household's evidence: not counted when the given names differ.
    taro = person("山田", "太郎", addresses=[address(city="x市", town="本町", street="4")])
    hanako = person("山田", "花子", addresses=[address(city="x市", street="4")])
    score = score_pair(taro, hanako, config=DEFAULT)
    assert level(compare_address, taro, hanako) == Level.same_town
    assert next(c.weight for c in score.comparisons if c.field == "address") == 0


def test_one_name_part_in_the_other_place_and_the_other_part_replaced_share_a_key() -> None:
    """One source swapped 姓 and 名 and the other part differs: the part that agrees and the
    birth date still bring the records together (scoring reads them as family_differs)."""
    born = dt.date(1910, 12, 25)
    a = person("gearman", "zarlia", birth_date=born)
    b = person("zarlia", "hand", birth_date=born)
    shared = set(blocking_keys(a)) & set(blocking_keys(b))
    assert [(k.kind, k.value.casefold()) for k in shared] == [
        (ANY_PART_BIRTH, f"zarlia|{born.isoformat()}")
    ]
    assert level(compare_person_name, a, b) == Level.family_differs
    # The part in its own place meets as before, on the same kind too.
    c = person("gearman", "zoe", birth_date=born)
    assert ANY_PART_BIRTH in {k.kind for k in set(blocking_keys(a)) & set(blocking_keys(c))}
    # Without a birth date a name part alone is no key.
    assert ANY_PART_BIRTH not in {k.kind for k in blocking_keys(person("gearman", "zarlia"))}
