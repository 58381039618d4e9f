"""Person names: 姓 and 名 kept as structure; display "姓 名"; key folded without the space.

When only a full name is sent it is split on its first space ("山田 太郎", "山田　太郎"); a name
written without a space ("山田太郎") cannot be split reliably and is kept whole (the key, which
ignores the space, still matches the split form).
"""

from __future__ import annotations

from dataclasses import dataclass

from mdm_hub.record import PersonName, PersonNameIn

from .text import fold_key, kana_fold, normalize_kana, normalize_text, optional_text


@dataclass(frozen=True)
class ParsedPersonName:
    name: PersonName
    display: str
    kana: str | None  # "セイ メイ"
    split: bool  # family/given were taken from a space in the full name


def _kana(text: str | None) -> str | None:
    if text is None:
        return None
    return normalize_kana(text) or None


def _split(text: str | None) -> tuple[str | None, str | None]:
    if not text or " " not in text:
        return None, None
    family, given = text.split(" ", 1)
    return family, given


def person_name_key(text: str) -> str:
    return fold_key(text)


def parse_person_name(
    name: str | None, kana: str | None, parts: PersonNameIn | None
) -> ParsedPersonName:
    full = optional_text(name)
    full_kana = _kana(kana)
    family = optional_text(parts.family_name) if parts else None
    given = optional_text(parts.given_name) if parts else None
    family_kana = _kana(parts.family_name_kana) if parts else None
    given_kana = _kana(parts.given_name_kana) if parts else None
    split = False
    if family is None and given is None:
        family, given = _split(full)
        split = family is not None
    if family_kana is None and given_kana is None:
        family_kana, given_kana = _split(full_kana)
    display = " ".join(p for p in (family, given) if p) or full or ""
    if full_kana is None and (family_kana or given_kana):
        full_kana = " ".join(p for p in (family_kana, given_kana) if p)
    return ParsedPersonName(
        PersonName(
            family_name=family,
            given_name=given,
            family_name_kana=family_kana,
            given_name_kana=given_kana,
            key=fold_key(display),
        ),
        display,
        full_kana,
        split,
    )


def person_kana_key(text: str) -> str:
    return kana_fold(text)


__all__ = ["ParsedPersonName", "normalize_text", "parse_person_name", "person_name_key"]
