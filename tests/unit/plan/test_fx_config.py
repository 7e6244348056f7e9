"""config/fx.yaml: validated rates per quarter; a missing rate is never guessed."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from shared.config_schemas.fx import FxConfig, load_fx_file, parse_fx
from shared.config_schemas.registry import model_for


def test_the_shipped_document_validates_and_converts_to_the_cent() -> None:
    fx = load_fx_file()
    assert fx.company_currency == "USD"
    assert fx.convert(Decimal("100.005"), "EUR", 2026, 3) == Decimal("118.01")
    assert fx.convert(Decimal("7"), "USD", 1999, 1) == Decimal("7")


def test_a_missing_rate_is_none_never_a_guess() -> None:
    fx = load_fx_file()
    assert fx.rate("JPY", 2026, 1) is None
    assert fx.convert(Decimal("1"), "EUR", 2031, 1) is None


@pytest.mark.parametrize(
    "text",
    [
        "company_currency: usd",
        "company_currency: USD\nrates: {2026-Q5: {EUR: 1}}",
        "company_currency: USD\nrates: {2026-Q1: {EUR: 0}}",
        "company_currency: USD\nrates: {2026-Q1: {EUR: -1.2}}",
        "company_currency: USD\nextra: 1",
    ],
)
def test_bad_documents_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_fx(text)


def test_the_config_validator_knows_the_document() -> None:
    assert model_for("fx.yaml") is FxConfig
