"""Every export Aula offers, written one way: a CSV and the same table as an .xlsx workbook.

A `Sheet` is a header and rows of plain values (str, int, float, bool, None). Timestamps
are ISO 8601 with their UTC offset (`iso_moment`), so a file sorts by time in any program;
an export may add a human column beside it.

- CSV: UTF-8 with a byte-order mark (so Excel reads the accents), comma-separated, CRLF
  line ends (RFC 4180). A text cell that a spreadsheet would run as a formula (starting with
  = + - @, a tab or a carriage return: OWASP's "CSV injection" list) is written with a
  leading apostrophe, which spreadsheets show as text.
- XLSX (openpyxl): one worksheet, numbers as numbers, every text cell typed as a string, so
  "=HYPERLINK(…)" is shown as typed and never evaluated; a Spanish-locale spreadsheet opens it
  without the comma-versus-semicolon guess a CSV needs. Characters XML cannot hold are dropped,
  and a cell keeps at most 32,767 characters (Excel's limit).

`write_private` writes any file holding students' data owner-only (0600), like the database.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.replies import Attachment

if TYPE_CHECKING:
    from openpyxl.cell import WriteOnlyCell

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
XLSX_CELL_MAX = 32_767
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PRIVATE_MODE = 0o600


@dataclass(frozen=True)
class Sheet:
    """A table to export: column names and rows of plain values."""

    header: tuple[str, ...]
    rows: Sequence[Sequence[object]]
    title: str = "Aula"  # the worksheet's name in the .xlsx (at most 31 characters)


def neutralised(value: object) -> str:
    """A cell's CSV text, never a formula: '=1+1' -> "'=1+1"; None -> ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    text = str(value)
    if isinstance(value, str) and text.startswith(FORMULA_STARTS):
        return "'" + text
    return text


def csv_bytes(sheet: Sheet) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([neutralised(v) for v in sheet.header])
    for row in sheet.rows:
        writer.writerow([neutralised(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def xlsx_bytes(sheet: Sheet) -> bytes:
    # openpyxl (and the Pillow it brings) only when a workbook is written: `aula tokens` imports
    # this module for write_private alone (issue 16, imports a command does not use).
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(_sheet_title(sheet.title))

    def cells(values: Sequence[object]) -> list[WriteOnlyCell]:
        row = []
        for value in values:
            if value is None:
                row.append(WriteOnlyCell(worksheet, value=None))
            elif isinstance(value, bool):
                row.append(WriteOnlyCell(worksheet, value=int(value)))
            elif isinstance(value, int | float):
                row.append(WriteOnlyCell(worksheet, value=value))
            else:
                text = ILLEGAL_CHARACTERS_RE.sub("", str(value))[:XLSX_CELL_MAX]
                cell = WriteOnlyCell(worksheet, value=text)
                cell.data_type = "s"  # "=…" stays text: openpyxl would store it as a formula
                row.append(cell)
        return row

    worksheet.append(cells(sheet.header))
    for values in sheet.rows:
        worksheet.append(cells(values))
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _sheet_title(title: str) -> str:
    cleaned = "".join("_" if c in "[]:*?/\\" else c for c in title).strip("'") or "Aula"
    return cleaned[:31]


def attachments(sheet: Sheet, stem: str, description: str) -> tuple[Attachment, Attachment]:
    """The sheet as `<stem>.csv` and `<stem>.xlsx`."""
    return (
        Attachment(csv_bytes(sheet), f"{stem}.csv", description),
        Attachment(xlsx_bytes(sheet), f"{stem}.xlsx", description),
    )


def write_private(path: Path | str, data: bytes) -> Path:
    """Write `data` to `path`, owner-only (0600) whatever the umask and even if the file
    existed with wider rights; returns the path. Raises OSError as open() does."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    try:
        os.fchmod(fd, PRIVATE_MODE)
        with os.fdopen(fd, "wb") as file:
            fd = -1
            file.write(data)
    finally:
        if fd >= 0:
            os.close(fd)
    return path
