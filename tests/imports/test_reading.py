"""Reading and mapping real files (no database)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mdm_hub.imports.mapping import (
    MappingFileError,
    column_of,
    map_header,
    map_row,
    parse_mapping,
)
from mdm_hub.imports.reader import FileProblem, detect_encoding, file_format, read_rows
from tests.imports.files import HEADER, rows, text_file, xlsx_file


def _all(path: Path, **kwargs: str) -> list[list[str]]:
    fmt = file_format(path, **kwargs)  # type: ignore[arg-type]
    return [r.values for r in read_rows(path, fmt)]


def test_cp932_heavy_in_half_width_kana_is_detected_and_survives(tmp_path: Path) -> None:
    data = [
        [f"K{i}", "法人", "ｱｲｳｴｵｶｷｸｹｺｻｼｽｾｿﾀﾁﾂﾃﾄ", "ﾊﾝｶｸｶﾅ ﾊﾞｶﾘ", "", "", "", "", "", "", "", "ｿ"]
        for i in range(300)
    ]
    data[0][2] = "㈱髙島屋①Ⅲ能ソ表"
    path = text_file(tmp_path / "hankaku.csv", "cp932", data)
    assert detect_encoding(path.read_bytes()) == "cp932"
    read = _all(path)
    assert read[0] == HEADER
    assert read[1][2] == "㈱髙島屋①Ⅲ能ソ表"
    assert all(len(r) == len(HEADER) for r in read)
    assert read[2][3] == "ﾊﾝｶｸｶﾅ ﾊﾞｶﾘ"


def test_0x5c_second_bytes_do_not_break_quoting(tmp_path: Path) -> None:
    """能 is 0x94 0x5C in CP932: decoded first, a quoted field ending in 能 stays one field."""
    data = rows(8)
    data[0][11] = '表示"能"'
    data[1][11] = "能"
    path = text_file(tmp_path / "a.csv", "cp932", data)
    read = _all(path)
    assert read[1][11] == '表示"能"' and read[2][11] == "能"
    assert "能" in path.read_bytes().decode("cp932")
    assert b"\x94\x5c" in path.read_bytes()


def test_utf8_bom_tsv_and_encoding_override(tmp_path: Path) -> None:
    path = text_file(tmp_path / "b.csv", "utf-8-sig", rows(4))
    assert file_format(path).encoding == "utf-8-sig"
    assert _all(path)[0][0] == "取引先コード"  # no BOM left in the first header
    tsv = text_file(tmp_path / "c.tsv", "utf-8", rows(4), delimiter="\t")
    assert file_format(tsv).kind == "tsv"
    assert _all(tsv)[1][2] == "㈱能登ソフト表計算0"
    cp = text_file(tmp_path / "d.txt", "cp932", rows(4))
    assert _all(cp, encoding="shift_jis")[1][2] == "㈱能登ソフト表計算0"  # read as cp932
    with pytest.raises(FileProblem) as wrong:
        list(read_rows(cp, file_format(cp, encoding="utf-8")))
    assert wrong.value.code == "undecodable"


def test_xlsx_first_sheet_or_named_sheet(tmp_path: Path) -> None:
    path = xlsx_file(tmp_path / "e.xlsx", rows(6))
    assert _all(path)[0] == ["この表は顧客一覧です"]
    read = _all(path, sheet="顧客一覧")
    assert read[0] == HEADER
    assert read[1][2] == "㈱能登ソフト表計算0" and read[1][9] == "1000"
    assert _all(path, sheet="2")[0] == HEADER
    with pytest.raises(FileProblem) as missing:
        _all(path, sheet="ない")
    assert missing.value.code == "unknown_sheet"


def test_headers_map_to_fields_and_unknown_columns_are_reported() -> None:
    header = map_header(
        [
            "顧客名",
            "ﾌﾘｶﾞﾅ",
            "郵便番号",
            "都道府県",
            "市区町村",
            "番地",
            "建物名",
            "代表電話",
            "FAX",
            "E-mail",
            "法人番号",
            "インボイス登録番号",
            "担当者名",
            "部署",
            "役職",
            "最終取引日",
            "業種",
            "社内メモ",
            "営業地域",
        ],
        custom_fields={"sales_area": "営業地域"},
    )
    fields = {c.header: c.target for c in header.columns}
    assert fields["ﾌﾘｶﾞﾅ"] == "name_kana"
    assert fields["FAX"] == "fax" and fields["代表電話"] == "phone"
    assert fields["営業地域"] == "custom:sales_area"
    assert header.unknown == ["社内メモ"]
    mapped = map_row(
        2,
        [
            "山田商事",
            "ﾔﾏﾀﾞ",
            "1000005",
            "東京都",
            "千代田区",
            "丸の内1-2-3",
            "ビル",
            "03-1111-2222",
            "03-1111-3333",
            "a@b.jp",
            "7000012050002",
            "T7000012050002",
            "山田",
            "経理部",
            "課長",
            "令和5年1月1日",
            "卸売業",
            "x",
            "関東",
        ],
        header,
    )
    assert mapped.payload["phones"] == [
        {"number": "03-1111-2222", "purpose": "main"},
        {"number": "03-1111-3333", "purpose": "fax"},
    ]
    assert mapped.payload["contacts"] == [{"name": "山田", "department": "経理部", "title": "課長"}]
    assert mapped.payload["custom_fields"] == {"sales_area": "関東"}
    assert mapped.payload["kind"] == "corporation"
    assert mapped.source_id is not None and mapped.source_id.startswith("row-")
    again = map_row(9, mapped_values := ["山田商事"] + [""] * 18, header)
    assert again.source_id == map_row(30, mapped_values, header).source_id  # stable


def test_kind_column_kind_option_and_mapping_file() -> None:
    mapping = parse_mapping(
        "columns:\n  得意先名称: name\n  メモ: ignore\n  区分: kind\nkind_values:\n  P: person\n"
    )
    header = map_header(["得意先名称", "区分", "メモ"], mapping=mapping)
    assert header.unknown == []
    assert map_row(2, ["山田太郎", "P", ""], header).payload["kind"] == "person"
    assert map_row(3, ["山田商事", "個人", ""], header).payload["kind"] == "person"
    bad = map_row(4, ["山田商事", "謎", ""], header)
    assert [(p.column, p.code) for p in bad.problems] == [("区分", "unknown_kind")]
    forced = map_header(["得意先名称", "区分"], mapping=mapping, kind="corporation")
    assert map_row(2, ["山田太郎", "P"], forced).payload["kind"] == "corporation"
    json_mapping = parse_mapping('{"columns": {"社名": "name"}}')
    assert map_header(["社名"], mapping=json_mapping).columns[0].by == "mapping"
    with pytest.raises(MappingFileError):
        parse_mapping("columns:\n  a: no_such_field\n")


def test_problems_point_at_their_column() -> None:
    header = map_header(["会社名", "TEL", "電話番号", "取引金額"])
    mapped = map_row(2, ["x", "03", "04", "たくさん"], header)
    assert [(p.column, p.code) for p in mapped.problems] == [("取引金額", "invalid_amount")]
    assert column_of("/phones/1/number", mapped.pointers) == "電話番号"
    assert column_of("/phones/0", mapped.pointers) == "TEL"
