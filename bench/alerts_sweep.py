"""The alerts sweep over 10,000 open opportunities in the local hub's embedded AWS; AWS calls per alert.

Run: ``.venv/bin/python bench/alerts_sweep.py [--opportunities 10000] [--stale 200] [--no-next-step 50]``

What it does, on the template's tables in the same embedded AWS the local hub runs (moto's server
on 127.0.0.1, DynamoDB requests one at a time):
- loads the demo reps and accounts, then N open opportunities spread over the open stages and the
  demo reps; ``--stale`` of them untouched for longer than their stage allows, ``--no-next-step``
  without a next step, the rest active and with a dated next step;
- runs the alerts function's hourly sweep in-process (the handler, as the schedule invokes it),
  twice: the second run finds the same keys and sends nothing;
- prints items read by the sweep's index queries beside what a Scan of the CRM table reads, the
  time of each run, the AWS calls by operation, and AWS calls per alert sent for the sweep and for
  one stream record (a won deal: owner and manager).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from benchenv import prepare

ROOT = prepare()
CALLS: Counter[str] = Counter()


def count_calls() -> None:
    """Count every AWS API call (boto3's and pynamodb's both go through BaseClient._make_api_call)."""
    from botocore.client import BaseClient

    original = BaseClient._make_api_call

    def counted(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        CALLS[f"{self.meta.service_model.service_name}.{operation_name}"] += 1
        return original(self, operation_name, api_params)

    BaseClient._make_api_call = counted  # type: ignore[method-assign]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def fixed(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def opportunities(count: int, stale: int, no_next_step: int, now: datetime) -> list[Any]:
    """Open opportunities as the CRM store's writer stores them (its item model and sweep index)."""
    from shared.config_schemas.stages import load_stages_file
    from shared.store import crm

    stages = [s.name for s in load_stages_file().opportunity_stages if s.outcome == "open"]
    owners = ["rep-sam", "rep-ana", "rep-jonas", "rep-mei", "rep-maria", "rep-demo", "rep-queue"]
    rng = random.Random(7)
    items = []
    for i in range(count):
        is_stale, missing = i < stale, stale <= i < stale + no_next_step
        touched = now - (
            timedelta(days=60 + rng.random() * 30) if is_stale else timedelta(hours=rng.random() * 48)
        )
        oid, account = f"OPP-B{i:05d}", f"A-B{i % 500:03d}"
        item = crm.OpportunityItem(
            *crm.opportunity_key(oid), opportunity_id=oid, account_id=account, name=f"Bench deal {i}",
            owner=owners[i % len(owners)], stage=stages[i % len(stages)], amount=Decimal(1000 + i),
            probability=10 + (i % 8) * 10, close_date=(now + timedelta(days=30)).date(), last_activity_at=touched,
            stage_entered_at=fixed(touched - timedelta(days=1)), occurred_at=fixed(touched),
            last_event_id=f"bench-{i}", source="bench", outcome="open", version=1,
            gsi1pk=crm.account_children_index(account), gsi1sk=f"OPPORTUNITY#{oid}",
        )  # fmt: skip
        if not missing:
            item.next_step = "Follow up"
            item.next_step_date = (now + timedelta(days=1 + i % 10)).date()
        crm.sweep_index_opportunity(item)
        items.append(item)
    return items


def write_all(items: list[Any]) -> None:
    from shared.store import crm

    with crm.OpportunityItem.batch_write() as batch:
        for item in items:
            batch.save(item)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--opportunities", type=int, default=10_000)
    parser.add_argument("--stale", type=int, default=200)
    parser.add_argument("--no-next-step", type=int, default=50)
    args = parser.parse_args()

    from hub.local.embedded_aws import EmbeddedAws

    aws = EmbeddedAws(free_port())
    aws.start()
    os.environ["AWS_ENDPOINT_URL"] = aws.url
    from hub.local.resources import create_resources, hub_environment
    from hub.local.template import HubTemplate

    template = HubTemplate()
    os.environ.update(hub_environment(template))
    import boto3

    create_resources(template, lambda service: boto3.client(service, region_name="us-east-1"))
    # Quiet hours off, so the figures do not depend on the hour the bench runs at.
    config = (
        (ROOT / "config" / "alerts.yaml")
        .read_text()
        .replace("quiet_hours:\n  enabled: true", "quiet_hours:\n  enabled: false")
    )
    boto3.client("s3").put_object(Bucket=template.bucket_name(), Key="config-good/alerts.yaml", Body=config)

    from hub.local.demo import load_demo
    from hub.local.runtime import LocalContext

    load_demo()
    now = datetime.now(UTC)
    table = template.table_name("CrmTable")
    started = time.monotonic()
    write_all(opportunities(args.opportunities, args.stale, args.no_next_step, now))
    print(f"loaded {args.opportunities} open opportunities in {time.monotonic() - started:.1f} s")

    from alerts.app import handler

    count_calls()
    context = LocalContext(function_name="AlertsFunction", timeout_seconds=60)
    results = []
    for run in ("first", "second"):
        CALLS.clear()
        started = time.monotonic()
        result = handler({"schedule": "alerts-sweep"}, context)
        seconds = time.monotonic() - started
        results.append((run, seconds, dict(CALLS), result))
        print(f"\nsweep ({run} run): {seconds:.2f} s; found {result['found']}, sent {result.get('sent', 0)} emails "
              f"({result.get('digested', 0)} alerts in digests), items read by index queries: {result['items_read']}")  # fmt: skip
        print("  AWS calls:", json.dumps(dict(sorted(CALLS.items()))))
    first_calls = sum(results[0][2].values())
    sent = results[0][3].get("sent", 0)
    found = results[0][3]["found"]
    if sent and found:
        print(f"  AWS calls per alert (first run, whole sweep): {first_calls / found:.1f}; per email sent "
              f"(digests gather many): {first_calls / sent:.1f}")  # fmt: skip

    CALLS.clear()
    scanned = 0
    pages = boto3.client("dynamodb").get_paginator("scan").paginate(TableName=table, Select="COUNT")
    for page in pages:
        scanned += page["Count"]
    print(f"\nfor contrast, a Scan of the CRM table reads {scanned} items")

    # One stream record: a won deal (owner and manager), as the stream delivers it.
    from tests.helpers import stream_event

    won = {"pk": "OPPORTUNITY#OPP-WON", "sk": "OPPORTUNITY", "entity": "OPPORTUNITY", "opportunity_id": "OPP-WON",
           "account_id": "A-ACME", "name": "Bench win", "owner": "rep-sam", "stage": "Job Won",
           "occurred_at": fixed(now), "last_event_id": "bench-won"}  # fmt: skip
    event = stream_event([("MODIFY", won, {**won, "stage": "Formal Approval"})])
    CALLS.clear()
    started = time.monotonic()
    handler(event, context)
    seconds = time.monotonic() - started
    print(
        f"\nstream record (won deal, 2 alerts): {seconds * 1000:.0f} ms; AWS calls: {json.dumps(dict(sorted(CALLS.items())))}"
    )
    print(f"  AWS calls per alert sent (stream): {sum(CALLS.values()) / 2:.1f}")
    aws.stop()


if __name__ == "__main__":
    main()
