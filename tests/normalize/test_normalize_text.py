"""Text rules: width, spaces, look-alike characters by code point, kana, key folding."""

from __future__ import annotations

import pytest

from mdm_hub.normalize import fold_key, kana_fold, normalize_kana, normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＡＢＣ１２３", "ABC123"),  # full-width ASCII → half-width
        ("ｱｲｳｴｵ", "アイウエオ"),  # half-width katakana → full-width
        ("ｶﾞｷﾞｸﾞ", "ガギグ"),  # half-width voiced marks compose
        ("ﾊﾟﾋﾟﾌﾟ", "パピプ"),
        ("ABC\u3000商事", "ABC 商事"),  # 全角スペース → one ASCII space
        ("  ABC \t\n 商事  ", "ABC 商事"),  # runs of whitespace collapsed, trimmed
        ("A\u200bB\ufeffC\u00ad", "ABC"),  # invisible format characters removed
        ("(株)", "(株)"),
        ("（株）", "(株)"),
        ("\u3231", "(株)"),  # ㈱
        ("\u3291", "(株)"),  # ㊑ keeps its meaning
        ("\u337f", "株式会社"),  # ㍿
        ("\uff5e", "\u301c"),  # ～ FULLWIDTH TILDE → 〜 WAVE DASH
        ("\u301c", "\u301c"),
        ("10時\uff5e12時", "10時\u301c12時"),
        ("①", "1"),
        ("", ""),
    ],
)
def test_width_and_spaces(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


HYPHEN_LOOKALIKES = [
    "\u002d",  # - hyphen-minus
    "\u2010",  # ‐ hyphen
    "\u2011",  # ‑ non-breaking hyphen
    "\u2012",  # ‒ figure dash
    "\u2013",  # – en dash
    "\u2014",  # — em dash
    "\u2015",  # ― horizontal bar
    "\u2212",  # − minus sign
    "\uff0d",  # － fullwidth hyphen-minus
    "\uff70",  # ｰ halfwidth prolonged sound mark
    "\u30fc",  # ー prolonged sound mark
    "\ufe63",  # ﹣ small hyphen-minus
    "\u2043",  # ⁃ hyphen bullet
    "\u2500",  # ─ box drawings light horizontal
    "\u2501",  # ━ box drawings heavy horizontal
]


@pytest.mark.parametrize("dash", HYPHEN_LOOKALIKES, ids=lambda c: f"U+{ord(c):04X}")
def test_hyphen_between_digits_is_ascii_hyphen(dash: str) -> None:
    assert normalize_text(f"03{dash}1234{dash}5678") == "03-1234-5678"
    assert normalize_text(f"１{dash}２{dash}３") == "1-2-3"


@pytest.mark.parametrize("dash", HYPHEN_LOOKALIKES, ids=lambda c: f"U+{ord(c):04X}")
def test_hyphen_inside_katakana_is_long_vowel(dash: str) -> None:
    assert normalize_text(f"コ{dash}ヒ{dash}") == "コーヒー"
    assert normalize_text(f"ｺ{dash}ﾋ{dash}") == "コーヒー"
    assert normalize_text(f"ら{dash}めん") == "らーめん"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("A\u2014B", "A-B"),  # next to Latin letters
        ("東京\u2015大阪", "東京-大阪"),  # between kanji: a dash
        ("東京\u30fc大阪", "東京ー大阪"),  # a long-vowel mark stays one
        ("14\u30fcイ22", "14-イ22"),  # after a digit: hyphen
        ("カ\u2010" + "1", "カ-1"),  # hyphen between kana and digit stays a hyphen
        ("ア--", "アーー"),
        ("エ-ビ-シ-", "エービーシー"),  # 全銀-style kana with ASCII hyphens
    ],
)
def test_hyphen_context(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("やまだ たろう", "ヤマダ タロウ"),
        ("ﾔﾏﾀﾞ ﾀﾛｳ", "ヤマダ タロウ"),
        ("ヤマダ　タロウ", "ヤマダ タロウ"),
        ("えーびーしー", "エービーシー"),
        ("ｴｰﾋﾞｰｼｰ", "エービーシー"),
    ],
)
def test_kana_display(raw: str, expected: str) -> None:
    assert normalize_kana(raw) == expected


@pytest.mark.parametrize(
    ("variant", "standard"),
    [
        ("髙橋", "高橋"),
        ("山﨑", "山崎"),
        ("渡邊", "渡辺"),
        ("渡邉", "渡辺"),
        ("齋藤", "斎藤"),
        ("齊藤", "斎藤"),
        ("德川", "徳川"),
        ("濱田", "浜田"),
        ("澤田", "沢田"),
        ("廣田", "広田"),
        ("國分", "国分"),
        ("櫻井", "桜井"),
        ("佐々木", "佐佐木"),  # 々 expanded
        ("霞ヶ関", "霞が関"),
        ("霞ケ関", "霞が関"),
        ("一ノ瀬", "一の瀬"),
        ("ｷｬﾉﾝ", "キヤノン"),  # small kana folded
        ("abc", "ＡＢＣ"),
        ("A・B", "AB"),
        ("A B", "AB"),
    ],
)
def test_key_folds_variants(variant: str, standard: str) -> None:
    assert fold_key(variant) == fold_key(standard)


def test_key_does_not_fold_different_names() -> None:
    assert fold_key("高橋") != fold_key("髙木")
    assert fold_key("ABC") != fold_key("ABD")


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (
            "ニホンケイザイシンブンシャ",
            "ニホンケイザイシンブンシヤ",
        ),  # Japan Post writes large kana
        ("きゃのん", "ｷﾔﾉﾝ"),
        ("ヂ", "ジ"),
        ("ヤマダ タロウ", "ヤマダタロウ"),
    ],
)
def test_kana_key(a: str, b: str) -> None:
    assert kana_fold(a) == kana_fold(b)
