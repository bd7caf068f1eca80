"""bot/exports.py: one CSV writer and one .xlsx writer for every export, owner-only files."""

from __future__ import annotations

import os
import stat

import pytest

from bot.exports import Sheet, attachments, csv_bytes, neutralised, write_private, xlsx_bytes
from tests.export_support import csv_rows, xlsx_cells

# OWASP "CSV Injection": a cell starting with any of these runs as a formula in Excel,
# LibreOffice or Google Sheets. Each is written with a leading apostrophe.
FORMULAS = [
    ("=1+1", "'=1+1"),
    ('=HYPERLINK("http://x.example","clic")', '\'=HYPERLINK("http://x.example","clic")'),
    ("+1", "'+1"),
    ("-2+3", "'-2+3"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", "'\t=1"),
    ("\r=1", "'\r=1"),
    # plain values stay as they are
    ("Hola, mundo", "Hola, mundo"),
    ("a=b", "a=b"),
    ("", ""),
    (None, ""),
    (-3, "-3"),  # a number is not text a spreadsheet would run
    (2.5, "2.5"),
    (True, "1"),
]


@pytest.mark.parametrize(("value", "written"), FORMULAS)
def test_formula_cells_are_neutralised(value, written):
    assert neutralised(value) == written


def test_csv_is_rfc4180_with_a_bom_and_round_trips():
    sheet = Sheet(("name", "text", "n"), [("ana", 'dijo "hola",\nluego', 3), ("=evil", "ok", -1)])
    data = csv_bytes(sheet)
    assert data.startswith(b"\xef\xbb\xbf") and b"\r\n" in data
    rows = csv_rows(data)
    assert rows[0] == {"name": "ana", "text": 'dijo "hola",\nluego', "n": "3"}
    assert rows[1] == {"name": "'=evil", "text": "ok", "n": "-1"}


def test_xlsx_keeps_text_as_text_and_numbers_as_numbers():
    sheet = Sheet(
        ("text", "n", "x", "empty", "flag"),
        [("=1+1", 3, 2.5, None, True), ("control\x01\x07 chars", -1, 0.0, "", False), ("a" * 40_000, 0, 1, "", True)],
        title="Tarea: 1/2 [a]",
    )
    cells = xlsx_cells(xlsx_bytes(sheet))
    assert [c.value for c in cells[0]] == ["text", "n", "x", "empty", "flag"]
    first = cells[1]
    assert first[0].value == "=1+1" and first[0].data_type == "s"  # never a formula
    assert (first[1].value, first[1].data_type, first[2].value) == (3, "n", 2.5)
    assert first[3].value is None and first[4].value == 1
    assert cells[2][0].value == "control chars"  # XML cannot hold them: dropped, the rest kept
    assert len(cells[3][0].value) == 32_767  # Excel's cell limit


def test_attachments_are_the_same_sheet_twice():
    csv_file, xlsx_file = attachments(Sheet(("a",), [("1",)]), "stem", "desc")
    assert (csv_file.filename, xlsx_file.filename) == ("stem.csv", "stem.xlsx")
    assert csv_file.description == xlsx_file.description == "desc"


def test_files_are_written_owner_only_whatever_the_umask_and_over_an_old_file(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("a much longer old content")
    path.chmod(0o666)
    old = os.umask(0)
    try:
        write_private(path, b"new")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_bytes() == b"new"
    fresh = write_private(tmp_path / "fresh.xlsx", b"x")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600
