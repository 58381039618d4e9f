import json
from pathlib import Path

import pytest

from mdm_hub.matching.config import ConfigError, config_from_dict, load_config, save_config


def test_default_config_is_packaged_and_cached() -> None:
    c = load_config()
    assert c.version == "v3"
    assert load_config() is c
    assert set(c.kinds) == {"corporation", "person"}
    assert c.review_threshold < c.merge_threshold


def test_round_trip(tmp_path: Path) -> None:
    c = load_config()
    path = tmp_path / "weights_v1b.json"
    save_config(c, path)
    again = load_config(path)
    for kind, km in c.kinds.items():
        for name, fm in km.fields.items():
            assert dict(again.kinds[kind].fields[name].weights) == pytest.approx(dict(fm.weights))


def _data() -> dict:
    return json.loads(load_config().to_json())


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["kinds"]["person"]["fields"]["name"]["levels"].pop("given_differs"), "differ"),
        (
            lambda d: d["kinds"]["person"]["fields"].update(shoe_size={"levels": {}}),
            "unknown field",
        ),
        (
            lambda d: d["kinds"]["corporation"]["fields"]["phone"]["levels"]["exact"].update(m=0.9),
            "sums",
        ),
        (lambda d: d["kinds"]["corporation"].update(prior=2), "prior"),
        (lambda d: d["thresholds"].update(review=0.995), "thresholds"),
        (lambda d: d["kinds"].pop("person"), "not configured"),
        (lambda d: d.pop("version"), "invalid"),
    ],
)
def test_invalid_configs_are_rejected(mutate, message: str) -> None:  # type: ignore[no-untyped-def]
    data = _data()
    mutate(data)
    with pytest.raises(ConfigError, match=message):
        config_from_dict(data)


def test_unreadable_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_config(bad)
