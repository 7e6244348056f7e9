"""shared.money: amounts as people read them, every digit kept."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from shared.money import display_money


def test_thousands_separators_and_at_least_two_places() -> None:
    assert display_money("1200000") == "1,200,000.00"
    assert display_money(Decimal("-1410000.5")) == "-1,410,000.50"
    assert display_money("0.125") == "0.125"  # no digit dropped
    assert display_money("-0") == "0.00"
    assert display_money("n/a") == "n/a"  # not a number: as it is


@given(st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-(10**12), max_value=10**12))
def test_removing_the_separators_gives_back_the_same_amount(value: Decimal) -> None:
    assert Decimal(display_money(value).replace(",", "")) == value
