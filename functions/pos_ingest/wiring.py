"""The POS function's collaborators on AWS: profiles from the config store, accounts from the CRM
table, the object store, the channel-manager email, and continuation through the queue."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from pos_ingest.customers import AccountMatcher, AccountRef
from pos_ingest.profile import DistributorProfile, default_profile
from pos_ingest.service import Collaborators, EmailNotifier, ObjectRef, S3Objects
from pos_ingest.storage import DynamoPosStore

ACCOUNTS_TTL_SECONDS = 300
_accounts_cache: dict[str, Any] = {"at": 0.0, "matcher": None}


def load_profile(distributor: str, kind: str) -> DistributorProfile:
    """The distributor's profile in force (inventory files: ``<id>-inventory.yaml`` first); where there
    is none, or none that validates, everything is detected."""
    from shared.config_store import ConfigError, load_config
    from shared.observability import logger

    names = [f"distributors/{distributor}-inventory.yaml"] if kind == "inventory" else []
    names.append(f"distributors/{distributor}.yaml")
    for name in names:
        try:
            profile = load_config(name, DistributorProfile)
        except ConfigError as error:
            if "not found" not in str(error):
                logger.warning("distributor profile refused", extra={"doc": name, "error": str(error)})
            continue
        if profile.kind == kind:
            return profile
    return default_profile(distributor, kind)  # type: ignore[arg-type]


def load_accounts() -> AccountMatcher:
    """Accounts (name and aliases) from the CRM table's ``ACCOUNTS`` index, cached for a few minutes."""
    if (
        _accounts_cache["matcher"] is not None
        and time.monotonic() - _accounts_cache["at"] < ACCOUNTS_TTL_SECONDS
    ):
        return _accounts_cache["matcher"]  # type: ignore[no-any-return]
    matcher = AccountMatcher(list(account_refs()))
    _accounts_cache.update(at=time.monotonic(), matcher=matcher)
    return matcher


def account_refs() -> Any:
    from boto3.dynamodb.types import TypeDeserializer

    from shared.aws import client
    from shared.settings import get_settings

    deserialise = TypeDeserializer().deserialize
    kwargs: dict[str, Any] = {
        "TableName": get_settings().crm_table,
        "IndexName": "gsi1",
        "KeyConditionExpression": "gsi1pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": "ACCOUNTS"}},
    }
    while True:
        answer = client("dynamodb").query(**kwargs)
        for raw in answer.get("Items", []):
            item = {k: deserialise(v) for k, v in raw.items()}
            if item.get("account_id") and item.get("name"):
                yield AccountRef(item["account_id"], item["name"], tuple(item.get("aliases") or ()))
        if "LastEvaluatedKey" not in answer:
            return
        kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def forget_accounts() -> None:
    _accounts_cache.update(at=0.0, matcher=None)


def continue_later(ref: ObjectRef, slice_number: int) -> None:
    """A continuation message: a fresh invocation picks the file up where this one stopped."""
    from shared.aws import client
    from shared.settings import get_settings

    body = {
        "bucket": ref.bucket,
        "key": ref.key,
        "version": ref.version,
        "etag": ref.etag,
        "slice": slice_number,
    }
    client("sqs").send_message(
        QueueUrl=get_settings().pos_continuation_queue_url, MessageBody=json.dumps(body)
    )


@lru_cache(maxsize=1)
def store() -> DynamoPosStore:
    from shared.settings import get_settings

    settings = get_settings()
    return DynamoPosStore(settings.pos_table, settings.plan_table)


def collaborators() -> Collaborators:
    return Collaborators(
        store=store(),
        objects=S3Objects(),
        notifier=EmailNotifier(),
        load_profile=load_profile,
        load_accounts=load_accounts,
        continue_later=continue_later,
    )


def time_budget(remaining_ms: Callable[[], int]) -> Callable[[int], bool]:
    """Stop after a batch once less than a quarter of the starting time (at most 2 minutes) is left:
    enough to write the batch in hand, the rejects part and the checkpoint."""
    margin = max(5_000, min(120_000, remaining_ms() // 4))
    return lambda _rows: remaining_ms() < margin
