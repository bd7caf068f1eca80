"""Reading back what an export wrote: the CSV as dicts, the .xlsx as openpyxl cells."""

from __future__ import annotations

import csv
import io

from openpyxl import load_workbook


def csv_rows(data: bytes) -> list[dict[str, str]]:
    """Rows of a CSV export; it starts with a UTF-8 byte-order mark (for Excel)."""
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def xlsx_cells(data: bytes) -> list[list]:
    """The first worksheet's cells, row by row (each has .value and .data_type)."""
    workbook = load_workbook(io.BytesIO(data))
    return [list(row) for row in workbook.worksheets[0].iter_rows()]


def xlsx_rows(data: bytes) -> list[dict[str, object]]:
    cells = xlsx_cells(data)
    header = [c.value for c in cells[0]]
    return [dict(zip(header, (c.value for c in row), strict=True)) for row in cells[1:]]
