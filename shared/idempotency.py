"""Exactly-once effects on top of at-least-once delivery (powertools idempotency).

``run_once(scope, key, fn)`` calls ``fn`` the first time a (scope, key) is seen and answers the
stored result after that; a call interrupted half way is retried once its in-progress record
expires with the Lambda's remaining time. The persistence layer is built on first use, so
importing a handler creates no client.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function

from shared.aws import client
from shared.settings import get_settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from aws_lambda_powertools.utilities.typing import LambdaContext

T = TypeVar("T")

config = IdempotencyConfig(expires_after_seconds=7 * 24 * 3600, raise_on_no_idempotency_key=True)


@lru_cache(maxsize=1)
def persistence_layer() -> DynamoDBPersistenceLayer:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(
        table_name=get_settings().idempotency_table, boto3_client=client("dynamodb")
    )


def register(context: LambdaContext | None) -> None:
    """Give idempotency the invocation's remaining time (call at the top of a handler)."""
    if context is not None:
        config.register_lambda_context(context)


def run_once(scope: str, key: str, fn: Callable[[], T]) -> T:
    """Call ``fn`` once per ``(scope, key)``; a repeat answers the first call's result."""

    @idempotent_function(
        data_keyword_argument="once_key", persistence_store=persistence_layer(), config=config
    )
    def _once(once_key: str) -> Any:
        return fn()

    return _once(once_key=f"{scope}#{key}")  # type: ignore[no-any-return]
