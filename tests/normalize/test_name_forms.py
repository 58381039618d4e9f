"""Company names and readings as data (data/name_forms.json, built from Japan Post's 事業所
data by data/build_name_forms.py): a branch without a separator is split like one with it;
legal forms of every kind of corporation are split off; readings compare alike whatever the
script, width, long-vowel mark or legal form's reading; different offices stay apart."""

from __future__ import annotations

import pytest
from normalize_data import load_json

from mdm_hub.normalize.company import company_kana_key, parse_company_name

_TABLE = load_json("name_forms.json")


def _split(name: str) -> tuple[str, str | None]:
    parsed = parse_company_name(name).name
    return parsed.key, (parsed.branch or "").replace(" ", "") or None


@pytest.mark.parametrize("group", _TABLE["branch"], ids=lambda g: g["forms"][0])
def test_branch_without_separator_is_split_like_with_one(group: dict) -> None:
    spaced, *others = group["forms"]
    expected = _split(spaced)
    assert expected[1] is not None
    assert {form: _split(form) for form in others} == dict.fromkeys(others, expected)


@pytest.mark.parametrize("group", _TABLE["legal_form"], ids=lambda g: g["forms"][0])
def test_legal_form_of_every_corporation_is_split(group: dict) -> None:
    got = {}
    for form in group["forms"]:
        name = parse_company_name(form).name
        got[form] = (name.legal_form, name.key)
    key = parse_company_name(group["forms"][0]).name.key
    assert got == dict.fromkeys(group["forms"], (group["legal_form"], key))


@pytest.mark.parametrize("group", _TABLE["kana"], ids=lambda g: g["forms"][0])
def test_readings_compare_alike(group: dict) -> None:
    expected = company_kana_key(group["forms"][0])
    assert expected
    assert {form: company_kana_key(form) for form in group["forms"]} == dict.fromkeys(
        group["forms"], expected
    )


@pytest.mark.parametrize("pair", _TABLE["apart"], ids=lambda p: "|".join(p))
def test_different_offices_stay_apart(pair: list[str]) -> None:
    a, b = (parse_company_name(name).name.key for name in pair)
    assert a != b
