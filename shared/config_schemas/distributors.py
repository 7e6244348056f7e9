"""The distributor profile: how one distributor's POS files are laid out (config/distributors/<id>.yaml).

The canonical fields are the POS contract (docs: "POS files: S3"); ``pos_ingest`` reads files with them.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SELL_THROUGH_FIELDS: Final = (
    "invoice_date",
    "invoice_number",
    "line",
    "part_number",
    "quantity",
    "unit_price",
    "extended_amount",
    "currency",
    "end_customer",
    "end_customer_country",
    "end_customer_state",
    "end_customer_postal_code",
)
SELL_THROUGH_REQUIRED: Final = ("invoice_date", "invoice_number", "part_number", "quantity", "end_customer")
INVENTORY_FIELDS: Final = ("as_of_date", "part_number", "on_hand", "on_order")
INVENTORY_REQUIRED: Final = ("part_number", "on_hand")

DEFAULT_DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%Y%m%d",
    "%Y/%m/%d",
    "%d-%b-%Y",
    "%m/%d/%y",
    "%d.%m.%y",
)

ColumnRef = Annotated[str, Field(min_length=1)] | Annotated[int, Field(ge=1)] | list[str]


@cache
def iso_currency_codes() -> frozenset[str]:
    import pycountry  # only when a currency is checked: pycountry's tables are large

    return frozenset(c.alpha_3 for c in pycountry.currencies)


def is_known_currency(code: str) -> bool:
    return code in iso_currency_codes()


class DistributorProfile(BaseModel):
    """How to read one distributor's files. Every layout field left out is detected from the file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
    name: str | None = None
    kind: Literal["sell_through", "inventory"] = "sell_through"
    # column per canonical field: a header text, several accepted header texts, or a 1-based position
    columns: dict[str, ColumnRef] = Field(default_factory=dict)
    delimiter: Literal[",", ";", "\t", "|"] | None = None
    encoding: Literal["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"] | None = None
    header_row: Annotated[int, Field(ge=1)] | None = None
    footer_lines: Annotated[int, Field(ge=0, le=100)] = 0
    date_formats: tuple[str, ...] = DEFAULT_DATE_FORMATS
    decimal_separator: Literal[".", ","] | None = None
    default_currency: str = "USD"
    amount_tolerance: Annotated[Decimal, Field(ge=0, le=100)] = Decimal("0.01")
    max_age_days: Annotated[int, Field(ge=1)] = 3 * 366
    future_tolerance_days: Annotated[int, Field(ge=0)] = 1
    sheet: str | None = None
    # A workbook is spooled to the function's temporary disk (512 MiB on Lambda by default); CSV streams.
    max_workbook_mb: Annotated[int, Field(ge=1, le=400)] = 256

    @field_validator("columns")
    @classmethod
    def _known_fields(cls, columns: dict[str, ColumnRef]) -> dict[str, ColumnRef]:
        known = set(SELL_THROUGH_FIELDS) | set(INVENTORY_FIELDS)
        unknown = sorted(set(columns) - known)
        if unknown:
            raise ValueError(f"unknown canonical field(s) {unknown}; known: {sorted(known)}")
        return columns

    @field_validator("date_formats")
    @classmethod
    def _formats_round_trip(cls, formats: tuple[str, ...]) -> tuple[str, ...]:
        if not formats:
            raise ValueError("at least one date format is needed")
        sample = date(2026, 3, 4)
        for fmt in formats:
            try:
                text = sample.strftime(fmt)
                parsed = datetime.strptime(text, fmt).date()
            except ValueError as error:
                raise ValueError(f"date format {fmt!r} does not parse: {error}") from error
            if parsed != sample:
                raise ValueError(f"date format {fmt!r} needs day, month and year")
        return formats

    @field_validator("default_currency")
    @classmethod
    def _iso_currency(cls, code: str) -> str:
        code = code.strip().upper()
        if not is_known_currency(code):
            raise ValueError(f"{code!r} is not an ISO 4217 currency code")
        return code

    @model_validator(mode="after")
    def _columns_fit_kind(self) -> DistributorProfile:
        allowed = set(SELL_THROUGH_FIELDS if self.kind == "sell_through" else INVENTORY_FIELDS)
        wrong = sorted(set(self.columns) - allowed)
        if wrong:
            raise ValueError(f"field(s) {wrong} do not belong to a {self.kind} profile")
        return self
