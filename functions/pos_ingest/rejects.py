"""The rejects file: each refused row as it came, plus its row number and reason, safe to open in a
spreadsheet."""

from __future__ import annotations

import csv
import re
from typing import IO

from pos_ingest.validate import Reject

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(?:\d[\d,.' ]*)?\d(?:[eE][+-]?\d+)?$|^[+-]?\d*[.,]\d+$")


def neutralise(cell: str) -> str:
    """Prefix a quote to a cell a spreadsheet would run as a formula (= + - @ tab CR at the start).
    A signed plain number such as -5, +3.25 or -1.234,56 is data, not a formula, and is kept as is."""
    if cell.startswith(_FORMULA_START):
        if cell[0] in "+-" and _PLAIN_NUMBER.match(cell):
            return cell
        return "'" + cell
    return cell


class RejectsWriter:
    """Writes ``header + [row, reason]`` then one line per reject, to a text stream."""

    def __init__(self, out: IO[str], header: list[str], *, write_header: bool = True) -> None:
        self._writer = csv.writer(out, lineterminator="\r\n")
        self.count = 0
        if write_header:
            self._writer.writerow([*map(neutralise, header), "reject_row", "reject_reason"])

    def write(self, rejects: list[Reject]) -> None:
        for reject in rejects:
            self._writer.writerow(
                [*map(neutralise, reject.cells), str(reject.row), neutralise(reject.reason)]
            )
        self.count += len(rejects)
