"""Exchange rates for the plan (``config/fx.yaml``): one rate per currency and quarter.

Plan figures are in the company's currency (``COMPANY_CURRENCY``, a setting). Orders and POS
amounts in another currency convert at the rate of the quarter they fall in. A rate is never
guessed: ``rate`` answers None where the document has none, and the caller keeps that amount
apart as unconverted. Validated by ``FxConfig`` when uploaded and when loaded.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

DEFAULT_FX_PATH = Path(__file__).resolve().parents[2] / "config" / "fx.yaml"
CENT = Decimal("0.01")
_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$")

CurrencyCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


class FxConfig(BaseModel):
    """The validated ``config/fx.yaml``: ``rates["2026-Q3"]["EUR"]`` = company currency per 1 EUR."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    company_currency: CurrencyCode = Field(description="the currency the rates convert into")
    rates: dict[str, dict[CurrencyCode, Annotated[Decimal, Field(gt=0, max_digits=18)]]] = Field(
        default_factory=dict
    )

    @field_validator("rates")
    @classmethod
    def _quarters(cls, rates: dict[str, dict[str, Decimal]]) -> dict[str, dict[str, Decimal]]:
        for period in rates:
            if not _QUARTER.match(period):
                raise ValueError(f"{period!r} is not a quarter like 2026-Q3")
        return rates

    def rate(self, currency: str, year: int, quarter: int) -> Decimal | None:
        """Company currency per unit of ``currency`` in that quarter; None when the document has none."""
        if currency == self.company_currency:
            return Decimal(1)
        return self.rates.get(f"{year:04d}-Q{quarter}", {}).get(currency)

    def convert(self, amount: Decimal, currency: str, year: int, quarter: int) -> Decimal | None:
        """``amount`` in the company currency, to the cent (half-even); None without a rate."""
        if currency == self.company_currency:
            return amount
        rate = self.rate(currency, year, quarter)
        if rate is None:
            return None
        return (amount * rate).quantize(CENT)


def parse_fx(text: str | bytes) -> FxConfig:
    import yaml  # here: the functions load the rates through shared.config_store, without PyYAML

    return FxConfig.model_validate(yaml.safe_load(text))


def load_fx_file(path: Path | str = DEFAULT_FX_PATH) -> FxConfig:
    """The rates shipped in the repository (tests, the CLI and the local hub's seed)."""
    return parse_fx(Path(path).read_bytes())
