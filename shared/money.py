"""Money as a person reads it in a page or an email (the CSV, the workbook and the APIs keep plain numbers)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation


def display_money(text: str | Decimal | int) -> str:
    """Thousands separators and at least two places, every digit kept.

    Formatted from the Decimal (never a float): ``1200000`` is ``1,200,000.00``, ``0.125`` stays
    ``0.125``. Text that is not a number is given back as it is."""
    try:
        value = Decimal(text) if not isinstance(text, Decimal) else text
    except (InvalidOperation, ValueError):
        return str(text)
    if not value.is_finite():
        return str(text)
    if not value:
        value = abs(value)  # no "-0.00"
    exponent = value.as_tuple().exponent
    places = max(2, -exponent) if isinstance(exponent, int) else 2
    return f"{value:,.{places}f}"
