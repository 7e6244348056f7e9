"""AWS clients built lazily, once per process.

Clients are created on first use (never at import), so a handler module imports fast and a
client is never built before moto (in tests) or the local hub has set the endpoint.
boto3 itself honours ``AWS_ENDPOINT_URL``, which is how the local hub points every client at
the embedded AWS.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.client import BaseClient


@cache
def client(service: str) -> BaseClient:
    """A cached boto3 client for ``service`` in the function's region."""
    import boto3
    from botocore.config import Config

    from shared.settings import get_settings

    config = Config(
        retries={"max_attempts": 5, "mode": "standard"},
        connect_timeout=5,
        read_timeout=10,
        account_id_endpoint_mode="disabled",
    )
    return boto3.session.Session().client(service, region_name=get_settings().region, config=config)


def reset_clients() -> None:
    """Forget cached clients (tests that start a fresh moto)."""
    client.cache_clear()
