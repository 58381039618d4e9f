import datetime as dt
import random

from mdm_hub.matching.keys import BlockingKey, blocking_keys, sorted_keys, usable_keys

from .records import MARUNOUCHI, UMEDA, address, corp, person


def test_corporation_keys_sorted_and_deduplicated() -> None:
    record = corp(
        "ABC商事",
        kana="エービーシーショウジ",
        corporate_number="7000012050002",
        addresses=[address(**MARUNOUCHI), address(**MARUNOUCHI, building="5F")],
        phones=["+81312345678", "+81312345678"],
        emails=["info@abc.co.jp"],
    )
    keys = blocking_keys(record)
    assert keys == sorted(set(keys))
    assert set(keys) == {
        BlockingKey("corporate_number", "7000012050002"),
        BlockingKey("phone", "+81312345678"),
        BlockingKey("email", "info@abc.co.jp"),
        BlockingKey("name", "ABC商事"),
        BlockingKey("name_postal", "ABC商事|1000005"),
        BlockingKey("name_city", "ABC商事|東京都千代田区"),
        BlockingKey("kana_postal", "エービーシーショウジ|1000005"),
        BlockingKey("site", "東京都千代田区丸の内1-2-3"),
        BlockingKey("corporation_site", "東京都千代田区丸の内1-2-3"),
    }


def test_person_keys() -> None:
    record = person(
        "山田",
        "太郎",
        birth_date=dt.date(1980, 4, 1),
        addresses=[address(**UMEDA)],
        mobiles=["+819012345678"],
    )
    kinds = {k.kind: k.value for k in blocking_keys(record)}
    assert kinds["person_name"] == "山田太郎"
    assert kinds["person_name_phone"] == "山田太郎|+819012345678"
    assert kinds["person_name_birth"] == "山田太郎|1980-04-01"
    assert kinds["person_name_address"] == "山田太郎|大阪府大阪市北区梅田2-4-9"
    assert kinds["name_postal"] == "山田太郎|5300001"
    assert "name" not in kinds and "corporate_number" not in kinds


def test_corporations_meet_on_their_address_alone() -> None:
    """An address-only key for corporations (fetchable), none for persons (homes are shared)."""
    a = corp("ABC商事", addresses=[address(**MARUNOUCHI)])
    b = corp("エービーシー商事", addresses=[address(**MARUNOUCHI, building="5F")])
    shared = set(usable_keys(blocking_keys(a), {}, 50)) & set(usable_keys(blocking_keys(b), {}, 50))
    assert shared == {BlockingKey("corporation_site", "東京都千代田区丸の内1-2-3")}
    town_only = corp("ABC商事", addresses=[address(**dict(MARUNOUCHI, street=None))])
    assert "corporation_site" not in {k.kind for k in blocking_keys(town_only)}
    home = person("山田", "太郎", addresses=[address(**UMEDA)])
    assert "corporation_site" not in {k.kind for k in blocking_keys(home)}


def test_record_without_values_has_no_keys() -> None:
    assert blocking_keys(corp(None)) == []


def test_keys_are_independent_of_input_order() -> None:
    a = corp("ABC商事", phones=["+81312345678", "+81667778888"], emails=["b@x.jp", "a@x.jp"])
    b = corp("ABC商事", phones=["+81667778888", "+81312345678"], emails=["a@x.jp", "b@x.jp"])
    assert blocking_keys(a) == blocking_keys(b)


def test_usable_keys_drop_common_and_frequency_only_keys() -> None:
    record = corp(
        "ABC商事",
        addresses=[address(**MARUNOUCHI)],
        phones=["+81312345678"],
        emails=["info@abc.co.jp"],
    )
    keys = blocking_keys(record)
    frequencies = {
        BlockingKey("phone", "+81312345678"): 30,  # 代表番号 of 30 branches
        BlockingKey("email", "info@abc.co.jp"): 5,
    }
    usable = usable_keys(keys, frequencies, max_block_size=10)
    assert BlockingKey("phone", "+81312345678") not in usable
    assert BlockingKey("email", "info@abc.co.jp") in usable
    assert all(k.kind != "site" for k in usable)
    assert usable == sorted(usable)
    assert BlockingKey("name_postal", "ABC商事|1000005") in usable_keys(keys, None, 0)


def test_sorted_keys_is_the_dataclass_order() -> None:
    rng = random.Random(16)
    kinds = ["phone", "name", "email", "name_postal", "site"]
    keys = [
        BlockingKey(rng.choice(kinds), rng.choice(["", "a", "b", "0312345678", "株式会社", "ｱ"]))
        for _ in range(300)
    ]
    assert sorted_keys(keys) == sorted(keys)
    assert [(k.kind, k.value) for k in sorted_keys(set(keys))] == sorted(
        (k.kind, k.value) for k in set(keys)
    )
