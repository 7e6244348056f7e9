"""config/leads.yaml: the segment bands, the per-client rate limit and the spam settings."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.origins import CorsSettings
from shared.validation import validate_yaml_document


class Band(BaseModel):
    """A segment: values from `min` (inclusive) up to the next band's `min`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=50)
    min: Decimal = Field(ge=0)


def _check_bands(bands: list[Band]) -> list[Band]:
    if not bands:
        raise ValueError("at least one band is required")
    if bands[0].min != 0:
        raise ValueError("the first band must start at min 0")
    for before, after in pairwise(bands):
        if after.min <= before.min:
            raise ValueError(f"band {after.name!r} must start above {before.name!r} (mins ascending)")
    names = [b.name for b in bands]
    if len(set(names)) != len(names):
        raise ValueError("band names must be unique")
    return bands


class RateLimitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    window_seconds: int = Field(default=60, ge=1, le=86_400)
    max_requests: int = Field(default=30, ge=1, le=1_000_000)


class SpamSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_fill_seconds: float = Field(default=3.0, ge=0, le=3600)
    blocked_domains: list[str] = Field(default_factory=list)

    @field_validator("blocked_domains")
    @classmethod
    def _lower_domains(cls, value: list[str]) -> list[str]:
        return sorted({d.strip().lower().lstrip("@") for d in value if d.strip()})


class LeadsConfig(BaseModel):
    """config/leads.yaml: bands, the per-client rate limit and the spam settings."""

    model_config = ConfigDict(extra="forbid")

    employee_bands: list[Band]
    revenue_bands: list[Band]
    rate_limit: RateLimitSettings = Field(default_factory=RateLimitSettings)
    spam: SpamSettings = Field(default_factory=SpamSettings)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=6 * 1024 * 1024)
    # Origins whose pages may post from a browser, and where a form's return_url may go (shared.origins).
    cors: CorsSettings = Field(default_factory=CorsSettings)

    @field_validator("employee_bands", "revenue_bands")
    @classmethod
    def _bands_ascending(cls, bands: list[Band]) -> list[Band]:
        return _check_bands(bands)

    def employee_band(self, employees: int | None) -> str | None:
        return band_for(employees, self.employee_bands)

    def revenue_band(self, revenue: Decimal | None) -> str | None:
        return band_for(revenue, self.revenue_bands)


def band_for(value: int | Decimal | None, bands: list[Band]) -> str | None:
    """The name of the band `value` falls in (the last band whose min it reaches)."""
    if value is None:
        return None
    found = None
    for band in bands:
        if value >= band.min:
            found = band.name
    return found


def load_leads_config(text: str | bytes) -> LeadsConfig:
    return validate_yaml_document(text, LeadsConfig, document="leads.yaml")


DEFAULT_LEADS_CONFIG_PATH = Path(__file__).resolve().parents[2] / "config" / "leads.yaml"


@lru_cache(maxsize=1)
def default_leads_config() -> LeadsConfig:
    """The example configuration the repository ships (config/leads.yaml)."""
    return load_leads_config(DEFAULT_LEADS_CONFIG_PATH.read_text(encoding="utf-8"))
