"""Text rules: width, spaces, hyphen and long-vowel look-alikes, kana, and match-key folding.

Display form (:func:`normalize_text`) keeps every meaningful character; key forms
(:func:`fold_key`, :func:`kana_fold`) additionally fold variants so that spellings of the same
thing compare equal.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache


def words(text: str) -> tuple[str, ...]:
    """The words of a table written as one space-separated string."""
    return tuple(text.split())


# Characters NFKC would get wrong for us, mapped before NFKC runs.
# ～ (U+FF5E) would become ASCII "~"; Japanese text means the wave dash. Circled ideographs
# (㊑) would lose their circle and read as a bare 株; (株) keeps the meaning.
_PRE_NFKC = str.maketrans(
    {
        "\uff5e": "\u301c",  # ～ → 〜
        "\u3291": "(株)",  # ㊑
        "\u3292": "(有)",  # ㊒
        "\u3293": "(社)",  # ㊓
        "\u3294": "(名)",  # ㊔
        "\u3295": "(特)",  # ㊕
        "\u3296": "(財)",  # ㊖
        "\u32ab": "(学)",  # ㊫
        "\u32ae": "(資)",  # ㊮
        "\u32af": "(協)",  # ㊯
    }
)

# Invisible format characters (zero-width space/joiners, word joiner, BOM, soft hyphen) carry
# no text; they are removed. Other whitespace (incl. U+3000 全角スペース) becomes one space.
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")
_SPACES = re.compile(r"\s+")

# Every character that people (or IMEs, or Excel) use for a hyphen, minus, dash or the
# katakana long-vowel mark. NFKC already maps U+FF0D, U+FE63 to "-" and U+FF70 to "ー".
HYPHEN_LIKE = (
    "-"  # U+002D hyphen-minus
    "\u2010"  # ‐ hyphen
    "\u2011"  # ‑ non-breaking hyphen
    "\u2012"  # ‒ figure dash
    "\u2013"  # – en dash
    "\u2014"  # — em dash
    "\u2015"  # ― horizontal bar
    "\u2043"  # ⁃ hyphen bullet
    "\u2212"  # − minus sign
    "\u02d7"  # ˗ modifier letter minus
    "\u2500"  # ─ box drawings light horizontal
    "\u2501"  # ━ box drawings heavy horizontal
    "\ufe58"  # ﹘ small em dash
    "\u30fc"  # ー katakana-hiragana prolonged sound mark
)
_HYPHEN_RE = re.compile(f"[{re.escape(HYPHEN_LIKE)}]")
LONG_VOWEL = "\u30fc"


def _is_kana(ch: str) -> bool:
    # Hiragana, katakana (without the middle dot ・ U+30FB) and the iteration marks.
    return ("\u3041" <= ch <= "\u309f") or ("\u30a1" <= ch <= "\u30ff" and ch != "\u30fb")


def _is_ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _resolve_hyphens(text: str) -> str:
    """Turn each hyphen look-alike into "-" or "ー" depending on its neighbours.

    Decided left to right on the already-resolved previous character, so the result is stable
    when normalized again: between digits → "-"; after kana → "ー" (unless a hyphen is followed
    by a digit or Latin letter: "カ-1"); next to digits or Latin letters → "-"; otherwise a
    long-vowel mark stays "ー" and every dash becomes "-".
    """
    out: list[str] = []
    last = len(text) - 1
    for i, ch in enumerate(text):
        if ch not in HYPHEN_LIKE:
            out.append(ch)
            continue
        prev = out[-1] if out else ""
        nxt = text[i + 1] if i < last else ""
        if prev.isdigit() and nxt.isdigit():
            out.append("-")
        elif prev and _is_kana(prev):
            out.append("-" if ch != LONG_VOWEL and _is_ascii_alnum(nxt) else LONG_VOWEL)
        elif (prev and _is_ascii_alnum(prev)) or _is_ascii_alnum(nxt):
            out.append("-")
        else:
            out.append(LONG_VOWEL if ch == LONG_VOWEL else "-")
    return "".join(out)


@lru_cache(maxsize=8192)
def normalize_text(text: str) -> str:
    """Display form of free text.

    NFKC (ASCII letters/digits half-width, katakana full-width, ㈱ → (株)), 〜 for both wave
    dashes, invisible characters removed, any run of whitespace → one ASCII space, trimmed,
    hyphen/long-vowel look-alikes resolved by context.
    """
    text = unicodedata.normalize("NFKC", text.translate(_PRE_NFKC))
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    text = _SPACES.sub(" ", text).strip()
    if _HYPHEN_RE.search(text):
        text = _resolve_hyphens(text)
    return text


def optional_text(text: str | None) -> str | None:
    """normalize_text for optional fields; an empty result is None."""
    if text is None:
        return None
    return normalize_text(text) or None


# --- kana ------------------------------------------------------------------------------------

_HIRA_TO_KATA = {cp: cp + 0x60 for cp in range(0x3041, 0x3097)} | {0x309D: 0x30FD, 0x309E: 0x30FE}


@lru_cache(maxsize=8192)
def normalize_kana(text: str) -> str:
    """Display form of a フリガナ: normalize_text, then hiragana → full-width katakana."""
    return normalize_text(text).translate(_HIRA_TO_KATA)


# --- folding for match keys --------------------------------------------------------------------

# 異体字 / 旧字体 → the form in everyday use. Only variants that name the same thing; keys use
# this, display forms never do (a company may insist on 髙島屋).
_VARIANTS = (
    "髙高 﨑崎 嵜崎 碕崎 邊辺 邉辺 齋斎 齊斎 斉斎 德徳 濱浜 濵浜 澤沢 廣広 國国 藏蔵 "
    "櫻桜 嶋島 嶌島 冨富 曾曽 龍竜 瀧滝 惠恵 眞真 條条 實実 壽寿 榮栄 圓円 會会 驒騨 "
    "亞亜 麩麸 萬万 學学 戶戸 户戸 鐵鉄 鉃鉄 縣県 關関 舘館 槇槙 桒桑 黑黒 靜静 禮礼 "
    "傳伝 藝芸 彌弥 辨弁 辯弁 瓣弁 莊荘 髮髪 舊旧 寳宝 寶宝 淺浅 渕淵 恆恒 將将 專専 "
    "廳庁 晝昼 盡尽 來来 兩両 亂乱 佛仏 假仮 價価 僞偽 兒児 凜凛 劍剣 勞労 勳勲 卷巻 "
    "參参 變変 嚴厳 圖図 團団 壞壊 壯壮 聲声 寬寛 對対 峯峰 嶽岳 巖巌 帶帯 彈弾 徑径 "
    "從従 惡悪 應応 戀恋 戰戦 拔抜 擇択 數数 斷断 晉晋 曉暁 栁柳 棧桟 樂楽 樣様 橫横 "
    "檢検 歐欧 歸帰 殘残 每毎 氣気 沒没 淨浄 淸清 渴渇 溪渓 滿満 濟済 瀨瀬 灣湾 燈灯 "
    "爲為 狀状 獨独 獻献 瑤瑶 甁瓶 畫画 當当 發発 盜盗 硏研 碎砕 祕秘 禪禅 稻稲 穗穂 "
    "穩穏 竊窃 粹粋 經経 繩縄 纖繊 續続 聽聴 肅粛 脫脱 臟臓 與与 舍舎 莖茎 萠萌 藥薬 "
    "號号 螢蛍 蟲虫 衞衛 裝装 覺覚 觀観 讀読 證証 豐豊 賣売 贊賛 踐践 轉転 辭辞 遙遥 "
    "遲遅 醫医 釀醸 釋釈 鑛鉱 鹽塩 麥麦 黃黄 齒歯 龜亀 靑青 峽峡 廐厩 搜捜 攝摂 濕湿 "
    "祿禄 禱祷 絲糸 邨村 檜桧 蘆芦 鷗鴎 禰祢 𠮷吉 莵菟 冝宜 "
    # 巿 (U+5DFF) is another character that looks exactly like 市; data typed from scans or
    # converted between encodings carries it in place of 市 (巿川巿).
    "巿市"
)
VARIANT_PAIRS: dict[str, str] = {pair[0]: pair[1] for pair in _VARIANTS.split()}

_SMALL_KANA = dict(zip("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ", strict=True)) | dict(
    zip("ㇰㇱㇲㇳㇴㇵㇶㇷㇸㇹㇺㇻㇼㇽㇾㇿ", "クシストヌハヒフヘホムラリルレロ", strict=True)
)

# One character in, one character out: fold_chars keeps string positions, so an address can be
# matched on folded text and cut at the same index in the original.
_FOLD_CHARS: dict[int, str] = str.maketrans(VARIANT_PAIRS | _SMALL_KANA) | {
    hira: _SMALL_KANA.get(chr(kata), chr(kata)) for hira, kata in _HIRA_TO_KATA.items()
}
_KANJI = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# 霞が関 / 霞ヶ関 / 霞ケ関, 一の瀬 / 一ノ瀬: the connecting kana between two kanji (after the
# hiragana → katakana fold) is one letter.
_KE_BETWEEN_KANJI = re.compile(
    f"(?<=[{_KANJI}])[ガケカ](?=[{_KANJI}])|(?<=[\u30a1-\u30f6])[ガケ](?=[{_KANJI}])"
)  # 美しが丘 / 美しヶ丘 (after the hiragana fold: 美シガ丘, 美シケ丘)
# 一之江 / 一ノ江 / 一の江: 之 between two kanji is the same connecting ノ.
_NO_BETWEEN_KANJI = re.compile(f"(?<=[{_KANJI}])之(?=[{_KANJI}])")
_REPEAT_MARK = re.compile(f"([{_KANJI}])々")
_NOT_WORD = re.compile(r"[\W_]+")


def fold_chars(text: str) -> str:
    """Length-preserving fold of already-normalized text (異体字, small kana, hiragana, ヶ)."""
    folded = text.translate(_FOLD_CHARS)
    if "ガ" in folded or "ケ" in folded or "カ" in folded:
        folded = _KE_BETWEEN_KANJI.sub("ケ", folded)
    if "之" in folded:
        folded = _NO_BETWEEN_KANJI.sub("ノ", folded)
    return folded


@lru_cache(maxsize=8192)
def fold_key(text: str) -> str:
    """Match key of a name-like text: folded, upper-case, letters and digits only."""
    folded = fold_chars(normalize_text(text))
    if "々" in folded:
        folded = _REPEAT_MARK.sub(r"\1\1", folded)
    return _NOT_WORD.sub("", folded).upper()


# Phonetic folds that only make sense on kana: old kana and voiced ジ/ズ spellings.
_KANA_SOUNDS = str.maketrans(dict(zip("ヂヅヲヰヱ", "ジズオイエ", strict=True)))


def kana_fold(text: str) -> str:
    """Match key of a katakana reading: small kana enlarged, spaces and punctuation removed."""
    folded = normalize_kana(text).translate(_FOLD_CHARS).translate(_KANA_SOUNDS)
    return _NOT_WORD.sub("", folded).upper()
