"""The one family of storage errors: what handlers map to answers.

- ``NotFound``: the item asked for does not exist.
- ``Conflict``: a condition did not hold (someone else wrote first, or the item exists already);
  the caller reads again and decides.
- ``Throttled``: the table or the network is busy or unavailable; the whole call may be retried
  later (HTTP 503 with ``Retry-After``, a failed batch item for a stream or a queue).
- ``StoreError`` itself: DynamoDB refused the request as sent (an item over 400 KB, another
  validation error): retrying the same call cannot succeed.

``translated()`` turns pynamodb's and botocore's exceptions into these, so no other module needs
to know them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class StoreError(Exception):
    """Storage failed; subclasses say how."""


class NotFound(StoreError):
    """The item does not exist."""


class Conflict(StoreError):
    """A condition did not hold: the item changed or exists already."""


class Throttled(StoreError):
    """The table is busy or unreachable: retry the whole operation later."""


_CONDITION_CODES = {"ConditionalCheckFailedException", "TransactionConflictException"}
# Refusals of the request as sent: retrying it unchanged cannot succeed.
_REFUSAL_CODES = {"ValidationException", "SerializationException", "ItemCollectionSizeLimitExceededException"}
_REFUSAL_REASONS = ("ValidationError", "ItemCollectionSizeLimitExceeded")


def _code(exc: BaseException) -> str:
    """The AWS error code inside a botocore or pynamodb exception, if any."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    cause = getattr(exc, "cause", None)
    if cause is not None and cause is not exc:
        return _code(cause)
    return ""


def classify(exc: BaseException) -> StoreError:
    """The ``StoreError`` for a pynamodb / botocore exception."""
    if isinstance(exc, StoreError):
        return exc
    code = _code(exc)
    if code in _CONDITION_CODES:
        return Conflict(str(exc))
    if code == "TransactionCanceledException":
        reasons = str(getattr(exc, "cancellation_reasons", "") or exc)
        if "ConditionalCheckFailed" in reasons or "TransactionConflict" in reasons:
            return Conflict(reasons)
        if any(reason in reasons for reason in _REFUSAL_REASONS):
            return StoreError(reasons)
    if type(exc).__name__ == "DoesNotExist":
        return NotFound(str(exc))
    if code in _REFUSAL_CODES:
        return StoreError(f"{type(exc).__name__}: {exc}")
    return Throttled(f"{type(exc).__name__}: {exc}")


@contextmanager
def translated() -> Iterator[None]:
    """Raise storage exceptions from the block as the ``StoreError`` family."""
    from botocore.exceptions import BotoCoreError, ClientError
    from pynamodb.exceptions import PynamoDBException

    try:
        yield
    except (PynamoDBException, ClientError, BotoCoreError) as exc:
        raise classify(exc) from exc
