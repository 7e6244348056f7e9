"""What the table modules' pynamodb models share: the key shape, exact money, and stored times.

Every hub table but idempotency keys items by ``pk`` / ``sk``; the single-table ones add the
general index ``gsi1`` and the ``entity`` discriminator (in each table's module). Table names are
read from settings when a model class is defined (pynamodb fixes them there), so tests and the
local hub set the environment before importing a store module.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pynamodb.attributes import Attribute, UnicodeAttribute
from pynamodb.constants import NUMBER
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex


def utc_text(value: datetime) -> str:
    """A time as stored on items: UTC, fixed width, so stored times sort as strings."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_text() -> str:
    return utc_text(datetime.now(UTC))


class DecimalAttribute(Attribute[Decimal]):
    """A DynamoDB number read and written as an exact ``Decimal`` (pynamodb's NumberAttribute goes
    through float)."""

    attr_type = NUMBER

    def serialize(self, value: Any) -> str:
        return str(Decimal(value))

    def deserialize(self, value: str) -> Decimal:
        return Decimal(value)


class Gsi1(GlobalSecondaryIndex[Any]):
    """The general index every single-table design here has: ``gsi1pk`` / ``gsi1sk``."""

    class Meta:
        index_name = "gsi1"
        projection = AllProjection()

    gsi1pk = UnicodeAttribute(hash_key=True)
    gsi1sk = UnicodeAttribute(range_key=True)
