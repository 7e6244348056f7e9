"""ISO 4217 currency codes and the symbols distributors write instead of them."""

from __future__ import annotations

from shared.config_schemas.distributors import is_known_currency

SYMBOLS = {"$": "USD", "US$": "USD", "€": "EUR", "£": "GBP", "¥": "JPY", "CHF": "CHF", "C$": "CAD"}


def canonical_currency(raw: str, default: str) -> str | None:
    """'usd ', '$', '' (-> default) to an ISO code; None when it is not a currency we know."""
    text = raw.strip()
    if not text:
        return default
    code = SYMBOLS.get(text) or text.upper()
    return code if is_known_currency(code) else None
