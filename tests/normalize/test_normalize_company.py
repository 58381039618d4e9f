"""Company names: legal forms in every spelling, position, branch, notes, key, フリガナ key."""

from __future__ import annotations

import re

import pytest
from normalize_data import load_json

from mdm_hub.normalize import kana_key, name_key, parse_company_name


@pytest.mark.parametrize(
    ("raw", "legal_form", "position", "body"),
    [
        ("株式会社ABC", "株式会社", "prefix", "ABC"),
        ("ABC株式会社", "株式会社", "suffix", "ABC"),
        ("(株)ABC", "株式会社", "prefix", "ABC"),
        ("（株）ABC", "株式会社", "prefix", "ABC"),
        ("ABC（株）", "株式会社", "suffix", "ABC"),
        ("\u3231ABC", "株式会社", "prefix", "ABC"),  # ㈱
        ("ABC\u3231", "株式会社", "suffix", "ABC"),
        ("\u337fABC", "株式会社", "prefix", "ABC"),  # ㍿
        ("株式会社 ABC", "株式会社", "prefix", "ABC"),
        ("ｶ)ｴｰﾋﾞｰｼｰ", "株式会社", "prefix", "エービーシー"),  # 全銀 略語, 前株
        ("ｴｰﾋﾞｰｼｰ(ｶ", "株式会社", "suffix", "エービーシー"),  # 全銀 略語, 後株
        ("(カ)エービーシー", "株式会社", "prefix", "エービーシー"),
        ("ｶﾌﾞｼｷｶﾞｲｼｬｴｰﾋﾞｰｼｰ", "株式会社", "prefix", "エービーシー"),
        ("有限会社ABC", "有限会社", "prefix", "ABC"),
        ("(有)ABC", "有限会社", "prefix", "ABC"),
        ("\u3232ABC", "有限会社", "prefix", "ABC"),  # ㈲
        ("ABC(ﾕ", "有限会社", "suffix", "ABC"),
        ("合同会社ABC", "合同会社", "prefix", "ABC"),
        ("ABC(同)", "合同会社", "suffix", "ABC"),
        ("合資会社ABC", "合資会社", "prefix", "ABC"),
        ("(資)ABC", "合資会社", "prefix", "ABC"),
        ("合名会社ABC", "合名会社", "prefix", "ABC"),
        ("(名)ABC", "合名会社", "prefix", "ABC"),
        ("一般社団法人ABC協会", "一般社団法人", "prefix", "ABC協会"),
        ("(一社)ABC協会", "一般社団法人", "prefix", "ABC協会"),
        ("一般財団法人ABC財団", "一般財団法人", "prefix", "ABC財団"),
        ("公益社団法人ABC", "公益社団法人", "prefix", "ABC"),
        ("(公財)ABC", "公益財団法人", "prefix", "ABC"),
        ("(社)ABC協会", "社団法人", "prefix", "ABC協会"),
        ("(財)ABC", "財団法人", "prefix", "ABC"),
        ("特定非営利活動法人ABC", "特定非営利活動法人", "prefix", "ABC"),
        ("NPO法人ABC", "特定非営利活動法人", "prefix", "ABC"),
        ("ＮＰＯ法人ABC", "特定非営利活動法人", "prefix", "ABC"),
        ("医療法人ABC会", "医療法人", "prefix", "ABC会"),
        ("医療法人社団ABC会", "医療法人社団", "prefix", "ABC会"),
        ("医療法人財団ABC会", "医療法人財団", "prefix", "ABC会"),
        ("(医)ABC会", "医療法人", "prefix", "ABC会"),
        ("社会福祉法人ABC会", "社会福祉法人", "prefix", "ABC会"),
        ("(福)ABC会", "社会福祉法人", "prefix", "ABC会"),
        ("学校法人ABC学園", "学校法人", "prefix", "ABC学園"),
        ("(学)ABC学園", "学校法人", "prefix", "ABC学園"),
        ("宗教法人ABC寺", "宗教法人", "prefix", "ABC寺"),
        ("独立行政法人ABC機構", "独立行政法人", "prefix", "ABC機構"),
        ("国立大学法人ABC大学", "国立大学法人", "prefix", "ABC大学"),
        ("ABC有限責任事業組合", "有限責任事業組合", "suffix", "ABC"),
        ("弁護士法人ABC", "弁護士法人", "prefix", "ABC"),
        ("ABC K.K.", "K.K.", "suffix", "ABC"),
        ("ABC KK", "K.K.", "suffix", "ABC"),
        ("ABC Kabushiki Kaisha", "K.K.", "suffix", "ABC"),
        ("ABC Co., Ltd.", "Co., Ltd.", "suffix", "ABC"),
        ("ABC Co.,Ltd", "Co., Ltd.", "suffix", "ABC"),
        ("ABC CO LTD", "Co., Ltd.", "suffix", "ABC"),
        ("ABC Company Limited", "Co., Ltd.", "suffix", "ABC"),
        ("ABC Inc.", "Inc.", "suffix", "ABC"),
        ("ABC, Inc.", "Inc.", "suffix", "ABC"),
        ("ABC Corporation", "Corporation", "suffix", "ABC"),
        ("ABC LLC", "LLC", "suffix", "ABC"),
        ("ABC L.L.C.", "LLC", "suffix", "ABC"),
        ("ABC Ltd.", "Ltd.", "suffix", "ABC"),
    ],
)
def test_legal_forms(raw: str, legal_form: str, position: str, body: str) -> None:
    name = parse_company_name(raw).name
    assert (name.legal_form, name.legal_form_position, name.body) == (legal_form, position, body)


@pytest.mark.parametrize(
    "raw",
    [
        "株式会社ABC",
        "ABC株式会社",
        "(株)ABC",
        "ABC（株）",
        "㈱ＡＢＣ",
        "ＡＢＣ㈱",
        "abc Co., Ltd.",
        "ABC K.K.",
    ],
)
def test_spellings_share_the_key(raw: str) -> None:
    assert name_key(raw) == "ABC"


@pytest.mark.parametrize(
    ("raw", "display", "branch"),
    [
        ("(株)ＡＢＣ商事 大阪支店", "株式会社ABC商事 大阪支店", "大阪支店"),
        ("株式会社ABC商事大阪支店", "株式会社ABC商事 大阪支店", "大阪支店"),  # place + 支店
        ("ABC株式会社大阪支店", "ABC株式会社 大阪支店", "大阪支店"),  # after a 後株 form
        ("ABC株式会社 札幌営業所", "ABC株式会社 札幌営業所", "札幌営業所"),
        ("株式会社ABC 本社", "株式会社ABC 本社", "本社"),
        ("株式会社ABC 東京 支店", "株式会社ABC 東京 支店", "東京 支店"),
        (
            "株式会社ABC 北東北支店 盛岡営業所",
            "株式会社ABC 北東北支店 盛岡営業所",
            "北東北支店 盛岡営業所",
        ),
        ("ABC 新宿店", "ABC 新宿店", "新宿店"),
        ("株式会社ABC 第二工場", "株式会社ABC 第二工場", "第二工場"),
        ("山田書店", "山田書店", None),  # no space, no place name: part of the name
        ("株式会社ABC商事", "株式会社ABC商事", None),
    ],
)
def test_branch(raw: str, display: str, branch: str | None) -> None:
    parsed = parse_company_name(raw)
    assert (parsed.display, parsed.name.branch) == (display, branch)


@pytest.mark.parametrize(
    ("raw", "note", "display"),
    [
        ("【取引停止】株式会社ABC", "取引停止", "株式会社ABC"),
        ("株式会社ABC（旧XYZ）", "旧XYZ", "株式会社ABC"),
        ("株式会社ABC [重要]", "重要", "株式会社ABC"),
        ("株式会社ABC(旧XYZ)【要確認】", "旧XYZ 要確認", "株式会社ABC"),
        ("ABC(株)(旧XYZ)", "旧XYZ", "ABC株式会社"),
    ],
)
def test_notes_are_split_off(raw: str, note: str, display: str) -> None:
    parsed = parse_company_name(raw)
    assert (parsed.name.note, parsed.display) == (note, display)
    assert parsed.name.key == "ABC"


@pytest.mark.parametrize("raw", ["株式会社", "(株)", "支店"])
def test_legal_form_alone_is_kept_as_body(raw: str) -> None:
    name = parse_company_name(raw).name
    assert name.legal_form is None
    assert name.body


def test_text_after_suffix_form_without_space_is_not_split() -> None:
    name = parse_company_name("ABC株式会社XYZ").name
    assert name.legal_form is None
    assert name.body == "ABC株式会社XYZ"


def test_key_folds_variant_kanji_and_ignores_spaces() -> None:
    assert name_key("株式会社 髙島屋") == name_key("高島屋(株)")
    assert name_key("(株)山﨑 製作所") == name_key("山崎製作所株式会社")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("カブシキガイシャ エービーシー", "エービーシー"),
        ("エービーシー カブシキガイシャ", "エービーシー"),
        ("ｶ)ｴｰﾋﾞｰｼｰ", "エービーシー"),
        ("ｴｰﾋﾞｰｼｰ(ｶ", "えーびーしー"),
        ("(カブ) エービーシー", "エービーシー"),
        ("ユウゲンガイシャ エービーシー", "エービーシー"),
        ("エービーシーショウジ オオサカシテン", "エービーシーショウジ"),
    ],
)
def test_kana_key_removes_legal_form_reading(a: str, b: str) -> None:
    assert kana_key(a) == kana_key(b)


# --- Japan Post 事業所 data: name and kana both written by Japan Post ---

_KANA_MARK = {
    "カブ": "株式会社",
    "カ": "株式会社",
    "カブシキガイシヤ": "株式会社",
    "ユウ": "有限会社",
    "ザイ": "財団法人",
    "シヤ": "社団法人",
}
OFFICES = load_json("japanpost_offices.json")["offices"]


@pytest.mark.parametrize("office", OFFICES, ids=lambda o: o["code"])
def test_japan_post_offices_legal_form_agrees_with_their_kana(office: dict[str, str]) -> None:
    kana = office["kana"]
    mark = re.search(r"\((カブ|カ|ユウ|ザイ|シヤ)\)|カブシキガイシヤ", kana)
    assert mark is not None
    expected = _KANA_MARK[mark.group(1) or mark.group()]
    expected_position = "prefix" if mark.start() == 0 else "suffix"
    name = parse_company_name(office["name"]).name
    assert (name.legal_form, name.legal_form_position) == (expected, expected_position)
    # the kana key keeps neither the legal-form reading nor a leading "("
    key = kana_key(kana)
    assert "カブシキガイシヤ" not in key
    assert key and key[0] != "("


def test_brackets_left_open_around_a_suffix_form_stay_out_of_the_name() -> None:
    """Hypothesis found "0(㈱ )": body "0(" and branch ")" gave a display that read back as
    "0" (the bracket became a note)."""
    parsed = parse_company_name("0(㈱ )")
    assert (parsed.name.body, parsed.name.branch, parsed.display) == ("0", None, "0株式会社")
    assert parse_company_name(parsed.display).display == parsed.display


@pytest.mark.parametrize(
    ("raw", "body", "branch"),
    [
        ("城南信用金庫本町支店", "城南信用金庫", "本町支店"),  # after an organisation word
        ("株式会社日立製作所大阪工場", "日立製作所", "大阪工場"),
        ("ABC株式会社事業本部第二分室", "ABC", "事業本部第二分室"),  # after a 後株 form
        ("株式会社ABC事業本部第二分室", "ABC事業本部", "第二分室"),
        ("株式会社アイシン蒲郡工場", "アイシン", "蒲郡工場"),  # at a Japan Post place name
        ("株式会社大和高岡店", "大和", "高岡店"),
        ("株式会社ABC書店", "ABC書店", None),  # 書 is no place
        ("ABC株式会社XYZ", "ABC株式会社XYZ", None),
    ],
)
def test_branch_written_without_a_space(raw: str, body: str, branch: str | None) -> None:
    name = parse_company_name(raw).name
    assert (name.body, name.branch) == (body, branch)
