"""What the table modules' pynamodb models share: the key shape, exact money, and stored times.

Every hub table but idempotency keys items by ``pk`` / ``sk``; the single-table ones add the
general index ``gsi1`` and the ``entity`` discriminator (in each table's module). Table names are
read from settings when a model class is defined (pynamodb fixes them there), so tests and the
local hub set the environment before importing a store module.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pynamodb.attributes import Attribute, UnicodeAttribute
from pynamodb.constants import NUMBER
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from shared.store.errors import StoreError, Throttled, translated


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


BACKOFF_BASE_SECONDS = 0.02
BACKOFF_CAP_SECONDS = 1.0
UNPROCESSED_TRIES = 12  # when no clock bounds the retries
TIME_RESERVE_MS = 5_000  # kept for writing the batch in hand and the checkpoint
BATCH_GET_KEYS = 100  # DynamoDB's limit per BatchGetItem


@dataclass(frozen=True)
class BoundedRetry:
    """Retries of what DynamoDB left unprocessed: exponential backoff with full jitter, for as long as the
    invocation's remaining time (``remaining_ms``, its ``get_remaining_time_in_millis``) allows, else a
    fixed number of tries; then ``Throttled``."""

    remaining_ms: Callable[[], int] | None = None
    sleep: Callable[[float], None] = time.sleep
    jitter: Callable[[float, float], float] = random.uniform

    def back_off(self, attempt: int, what: str) -> None:
        delay = self.jitter(0.0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt))
        if self.remaining_ms is None:
            if attempt + 1 >= UNPROCESSED_TRIES:
                raise Throttled(f"{what} after {attempt + 1} tries")
        elif self.remaining_ms() - delay * 1000 < TIME_RESERVE_MS:
            raise Throttled(f"{what} after {attempt + 1} tries; no time left in this invocation to retry")
        self.sleep(delay)


def batch_get_raw(table: str, keys: list[tuple[str, str]], retry: BoundedRetry) -> Iterator[dict[str, Any]]:
    """Consistent BatchGetItem of ``pk`` / ``sk`` keys (each once, 100 a call), the items as DynamoDB JSON,
    unprocessed keys retried by ``retry``."""
    # Low-level client: pynamodb's batch_get retries UnprocessedKeys at once and without end.
    from shared.aws import client

    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), BATCH_GET_KEYS):
        request: dict[str, Any] = {
            table: {
                "Keys": [
                    {"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in unique[start : start + BATCH_GET_KEYS]
                ],
                "ConsistentRead": True,
            }
        }
        attempt = 0
        while request:
            with translated():
                answer = client("dynamodb").batch_get_item(RequestItems=request)
            yield from answer.get("Responses", {}).get(table, [])
            request = answer.get("UnprocessedKeys") or {}
            if request:
                retry.back_off(attempt, f"BatchGetItem left {len(request[table]['Keys'])} keys unprocessed")
                attempt += 1


MAX_ITEM_BYTES = 400 * 1024  # DynamoDB's limit on one item, names and values together


def item_bytes(serialized: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it (attribute names plus values; numbers as about one byte per two
    digits), from pynamodb's ``serialize()`` form (``{"name": {"S": "..."}}``)."""
    return sum(len(name.encode()) + _value_bytes(value) for name, value in serialized.items())


def _value_bytes(value: dict[str, Any]) -> int:
    (kind, data), *_ = value.items()
    if kind == "S":
        return len(str(data).encode())
    if kind == "N":
        return len(str(data).lstrip("-").replace(".", "")) // 2 + 1
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(_value_bytes({kind[0]: member}) for member in data)
    if kind == "L":
        return 3 + sum(1 + _value_bytes(member) for member in data)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + _value_bytes(member) for name, member in data.items())
    raise ValueError(f"not a DynamoDB attribute value: {kind}")


def refuse_oversized(serialized: dict[str, Any]) -> None:
    """The in-memory stores' twin of DynamoDB refusing an item over 400 KB: a plain ``StoreError``."""
    size = item_bytes(serialized)
    if size > MAX_ITEM_BYTES:
        raise StoreError(f"item size has exceeded the maximum allowed size ({size:,} bytes over 400 KB)")
