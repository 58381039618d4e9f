"""What an import job's row keeps of its options (``import_jobs.options``): the reader's
encoding and sheet, the customer kind, the one-event summary, the mapping, and keep_file only
when set (system, file name and dry_run are columns of their own)."""

from __future__ import annotations

from mdm_hub.imports.service import ImportOptions


def test_options_json() -> None:
    options = ImportOptions(
        system="crm",
        filename="顧客.csv",
        encoding="cp932",
        sheet="顧客",
        kind="corporation",
        dry_run=True,
        summary_event=True,
        keep_file=True,
    )
    assert options.to_json() == {
        "summary_event": True,
        "encoding": "cp932",
        "sheet": "顧客",
        "kind": "corporation",
        "mapping": None,
        "keep_file": True,
    }
    assert ImportOptions(system="crm", filename="a.csv").to_json() == {
        "summary_event": False,
        "encoding": None,
        "sheet": None,
        "kind": None,
        "mapping": None,
    }
