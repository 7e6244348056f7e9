"""Finding the header row, the columns and the number and date conventions of a file."""

from __future__ import annotations

import csv
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from pos_ingest.fields import normalise_header, synonyms_for
from shared.config_schemas.distributors import (
    DEFAULT_DATE_FORMATS,
    INVENTORY_FIELDS,
    INVENTORY_REQUIRED,
    SELL_THROUGH_FIELDS,
    SELL_THROUGH_REQUIRED,
    DistributorProfile,
)

DELIMITERS = (",", ";", "\t", "|")
HEADER_SEARCH_ROWS = 30
_COMMA_DECIMAL = re.compile(r"^\s*-?\d{1,3}(?:\.\d{3})*,\d+\s*$|^\s*-?\d+,\d+\s*$")
_DOT_DECIMAL = re.compile(r"^\s*-?\d{1,3}(?:,\d{3})*\.\d+\s*$|^\s*-?\d+\.\d+\s*$")
_SLASH_DATE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{2,4})")


class LayoutError(ValueError):
    """The file cannot be read at all: no header, or a column the profile names is not there."""


@dataclass
class Layout:
    """Everything needed to read the data rows of a file; kept in a checkpoint so a resume re-detects nothing."""

    file_format: str  # csv | xlsx
    kind: str  # sell_through | inventory
    encoding: str
    delimiter: str
    header_row: int  # 1-based record number of the header
    header: list[str]
    columns: dict[str, int]  # canonical field -> 0-based column index
    decimal_separator: str
    date_formats: tuple[str, ...]
    footer_lines: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def width(self) -> int:
        return len(self.header)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["date_formats"] = list(self.date_formats)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layout:
        values = dict(data)
        values["date_formats"] = tuple(values["date_formats"])
        return cls(**values)


def _fields(kind: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if kind == "inventory":
        return INVENTORY_FIELDS, INVENTORY_REQUIRED
    return SELL_THROUGH_FIELDS, SELL_THROUGH_REQUIRED


def map_header(row: list[str], profile: DistributorProfile) -> dict[str, int]:
    """Canonical field -> column index for a header row: profile columns first, then synonyms."""
    fields, _ = _fields(profile.kind)
    normalised = [normalise_header(cell) for cell in row]
    mapping: dict[str, int] = {}
    taken: set[int] = set()
    for name, ref in profile.columns.items():
        if isinstance(ref, int):
            if ref <= len(row):
                mapping[name] = ref - 1
            continue
        wanted = {normalise_header(r) for r in ([ref] if isinstance(ref, str) else ref)}
        for index, text in enumerate(normalised):
            if text in wanted and index not in taken:
                mapping[name] = index
                taken.add(index)
                break
    synonyms = synonyms_for(fields)
    # exact synonym matches, taking each field's best-priority synonym present
    for name in fields:
        if name in mapping:
            continue
        candidates = [
            (SYN_RANK[name].get(text, 999), index)
            for index, text in enumerate(normalised)
            if index not in taken and synonyms.get(text) == name
        ]
        if candidates:
            _, index = min(candidates)
            mapping[name] = index
            taken.add(index)
    return mapping


def _rank_table() -> dict[str, dict[str, int]]:
    """Per field, each synonym's priority (lower wins); the field's own name ranks first."""
    from pos_ingest.fields import SYNONYMS

    table: dict[str, dict[str, int]] = {}
    for name in SELL_THROUGH_FIELDS + INVENTORY_FIELDS:
        ranks = {synonym: rank for rank, synonym in enumerate(SYNONYMS.get(name, ()))}
        ranks[normalise_header(name)] = -1
        table[name] = ranks
    return table


SYN_RANK = _rank_table()


def missing_columns(mapping: dict[str, int], profile: DistributorProfile) -> list[str]:
    _, required = _fields(profile.kind)
    missing = [name for name in required if name not in mapping]
    if profile.kind == "sell_through" and "unit_price" not in mapping and "extended_amount" not in mapping:
        missing.append("unit_price or extended_amount")
    return missing


def find_header(rows: list[list[str]], profile: DistributorProfile) -> tuple[int, dict[str, int]] | None:
    """(0-based index of the header among ``rows``, mapping); title rows above it are passed over."""
    if profile.header_row is not None:
        index = profile.header_row - 1
        if index >= len(rows):
            return None
        return index, map_header(rows[index], profile)
    best: tuple[int, int, dict[str, int]] | None = None
    for index, row in enumerate(rows[:HEADER_SEARCH_ROWS]):
        mapping = map_header(row, profile)
        if missing_columns(mapping, profile):
            continue
        score = len(mapping)
        if best is None or score > best[0]:
            best = (score, index, mapping)
    if best is None:
        return None
    return best[1], best[2]


def choose_delimiter(lines: list[str], profile: DistributorProfile) -> tuple[str, list[list[str]]]:
    """The delimiter whose parse gives a usable header with most fields (ties: most consistent width)."""
    candidates = (profile.delimiter,) if profile.delimiter else DELIMITERS
    best: tuple[tuple[int, int], str, list[list[str]]] | None = None
    for delimiter in candidates:
        rows = list(csv.reader(lines, delimiter=delimiter))
        found = find_header(rows, profile)
        if found is None:
            widths = [len(r) for r in rows if any(c.strip() for c in r)]
            score = (0, max((widths.count(w) for w in set(widths) if w > 1), default=0))
        else:
            index, mapping = found
            width = len(rows[index])
            score = (len(mapping) * 1000, sum(1 for r in rows[index + 1 :] if len(r) == width))
        if best is None or score > best[0]:
            best = (score, delimiter, rows)
    assert best is not None
    return best[1], best[2]


def detect_decimal_separator(rows: list[list[str]], columns: list[int], delimiter: str) -> str:
    comma = dot = 0
    for row in rows:
        for index in columns:
            if index < len(row):
                cell = row[index]
                if _COMMA_DECIMAL.match(cell):
                    comma += 1
                elif _DOT_DECIMAL.match(cell):
                    dot += 1
    if comma != dot:
        return "," if comma > dot else "."
    return "," if delimiter == ";" else "."


def detect_date_formats(rows: list[list[str]], column: int | None, profile: DistributorProfile) -> tuple:
    """The profile's formats; without them, slash dates are month-first unless one reads only day-first.

    A date reads only day-first when its first part is a day past 12 and its second a month (``25/03``); one
    whose second part is past 12 (``03/25``) reads only month-first, and one that is neither (``13/45``, a
    typo) says nothing: it must not turn a month-first file's other dates into days (``11/02`` read as
    11 February instead of 2 November, counted in the wrong quarter). Both kinds in one sample: month-first.
    """
    if "date_formats" in profile.model_fields_set or column is None:
        return profile.date_formats
    day_first = month_first = False
    for row in rows:
        if column < len(row):
            match = _SLASH_DATE.match(row[column])
            if match:
                first, second = int(match.group(1)), int(match.group(2))
                day_first = day_first or (12 < first <= 31 and 1 <= second <= 12)
                month_first = month_first or (12 < second <= 31 and 1 <= first <= 12)
    if not day_first or month_first:
        return DEFAULT_DATE_FORMATS
    return tuple(f.replace("%m/%d/", "%d/%m/") for f in DEFAULT_DATE_FORMATS)


def build_layout(
    rows: list[list[str]],
    profile: DistributorProfile,
    *,
    file_format: str,
    encoding: str,
    delimiter: str,
) -> Layout:
    """Layout from the first rows of a file (title rows, header, some data)."""
    found = find_header(rows, profile)
    if found is None:
        sample = [r for r in rows[:5] if any(str(c).strip() for c in r)]
        raise LayoutError(
            "no header row found with the required columns "
            f"({', '.join(_fields(profile.kind)[1])} and a price or amount); first rows: {sample}"
        )
    index, mapping = found
    missing = missing_columns(mapping, profile)
    if missing:
        raise LayoutError(f"header row {index + 1} has no column for {', '.join(missing)}: {rows[index]}")
    data = rows[index + 1 :]
    numeric = [mapping[n] for n in ("quantity", "unit_price", "extended_amount", "on_hand") if n in mapping]
    decimal_separator: str
    if profile.decimal_separator:
        decimal_separator = profile.decimal_separator
    elif file_format == "xlsx":
        decimal_separator = "."
    else:
        decimal_separator = detect_decimal_separator(data, numeric, delimiter)
    date_column = mapping.get("invoice_date", mapping.get("as_of_date"))
    formats = detect_date_formats(data, date_column, profile)
    if file_format == "xlsx" and "%Y-%m-%d" not in formats:
        formats = ("%Y-%m-%d", *formats)
    return Layout(
        file_format=file_format,
        kind=profile.kind,
        encoding=encoding,
        delimiter=delimiter,
        header_row=index + 1,
        header=[str(c) for c in rows[index]],
        columns=mapping,
        decimal_separator=decimal_separator,
        date_formats=tuple(formats),
        footer_lines=profile.footer_lines,
    )
