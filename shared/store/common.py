"""What the stores of items written from events share (beside ``shared.store.items``): stored times
and money, and the order of events on an item.

- Times on entity items are fixed-width UTC text (``2026-11-22T10:00:00.000000Z``, ``format_time``,
  which is ``shared.store.items.utc_text``),
  so they compare as strings in time order; ``UtcTextAttribute`` keeps a datetime that way.
- Money is a DynamoDB number read back as an exact ``Decimal`` (``DecimalAttribute``; pynamodb's
  ``NumberAttribute`` reads numbers through JSON, as floats).
- An item written from an event carries that event's ``Version`` (``occurred_at``, ``event_id``):
  a write goes ahead only for a newer one, and says what it did as an ``Outcome``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from pynamodb.attributes import Attribute
from pynamodb.constants import MAP, NUMBER, STRING

from shared.store.items import DecimalAttribute
from shared.store.items import utc_text as format_time

__all__ = ["DecimalAttribute", "format_time"]


class Outcome(StrEnum):
    """What applying one event did to its item."""

    APPLIED = "applied"  # the item now reflects the event
    STALE = "stale"  # a newer event is already stored: nothing changed
    DUPLICATE = "duplicate"  # this very event is already stored: nothing changed
    MISSING = "missing"  # the item it amends does not exist (yet): nothing changed


def parse_time(value: str) -> datetime:
    """A stored time: ours, or any ISO 8601 text other writers (the demo loader) used."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


BEGINNING = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, order=True)
class Version:
    """The order of events on one item: ``occurred_at``, then ``event_id`` on a tie."""

    occurred_at: datetime
    event_id: str

    @property
    def stamp(self) -> str:
        return format_time(self.occurred_at)

    @classmethod
    def of(cls, occurred_at: str | None, event_id: str | None) -> Version:
        """The version stored on an item; one written by other means (the demo) is older than any event."""
        return cls(parse_time(occurred_at) if occurred_at else BEGINNING, event_id or "")


def outcome_against(stored: Version | None, version: Version) -> Outcome | None:
    """Why a write of ``version`` over ``stored`` must not go ahead, or None when it may."""
    if stored is None:
        return None
    if stored == version:
        return Outcome.DUPLICATE
    if stored > version:
        return Outcome.STALE
    return None


class UtcTextAttribute(Attribute[datetime]):
    """A datetime kept as fixed-width UTC text (``format_time``); reads any ISO 8601 text."""

    attr_type = STRING

    def serialize(self, value: datetime) -> str:
        return format_time(value)

    def deserialize(self, value: str) -> datetime:
        return parse_time(value)


class DateTextAttribute(Attribute[date]):
    """A date kept as ISO text (``YYYY-MM-DD``)."""

    attr_type = STRING

    def serialize(self, value: date) -> str:
        return value.isoformat()

    def deserialize(self, value: str) -> date:
        return date.fromisoformat(value[:10])


class DecimalMap(dict[str, Decimal]):
    """What ``DecimalMapAttribute`` reads: a dict (``as_dict`` as a raw map has it)."""

    def as_dict(self) -> dict[str, Decimal]:
        return dict(self)


class DecimalMapAttribute(Attribute[dict[str, Decimal]]):
    """A map of exact numbers under free keys (a quota per quarter): DynamoDB numbers, read as ``Decimal``."""

    attr_type = MAP

    def serialize(self, value: dict[str, Decimal | int]) -> dict[str, dict[str, str]]:
        return {key: {NUMBER: DecimalAttribute().serialize(number)} for key, number in value.items()}

    def deserialize(self, value: dict[str, dict[str, str]]) -> DecimalMap:
        return DecimalMap({key: Decimal(number[NUMBER]) for key, number in value.items()})


def plain(value: Any) -> Any:
    """A raw map's content as plain Python: whole numbers as int, other numbers as Decimal."""
    from pynamodb.attributes import MapAttribute

    if isinstance(value, MapAttribute):
        value = value.as_dict()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, float):
        value = Decimal(str(value))
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else value
    return value


def storable(value: Any) -> Any:
    """Plain Python made storable in a raw map: exact numbers as decimal text (a raw map cannot hold
    a ``Decimal``; a float would not be exact), times as ISO text, no empty values in maps."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float):
        return str(Decimal(str(value)))
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: storable(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [storable(v) for v in value]
    return value
