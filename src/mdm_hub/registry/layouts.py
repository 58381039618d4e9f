"""The published layouts of the NTA's downloadable files, and the checks of one row (pure).

法人番号 基本3情報 CSV: no header row, 30 columns in the order of the NTA's リソース定義書.
インボイス (適格請求書発行事業者) 法人 CSV: no header row, 24 columns.
A row is either parsed into typed values or rejected with the reason; nothing is guessed (a row
of the wrong length is never padded or cut).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mdm_hub.normalize.corporate_number import check_digit

NTA_COLUMNS: tuple[str, ...] = (
    "sequence_number",  # 一連番号
    "corporate_number",  # 法人番号
    "process",  # 処理区分
    "correct",  # 訂正区分
    "update_date",  # 更新年月日
    "change_date",  # 変更年月日
    "name",  # 商号又は名称
    "name_image_id",  # 商号又は名称イメージID
    "kind",  # 法人種別
    "prefecture_name",  # 国内所在地（都道府県）
    "city_name",  # 国内所在地（市区町村）
    "street_number",  # 国内所在地（丁目番地等）
    "address_image_id",  # 国内所在地イメージID
    "prefecture_code",  # 都道府県コード
    "city_code",  # 市区町村コード
    "post_code",  # 郵便番号
    "address_outside",  # 国外所在地
    "address_outside_image_id",  # 国外所在地イメージID
    "close_date",  # 登記記録の閉鎖等年月日
    "close_cause",  # 登記記録の閉鎖等の事由
    "successor_corporate_number",  # 承継先法人番号
    "change_cause",  # 変更事由の詳細
    "assignment_date",  # 法人番号指定年月日
    "latest",  # 最新履歴
    "en_name",  # 商号又は名称（英語表記）
    "en_prefecture_name",  # 国内所在地（都道府県）（英語表記）
    "en_city_name",  # 国内所在地（市区町村丁目番地等）（英語表記）
    "en_address_outside",  # 国外所在地（英語表記）
    "furigana",  # フリガナ
    "hihyoji",  # 検索対象除外
)

NTA_PROCESSES: dict[str, str] = {
    "01": "新規",
    "11": "商号又は名称の変更",
    "12": "国内所在地の変更",
    "13": "国外所在地の変更",
    "21": "登記記録の閉鎖等",
    "22": "登記記録の復活等",
    "71": "吸収合併",
    "72": "吸収合併無効",
    "81": "商号の登記の抹消",
    "99": "削除",
}

NTA_KINDS: dict[str, str] = {
    "101": "国の機関",
    "201": "地方公共団体",
    "301": "株式会社",
    "302": "有限会社",
    "303": "合名会社",
    "304": "合資会社",
    "305": "合同会社",
    "399": "その他の設立登記法人",
    "401": "外国会社等",
    "499": "その他",
}

NTA_CLOSE_CAUSES: dict[str, str] = {
    "01": "清算の結了等",
    "11": "合併による解散等",
    "21": "登記官による閉鎖",
    "31": "その他の清算の結了等",
}

INVOICE_COLUMNS: tuple[str, ...] = (
    "sequence_number",  # 一連番号
    "registration_number",  # 登録番号 (T + 13 digits)
    "process",  # 事業者処理区分
    "correct",  # 訂正区分
    "kind",  # 人格区分 (1 個人, 2 法人, 3 人格のない社団等)
    "country",  # 国内外区分
    "latest",  # 最新履歴
    "registration_date",  # 登録年月日
    "update_date",  # 更新年月日
    "disposal_date",  # 取消年月日
    "expire_date",  # 失効年月日
    "address",  # 本店又は主たる事務所の所在地
    "address_prefecture_code",
    "address_city_code",
    "address_request",  # 本店又は主たる事務所の所在地（公表申出）
    "address_request_prefecture_code",
    "address_request_city_code",
    "kana",  # 日本語（カナ）
    "name",  # 氏名又は名称
    "address_inside",  # 国内において行う資産の譲渡等に係る事務所、事業所その他これらに準ずるもの
    "address_inside_prefecture_code",
    "address_inside_city_code",
    "trade_name",  # 主たる屋号
    "popular_name_previous_name",  # 通称・旧姓
)

# 事業者処理区分, as the 公表システム's download and Web-API specification defines them: 03 is
# the end of a registration by 失効 (expireDate), 04 by 取消 (disposalDate). The status is read
# from the dates, so a file that used the other order would still give the right status.
INVOICE_PROCESSES: dict[str, str] = {
    "01": "新規",
    "02": "公表内容の変更",
    "03": "登録の失効",
    "04": "登録の取消",
    "99": "削除",
}

INVOICE_KINDS = {"1": "個人", "2": "法人", "3": "人格のない社団等"}


@dataclass(frozen=True)
class RowError:
    """Why a row was not imported; ``column`` names the offending column when there is one."""

    row_number: int
    reason: str
    column: str | None = None
    personal: bool = False  # the row is a person's: its fields are not kept with the reason


@dataclass(frozen=True)
class ParsedRow:
    """A checked row: its typed values by column name and a digest of its content.

    The digest leaves out the 一連番号 (a position in one file) and the 最新履歴 flag (which
    turns to 0 when a newer row arrives), so the same published row seen in a 全件 file and
    again in a 差分 file is recorded once in the history.
    """

    row_number: int
    key: str
    values: dict[str, Any]
    fields: tuple[str, ...]
    digest: str


def _date(value: str, column: str, row_number: int) -> dt.date | RowError | None:
    if value == "":
        return None
    if len(value) == 10 and value[4] == value[7] == "-":
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    return RowError(row_number, f"{column}: {value!r} is not a date (YYYY-MM-DD)", column)


def _valid_number(digits: str) -> bool:
    return (
        len(digits) == 13
        and digits.isascii()
        and digits.isdigit()
        and (int(digits[0]) == check_digit(digits[1:]))
    )


def _digest(fields: Sequence[str], latest_column: int) -> str:
    kept = [*fields[1:latest_column], *fields[latest_column + 1 :]]
    return hashlib.blake2b("\x1f".join(kept).encode(), digest_size=16).hexdigest()


def _flag(value: str, column: str, row_number: int, *, allow_empty: bool) -> bool | RowError | None:
    if value == "" and allow_empty:
        return None
    if value in ("0", "1"):
        return value == "1"
    return RowError(row_number, f"{column}: {value!r} is neither 0 nor 1", column)


# The typed columns of each layout (the others are text, and the 一連番号 an integer): what the
# parser reads them as, and so what the registry's tables store them as (``models.py``).
NTA_DATES = ("update_date", "change_date", "close_date", "assignment_date")
NTA_FLAGS = ("correct", "latest", "hihyoji")


def _common_fields(
    fields: Sequence[str], columns: Sequence[str], row_number: int
) -> tuple[dict[str, str], dict[str, Any]] | RowError:
    """The row by column name (``raw``) and with empty fields as None and the 一連番号 as an
    int (``values``), or the error of a row of the wrong length or without a 一連番号."""
    if len(fields) != len(columns):
        return RowError(row_number, f"expected {len(columns)} columns, found {len(fields)}", None)
    raw = dict(zip(columns, fields, strict=True))
    values: dict[str, Any] = {k: (v if v != "" else None) for k, v in raw.items()}
    if not raw["sequence_number"].isascii() or not raw["sequence_number"].isdigit():
        return RowError(row_number, "sequence_number: not a number", "sequence_number")
    values["sequence_number"] = int(raw["sequence_number"])
    return raw, values


def _dates(
    raw: dict[str, str], values: dict[str, Any], columns: Sequence[str], row_number: int
) -> RowError | None:
    """The date columns parsed into ``values``; every row has its 更新年月日."""
    for column in columns:
        parsed = _date(raw[column], column, row_number)
        if isinstance(parsed, RowError):
            return parsed
        values[column] = parsed
    if values["update_date"] is None:
        return RowError(row_number, "update_date: missing 更新年月日", "update_date")
    return None


def parse_nta_row(fields: Sequence[str], row_number: int) -> ParsedRow | RowError:
    """One row of a 法人番号 CSV file, checked against the published layout."""
    common = _common_fields(fields, NTA_COLUMNS, row_number)
    if isinstance(common, RowError):
        return common
    raw, values = common
    if not _valid_number(raw["corporate_number"]):
        return RowError(
            row_number,
            f"corporate_number: {raw['corporate_number']!r} is not a valid 法人番号",
            "corporate_number",
        )
    if raw["process"] not in NTA_PROCESSES:
        return RowError(row_number, f"process: unknown 処理区分 {raw['process']!r}", "process")
    deleted = raw["process"] == "99"
    if (error := _dates(raw, values, NTA_DATES, row_number)) is not None:
        return error
    for column in NTA_FLAGS:
        flag = _flag(raw[column], column, row_number, allow_empty=deleted or column == "hihyoji")
        if isinstance(flag, RowError):
            return flag
        values[column] = flag
    if not deleted and raw["name"] == "":
        return RowError(row_number, "name: missing 商号又は名称", "name")
    successor = raw["successor_corporate_number"]
    if successor and not _valid_number(successor):
        return RowError(
            row_number,
            f"successor_corporate_number: {successor!r} is not a valid 法人番号",
            "successor_corporate_number",
        )
    digest = _digest(fields, NTA_COLUMNS.index("latest"))
    return ParsedRow(row_number, raw["corporate_number"], values, tuple(fields), digest)


INVOICE_DATES = ("registration_date", "update_date", "disposal_date", "expire_date")
INVOICE_FLAGS = ("correct", "latest")


def invoice_status(process: str, disposal: dt.date | None, expire: dt.date | None) -> str:
    """registered, expired (失効), revoked (取消) or deleted (99), from the row's dates."""
    if process == "99":
        return "deleted"
    if disposal is not None:
        return "revoked"
    if expire is not None:
        return "expired"
    return "registered"


def parse_invoice_row(fields: Sequence[str], row_number: int) -> ParsedRow | RowError:
    """One row of the インボイス 法人 CSV file (24 columns). Rows of 個人 are refused: the hub
    keeps no sole proprietor's published name or address."""
    common = _common_fields(fields, INVOICE_COLUMNS, row_number)
    if isinstance(common, RowError):
        return common
    raw, values = common
    number = raw["registration_number"]
    if not (number.startswith("T") and _valid_number(number[1:])):
        return RowError(
            row_number,
            f"registration_number: {number!r} is not T followed by a valid 13-digit number",
            "registration_number",
        )
    if raw["process"] not in INVOICE_PROCESSES:
        return RowError(
            row_number, f"process: unknown 事業者処理区分 {raw['process']!r}", "process"
        )
    deleted = raw["process"] == "99"
    if raw["kind"] == "1":
        return RowError(
            row_number, "kind: a 個人 row (personal data) is not imported", "kind", personal=True
        )
    if not deleted and raw["kind"] not in INVOICE_KINDS:
        return RowError(row_number, f"kind: unknown 人格区分 {raw['kind']!r}", "kind")
    if (error := _dates(raw, values, INVOICE_DATES, row_number)) is not None:
        return error
    for column in INVOICE_FLAGS:
        flag = _flag(raw[column], column, row_number, allow_empty=deleted)
        if isinstance(flag, RowError):
            return flag
        values[column] = flag
    if not deleted and raw["name"] == "":
        return RowError(row_number, "name: missing 氏名又は名称", "name")
    values["corporate_number"] = number[1:] if raw["kind"] == "2" else None
    values["status"] = invoice_status(
        raw["process"], values["disposal_date"], values["expire_date"]
    )
    digest = _digest(fields, INVOICE_COLUMNS.index("latest"))
    return ParsedRow(row_number, number, values, tuple(fields), digest)
