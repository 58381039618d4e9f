"""Company names: legal form (法人格) and its position (前株/後株), body, branch, notes, key.

"(株)ＡＢＣ商事 大阪支店【旧XYZ】" → legal_form 株式会社, prefix, body "ABC商事", branch "大阪支店",
note "旧XYZ", key "ABC商事"; display name "株式会社ABC商事 大阪支店" (notes are kept in
``note``, not in the display name, which is what invoices print).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from mdm_hub.record import CompanyName, LegalFormPosition

from .text import fold_key, kana_fold, normalize_kana, normalize_text, words

# canonical long form → other spellings (after normalize_text: （株） and ㈱ are already "(株)")
_JAPANESE_FORMS: dict[str, tuple[str, ...]] = {
    "株式会社": ("株式會社", "(株)", "カブシキガイシャ", "カブシキカイシャ"),
    "有限会社": ("有限會社", "(有)", "ユウゲンガイシャ", "ユウゲンカイシャ"),
    "合同会社": ("(同)", "ゴウドウガイシャ", "ゴウドウカイシャ"),
    "合資会社": ("(資)", "(合資)", "ゴウシガイシャ"),
    "合名会社": ("(名)", "(合名)", "ゴウメイガイシャ"),
    "相互会社": ("(相)",),
    "特定非営利活動法人": ("NPO法人", "(特非)", "(NPO)"),
    "有限責任事業組合": (),
    "一般社団法人": ("(一社)",),
    "一般財団法人": ("(一財)",),
    "公益社団法人": ("(公社)",),
    "公益財団法人": ("(公財)",),
    "社団法人": ("(社)",),
    "財団法人": ("(財)",),
    "社会医療法人": (),
    "特定医療法人": (),
    "医療法人社団": ("(医社)",),
    "医療法人財団": ("(医財)",),
    "医療法人": ("(医)",),
    "社会福祉法人": ("(福)", "(社福)"),
    "学校法人": ("(学)",),
    "宗教法人": ("(宗)",),
    "地方独立行政法人": ("(地独)",),
    "独立行政法人": ("(独)",),
    "国立研究開発法人": ("(研)",),
    "国立大学法人": (),
    "公立大学法人": (),
    "大学共同利用機関法人": (),
    "弁護士法人": ("(弁)",),
    "税理士法人": ("(税)",),
    "監査法人": ("(監)",),
    "司法書士法人": (),
    "行政書士法人": (),
    "社会保険労務士法人": (),
    "特許業務法人": (),
    "土地家屋調査士法人": (),
    "更生保護法人": (),
    "職業訓練法人": (),
    "農業協同組合": ("(農)", "JA"),
    "漁業協同組合": ("(漁)",),
    "消費生活協同組合": ("(生協)",),
    "生活協同組合": (),
}

# 全銀 (bank transfer) 法人略語: "カ)エービーシー" is 前株, "エービーシー(カ" is 後株,
# "(カ)" either; Japan Post writes "(カブ)". The reading is what kana keys strip.
_ZENGIN: dict[str, str] = {
    "カ": "株式会社", "カブ": "株式会社", "ユ": "有限会社", "ユウ": "有限会社", "ド": "合同会社",
    "シ": "合資会社", "メ": "合名会社", "ソ": "相互会社", "イ": "医療法人", "ザイ": "財団法人",
    "シヤ": "社団法人", "シャ": "社団法人", "フク": "社会福祉法人", "ガク": "学校法人",
    "シユウ": "宗教法人", "シュウ": "宗教法人", "トクヒ": "特定非営利活動法人",
    "ドク": "独立行政法人", "ダイ": "国立大学法人", "ベン": "弁護士法人", "ゼイ": "税理士法人",
    "カンサ": "監査法人", "ユウクミ": "有限責任事業組合",
}  # fmt: skip

# English designations keep an English canonical form (an English name stays English).
_ENGLISH_FORMS: tuple[tuple[str, str], ...] = (
    ("Co., Ltd.", r"co(?:mpany)?\s*[.,]?\s*,?\s*(?:ltd|limited)\.?"),
    ("K.K.", r"k\.\s?k\.?|kk|kabushiki\s+[kg]aisha"),
    ("G.K.", r"g\.\s?k\.?|godo\s+[kg]aisha"),
    ("Y.K.", r"y\.\s?k\.?|yugen\s+[kg]aisha"),
    ("Inc.", r"inc\.?|incorporated"),
    ("Corporation", r"corp\.?|corporation"),
    ("LLC", r"l\.?l\.?c\.?"),
    ("Ltd.", r"ltd\.?|limited"),
)

# spelling → canonical, longest spelling first so 医療法人社団 wins over 医療法人
_SPELLINGS: dict[str, str] = {}
for _canonical, _others in _JAPANESE_FORMS.items():
    _SPELLINGS[_canonical] = _canonical
    for _other in _others:
        _SPELLINGS[_other] = _canonical
for _reading, _canonical in _ZENGIN.items():
    _SPELLINGS[f"({_reading})"] = _canonical
_ALTERNATION = "|".join(map(re.escape, sorted(_SPELLINGS, key=len, reverse=True)))
_ZENGIN_ALT = "|".join(sorted(_ZENGIN, key=len, reverse=True))

_PREFIX = re.compile(rf"^(?:(?P<form>{_ALTERNATION})|(?P<zengin>{_ZENGIN_ALT})\))\s*")
_SUFFIX = re.compile(rf"\s*(?:(?P<form>{_ALTERNATION})|\((?P<zengin>{_ZENGIN_ALT}))(?P<after>.*?)$")
_ENGLISH = re.compile(
    rf"(?:^|[\s,]+)(?P<form>{'|'.join(f'(?:{p})' for _, p in _ENGLISH_FORMS)})"
    rf"(?=\s|$)(?P<after>.*?)$",
    re.IGNORECASE,
)
_ENGLISH_PATTERNS = [(c, re.compile(p, re.IGNORECASE)) for c, p in _ENGLISH_FORMS]

_LEGAL_INNER = {s[1:-1] for s in _SPELLINGS if s.startswith("(")}
_NOTE = re.compile(r"【([^】]*)】|\[([^\]]*)\]|\(([^()]*)\)")

BRANCH_WORDS = (
    "本社", "本店", "支社", "支店", "営業所", "出張所", "事業所", "事務所", "工場", "センター",
    "本部", "支部", "分室", "分店", "倉庫", "営業部", "オフィス", "本院", "分院", "店",
)  # fmt: skip
_BRANCH_END = re.compile(f"(?:{'|'.join(BRANCH_WORDS)})$")


# Without a space a branch is only split off behind a place name people put before 支店:
# prefectures, 政令市, regions ("ABC商事大阪支店", "ABC東日本支社").
_PLACES = words(
    "北海道 青森 岩手 宮城 秋田 山形 福島 茨城 栃木 群馬 埼玉 千葉 東京 神奈川 "
    "新潟 富山 石川 福井 山梨 長野 岐阜 静岡 愛知 三重 滋賀 京都 大阪 兵庫 "
    "奈良 和歌山 鳥取 島根 岡山 広島 山口 徳島 香川 愛媛 高知 福岡 佐賀 長崎 "
    "熊本 大分 宮崎 鹿児島 沖縄 札幌 仙台 さいたま 横浜 川崎 相模原 名古屋 神戸 堺 "
    "北九州 浜松 新潟 千葉 東北 関東 北関東 甲信越 北陸 中部 東海 関西 近畿 中国 "
    "四国 九州 首都圏 東日本 西日本 中日本 本"
)
_PLACE_BRANCH = re.compile(
    f"(?:{'|'.join(sorted(set(_PLACES), key=len, reverse=True))})"
    f"(?:{'|'.join(BRANCH_WORDS[:-1])})$"  # not bare 店: 東京店 would eat a 書店
)


# Without a space, a branch also starts after a word that ends an organisation's name
# ("城南信用金庫本町支店", "ABC製作所大阪工場", "ABC事業本部第二分室"): only before the branch
# words that never end a company's own name.
_ORGANISATION_WORDS = words(
    "銀行 信用金庫 信用組合 労働金庫 金庫 公庫 協同組合 製作所 工業所 工業 産業 商事 商会 "
    "商店 物産 建設 工務店 電機 電気 電工 証券 保険 生命 海上 運輸 運送 通運 鉄道 "
    "新聞社 放送 出版 印刷 "
    "化学 製薬 薬品 食品 製菓 製紙 製鉄 鉱業 興業 開発 技研 ホールディングス コーポレーション "
    "事業本部 事業部 "
    "本部 研究所 病院 大学 学園 協会 連合会 公社 機構 事業団 会"
)
_JOINED_BRANCH_WORDS = ("本社", "本店", "支社", "支店", "営業所", "出張所", "事業所", "工場",
                        "分室", "分店", "支部", "支所")  # fmt: skip
_JOINED_BRANCH = re.compile(
    f"^(?P<body>.+(?:{'|'.join(sorted(_ORGANISATION_WORDS, key=len, reverse=True))}))"
    f"(?P<branch>[^\\s]+(?:{'|'.join(_JOINED_BRANCH_WORDS)})|本社|本店)$"
)


# Japanese text right after a 後株 legal form is a site, written without its space
# ("TDK株式会社秋田地区", "ABC株式会社広島製作所"): the legal form ends the company's name.
_JAPANESE_START = re.compile("[\u3041-\u30ff\u3400-\u4dbf\u4e00-\u9fff]")


@dataclass(frozen=True)
class ParsedCompanyName:
    name: CompanyName
    display: str
    legal_form_written: str | None  # the spelling found, e.g. "(株)"


def _split_notes(text: str) -> tuple[str, list[str]]:
    notes: list[str] = []

    def take(match: re.Match[str]) -> str:
        inner = next(g for g in match.groups() if g is not None)
        if match.group(3) is not None and inner.strip() in _LEGAL_INNER:
            return f"({inner.strip()})"
        if inner.strip():
            notes.append(inner.strip())
        return " "

    before, after = None, normalize_text(text)
    while after != before:  # nested brackets: "((旧)XYZ)"
        before, after = after, normalize_text(_NOTE.sub(take, after))
    if not after:  # nothing but brackets: that is the name
        return normalize_text(text), []
    return after, notes


def _split_branch(body: str) -> tuple[str, str | None]:
    tokens = body.split(" ")
    cut = len(tokens)
    # trailing tokens that end in a branch word: "北東北支店 盛岡営業所"; a bare word takes the
    # token before it along ("東京 支店")
    while cut > 1 and _BRANCH_END.search(tokens[cut - 1]):
        cut -= 1
        if tokens[cut] in BRANCH_WORDS and cut > 1:
            cut -= 1
    if cut < len(tokens):
        return " ".join(tokens[:cut]), " ".join(tokens[cut:])
    match = _PLACE_BRANCH.search(body)
    if match and match.start() > 0:
        return body[: match.start()].rstrip(), match.group()
    if " " not in body and (joined := _JOINED_BRANCH.match(body)):
        return joined.group("body"), joined.group("branch")
    if " " not in body and (end := _JOINED_BRANCH_END.search(body)):
        return _split_at_place(body, end.start())
    if " " not in body and body.endswith("店") and len(body) > 4:
        # "大和高岡店": a store named by its place, the place right before 店 ("ABC書店" is
        # not one: 書 is no place)
        return _split_at_place(body, len(body) - 1, adjacent=True)
    return body, None


_JOINED_BRANCH_END = re.compile(f"(?:{'|'.join(_JOINED_BRANCH_WORDS)})$")
_KANJI = re.compile("[\u3400-\u9fff]")


def _split_at_place(body: str, end: int, *, adjacent: bool = False) -> tuple[str, str | None]:
    """ "アイシン蒲郡工場", "ミキモト銀座4丁目本店": the branch starts with a place name of Japan
    Post's data (a city without 市/区/町/村, or a town) — the longest one found, nearest the
    start on a tie; the body before it keeps two characters at least."""
    names = _place_names()
    best: tuple[int, int] | None = None  # (length, -start)
    for start in range(2, end):
        for length in range(min(_LONGEST_PLACE, end - start), 1, -1):
            if adjacent and start + length != end:
                continue
            if body[start : start + length] in names:
                if best is None or (length, -start) > best:
                    best = (length, -start)
                break
    if best is None:
        return body, None
    start = -best[1]
    return body[:start], body[start:]


_LONGEST_PLACE = 8


@lru_cache(maxsize=1)
def _place_names() -> frozenset[str]:
    from .postal import index  # Japan Post's data, loaded on the first name that needs it

    ix = index()
    names: set[str] = set()
    for _, city in {place for places in ix.city_places.values() for place in places}:
        for part in re.split("(?<=[市区郡])", city):
            names.add(re.sub("[市区町村郡]$", "", part))
    for towns in ix.towns.values():
        names.update(re.sub("[町村]$", "", town) for town in towns.values())
    return frozenset(n for n in names if 2 <= len(n) <= _LONGEST_PLACE and _KANJI.search(n))


def _english_canonical(written: str) -> str:
    for canonical, pattern in _ENGLISH_PATTERNS:
        if pattern.fullmatch(written):
            return canonical
    return written  # unreachable: the alternation is made of these patterns


@lru_cache(maxsize=8192)
def parse_company_name(text: str) -> ParsedCompanyName:
    cleaned, notes = _split_notes(text)
    legal = written = None
    position: LegalFormPosition | None = None
    body, branch = cleaned, None

    if (m := _PREFIX.match(cleaned)) and m.end() < len(cleaned):
        written = m.group("form") or f"{m.group('zengin')})"
        legal = _SPELLINGS.get(m.group("form") or "") or _ZENGIN[m.group("zengin")]
        position = LegalFormPosition.prefix
        body, branch = _split_branch(cleaned[m.end() :])
    else:
        for m in (_SUFFIX.search(cleaned), _ENGLISH.search(cleaned)):
            if m is None or m.start() == 0:
                continue
            after = m.group("after")
            after_branch = normalize_text(after) or None
            if after_branch and not (
                after.startswith(" ")
                or _BRANCH_END.search(after_branch)
                or (m.re is _SUFFIX and _JAPANESE_START.match(after_branch))
            ):
                continue  # "ABC株式会社XYZ": not a 後株 name with a branch; leave it alone
            if m.re is _ENGLISH:
                written = m.group("form")
                legal = _english_canonical(written)
            else:
                written = m.group("form") or f"({m.group('zengin')}"
                legal = _SPELLINGS.get(m.group("form") or "") or _ZENGIN[m.group("zengin")]
            position = LegalFormPosition.suffix
            # "0((株) )": brackets left open around the form are no part of body or branch
            body = cleaned[: m.start()].rstrip(" ,(")
            branch = after_branch if after_branch and re.search(r"\w", after_branch) else None
            break
        else:
            body, branch = _split_branch(cleaned)
    if not body:  # "株式会社" alone, or a branch word alone: keep it all as the body
        legal = written = position = branch = None
        body = cleaned

    display = _display(legal, position, body, branch)
    return ParsedCompanyName(
        CompanyName(
            legal_form=legal,
            legal_form_position=position,
            body=body,
            branch=branch,
            note=" ".join(notes) or None,
            key=fold_key(body),
        ),
        display,
        written,
    )


def _display(
    legal: str | None, position: LegalFormPosition | None, body: str, branch: str | None
) -> str:
    if legal is None:
        name = body
    elif position is LegalFormPosition.prefix:
        name = f"{legal}{body}"
    elif legal.isascii():
        name = f"{body} {legal}"
    else:
        name = f"{body}{legal}"
    return f"{name} {branch}" if branch else name


def company_name_key(text: str) -> str:
    """Match key of a company name: body only (no legal form, branch or notes), folded."""
    return parse_company_name(text).name.key


# --- フリガナ ---------------------------------------------------------------------------------

_READINGS = sorted(
    {s for s in _SPELLINGS if re.fullmatch(r"[ァ-ヶー]+", s)}
    | {"イッパンシャダンホウジン", "イッパンザイダンホウジン", "コウエキシャダンホウジン",
       "コウエキザイダンホウジン", "イリョウホウジン", "ガッコウホウジン", "シャカイフクシホウジン",
       "トクテイヒエイリカツドウホウジン", "シュウキョウホウジン", "ドクリツギョウセイホウジン",
       "イリョウホウジンシャダン", "イリョウホウジンザイダン", "シャカイイリョウホウジン",
       "トクテイイリョウホウジン", "シャダンホウジン", "ザイダンホウジン",
       "コクリツダイガクホウジン", "コウリツダイガクホウジン",
       "チホウドクリツギョウセイホウジン", "ソウゴガイシャ",
       "コクリツケンキュウカイハツホウジン", "ノウギョウキョウドウクミアイ", "ベンゴシホウジン",
       "ゼイリシホウジン", "カンサホウジン", "ゴウシガイシャ", "ゴウメイガイシャ"},
    key=len,
    reverse=True,
)  # fmt: skip
_READING_ALT = "|".join(kana_fold(r) for r in _READINGS)
_ZENGIN_FOLDED = "|".join(sorted({kana_fold(z) for z in _ZENGIN}, key=len, reverse=True))
_KANA_LEGAL_PREFIX = re.compile(rf"^(?:{_READING_ALT}|\(?(?:{_ZENGIN_FOLDED})\))\s*")
_KANA_LEGAL_SUFFIX = re.compile(rf"\s*(?:{_READING_ALT}|\((?:{_ZENGIN_FOLDED})\)?)$")
_BRANCH_READINGS = re.compile(
    "(?:シテン|シシヤ|ホンシヤ|ホンテン|エイギヨウシヨ|シユツチヨウシヨ|ジギヨウシヨ|ジムシヨ|"
    "コウジヨウ|センター|ホンブ|シブ)$"
)
_SMALL = str.maketrans("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ")


_KANA_NOTE = re.compile(r"\(([^()]*)\)")
_ZENGIN_TOKEN = re.compile(rf"^(?:\(?(?:{_ZENGIN_FOLDED})\)|\((?:{_ZENGIN_FOLDED})\)?)$")
_READING_TOKEN = re.compile(rf"^(?:{_READING_ALT})$")


@lru_cache(maxsize=8192)
def company_kana_key(text: str) -> str:
    """Match key of a company フリガナ: legal-form reading, branch reading and notes removed.

    Mirrors the name rules: a legal-form reading that is a word of its own splits 前株 (the rest
    is the body) from 後株 (what follows it is the branch); trailing branch readings (シテン,
    エイギヨウシヨ, …) go; "(エステイブイ)"-style notes go.
    """
    kana = normalize_kana(text).translate(_SMALL).upper()
    kana = _KANA_NOTE.sub(
        lambda m: m.group() if re.fullmatch(_ZENGIN_FOLDED, m.group(1)) else " ", kana
    )
    tokens = kana.split()
    for i, token in enumerate(tokens):
        if _READING_TOKEN.match(token) or _ZENGIN_TOKEN.match(token):
            tokens = tokens[:i] if i > 0 else tokens[1:]
            break
    while len(tokens) > 1 and _BRANCH_READINGS.search(tokens[-1]):
        tokens.pop()
    kana = " ".join(tokens)
    kana = _KANA_LEGAL_PREFIX.sub("", kana)
    kana = _KANA_LEGAL_SUFFIX.sub("", kana)
    return kana_fold(kana)
