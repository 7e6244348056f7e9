"""The POS function's collaborators on AWS: profiles from the config store, accounts from the CRM
table, the POS store, the object store, and continuation through the queue."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from pos_ingest.profile import DistributorProfile, default_profile
from pos_ingest.service import Collaborators, ObjectRef, S3Objects
from shared.accounts import AccountMatcher, forget_accounts, load_account_matcher
from shared.store.pos import DynamoPosStore

__all__ = [
    "collaborators",
    "forget_accounts",
    "from_failure_queue",
    "keep_dead_letter",
    "store",
    "time_budget",
]


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


def from_failure_queue(record: dict[str, Any]) -> bool:
    """Whether an SQS record comes from the queue of Lambda's on-failure records (not a continuation)."""
    from shared.settings import get_settings

    name = get_settings().pos_failure_queue_name
    return bool(name) and str(record.get("eventSourceARN", "")).endswith(f":{name}")


def keep_dead_letter(body: str) -> None:
    """Keep an on-failure record, once its run is failed, in the dead-letter queue (its alarm)."""
    from shared.aws import client
    from shared.settings import get_settings

    client("sqs").send_message(QueueUrl=get_settings().pos_dead_letter_queue_url, MessageBody=body)


@lru_cache(maxsize=1)
def store() -> DynamoPosStore:
    return DynamoPosStore()


def fresh_account_matcher() -> AccountMatcher:
    return load_account_matcher(max_age=0.0)


def collaborators(remaining_ms: Callable[[], int] | None = None) -> Collaborators:
    """What one invocation needs; ``remaining_ms`` (the invocation's clock) bounds storage retries."""
    return Collaborators(
        store=store().bounded_by(remaining_ms) if remaining_ms is not None else store(),
        objects=S3Objects(),
        load_profile=load_profile,
        # read again for each file: an account created a minute before its distributor's file must match
        # (a cached matcher counted its sell-through as an unmatched customer until the file was restated);
        # one query of the CRM's accounts per file read, against the file's own reading
        load_accounts=fresh_account_matcher,
        continue_later=continue_later,
    )


MIN_ROWS_PER_SLICE = 20_000  # well under a second of reading: a slice always gets somewhere
# A slice holds its accepted lines in memory until it stages them (about 250 MiB a million lines), so a
# slice ends here whatever time is left: the function's memory (1,024 MB) bounds it, not the file's size.
MAX_ROWS_PER_SLICE = 1_500_000


def time_budget(remaining_ms: Callable[[], int], max_rows: int = MAX_ROWS_PER_SLICE) -> Callable[[int], bool]:
    """Stop after a batch once less than a quarter of the starting time (at most 2 minutes) is left:
    enough to write the batch in hand, the rejects part and the checkpoint; or once the slice has read
    ``max_rows`` rows; never before it has read ``MIN_ROWS_PER_SLICE`` rows (a small file is read, and
    committed, in one go)."""
    margin = max(5_000, min(120_000, remaining_ms() // 4))
    return lambda rows: rows >= MIN_ROWS_PER_SLICE and (rows >= max_rows or remaining_ms() < margin)
