"""Trade-show lists: a CSV whose headers people wrote ("E-mail", "Company Name", ...), row by row.

Each row goes through the same validation as the public form (`leads_webhook.submission.parse_lead_fields`). Row numbers
count the header as row 1, as a spreadsheet shows them. The file's name is the campaign of every row that
names none.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from leads_webhook.submission import LeadParseResult, parse_lead_fields
from shared.validation import FieldError

# Canonical field -> the headers that mean it, compared without case, spaces or punctuation.
HEADER_SYNONYMS: dict[str, tuple[str, ...]] = {
    "email": ("email", "e-mail", "email address", "e-mail address", "mail", "work email", "business email"),
    "first_name": ("first name", "firstname", "first", "given name", "forename"),
    "last_name": ("last name", "lastname", "last", "surname", "family name"),
    "company": (
        "company",
        "company name",
        "organisation",
        "organization",
        "account",
        "account name",
        "employer",
    ),
    "title": ("title", "job title", "position", "role", "job role"),
    "phone": ("phone", "phone number", "telephone", "tel", "mobile", "work phone", "cell"),
    "country": ("country", "country/region", "country name", "nation"),
    "state": ("state", "province", "state/province", "region", "county"),
    "postal_code": ("postal code", "zip", "zip code", "zipcode", "postcode", "post code", "zip/postal code"),
    "employees": ("employees", "number of employees", "no. of employees", "employee count", "company size"),
    "annual_revenue": ("annual revenue", "revenue", "annual revenue (usd)", "revenue (usd)"),
    "industry": ("industry", "sector", "vertical"),
    "product_interest": ("product interest", "product", "products", "interest", "interested in"),
    "campaign": ("campaign", "event", "campaign name"),
    "utm_source": ("utm source", "utm_source", "source"),
    "utm_medium": ("utm medium", "utm_medium", "medium"),
    "utm_campaign": ("utm campaign", "utm_campaign"),
    "message": ("message", "notes", "note", "comments", "comment"),
    "marketing_opt_in": ("marketing opt in", "marketing opt-in", "opt in", "opt-in", "opted in", "consent"),
}
_NOT_ALNUM = re.compile(r"[^0-9a-z]+")


def header_key(header: str) -> str:
    return _NOT_ALNUM.sub("", header.strip().lstrip("\ufeff").lower())


_BY_KEY: dict[str, str] = {
    header_key(s): name for name, synonyms in HEADER_SYNONYMS.items() for s in synonyms
}


def canonical_field(header: str) -> str | None:
    """The form field a CSV header means, or None when we do not know it."""
    return _BY_KEY.get(header_key(header))


@dataclass(frozen=True)
class ImportRow:
    row_number: int
    result: LeadParseResult
    blank: bool = False
    email: str = ""  # the email cell as written (reported for rejected rows too)


@dataclass
class TradeShowFile:
    columns: dict[str, str] = field(default_factory=dict)  # header as written -> field
    ignored_columns: list[str] = field(default_factory=list)
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[FieldError] = field(default_factory=list)  # file-level: nothing could be imported


def decode_csv(data: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252, which spreadsheet exports often use."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _dialect(sample: str) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        return csv.excel


def parse_trade_show_csv(data: bytes, *, campaign: str) -> TradeShowFile:
    """Map the headers, then validate every row; a file without an email column is refused whole."""
    text = decode_csv(data)
    reader = csv.reader(io.StringIO(text, newline=""), _dialect(text[:4096]))
    parsed = TradeShowFile()
    try:
        headers = next(reader)
    except (StopIteration, csv.Error):
        parsed.errors.append(FieldError("file", "is empty"))
        return parsed
    positions: dict[int, str] = {}
    for index, header in enumerate(headers):
        name = canonical_field(header)
        if name is None or name in positions.values():
            if header.strip():
                parsed.ignored_columns.append(header)
            continue
        positions[index] = name
        parsed.columns[header] = name
    if "email" not in positions.values():
        parsed.errors.append(
            FieldError("file", "has no email column (e.g. 'Email', 'E-mail', 'Email Address')")
        )
        return parsed
    try:
        for row_number, cells in enumerate(reader, start=2):
            parsed.rows.append(_row(row_number, cells, positions, campaign))
    except csv.Error as exc:
        parsed.errors.append(FieldError("file", f"is not readable CSV past row {reader.line_num}: {exc}"))
    return parsed


def _row(row_number: int, cells: list[str], positions: dict[int, str], campaign: str) -> ImportRow:
    if not any(cell.strip() for cell in cells):
        return ImportRow(row_number, LeadParseResult(errors=[FieldError("row", "is blank")]), blank=True)
    fields: dict[str, str] = {name: cells[i] for i, name in positions.items() if i < len(cells)}
    if not (fields.get("campaign") or "").strip():
        fields["campaign"] = campaign
    return ImportRow(row_number, parse_lead_fields(fields), email=fields.get("email", "").strip()[:254])
