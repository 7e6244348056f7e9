"""Benchmark: 1,000 CRM contact changes synced to the fake MailChimp through the real handler.

The changes are delivered as DynamoDB stream batches of 20 (the template's BatchSize) to
``mailchimp_sync.app.handler`` with the CRM table in moto's in-process AWS, so each change pays
for planning, the MailChimp calls (through the real ``mailchimp_marketing`` client, under the
connection cap) and the sync-state write on the lead. The fake adds ``--latency`` seconds to each
answer to stand in for the network.

The mix: 700 new leads with opt-in, 100 new leads without opt-in (never added), 200 changes of an
existing lead's employee band (a tag removed and one added).

    .venv/bin/python bench/mailchimp.py [--latency 0.05] [--cap 4] [--changes 1000]

Prints the time, the calls MailChimp received by kind, the peak number of simultaneous
connections the fake saw, and the outcomes. Not a pass/fail test.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BATCH_SIZE = 20


def _environment(fake_url: str, list_id: str, cap: int) -> None:
    os.environ.pop("AWS_ENDPOINT_URL", None)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_SERVICE_NAME": "bench",
            "HUB_CONFIG_DIR": str(ROOT / "config"),
        }
    )
    from hub.local.resources import hub_environment
    from hub.local.template import HubTemplate

    os.environ.update(hub_environment(HubTemplate()))
    os.environ.update(
        {
            "MAILCHIMP_URL": fake_url,
            "MAILCHIMP_API_KEY": "fake-key",
            "MAILCHIMP_LIST_ID": list_id,
            "MAILCHIMP_WEBHOOK_TOKEN": "bench",
            "MAILCHIMP_MAX_CONNECTIONS": str(cap),
        }
    )


def _lead(n: int, opt_in: bool, band: str) -> dict[str, Any]:
    from shared.store.crm import lead_key

    return {
        **dict(zip(("pk", "sk"), lead_key(f"bench{n:05d}"), strict=True)),
        "entity": "LEAD",
        "lead_id": f"bench{n:05d}",
        "email": f"bench.{n}@example.com",
        "first_name": f"Bench{n}",
        "last_name": "Person",
        "company": f"Company {n % 97}",
        "country": "US",
        "employee_band": band,
        "revenue_band": "1M-10M",
        "industry": ["Automotive", "Medical", "Industrial"][n % 3],
        "campaign": "bench",
        "marketing_opt_in": opt_in,
        "quarantined": False,
        "version": 1,
    }


def _changes(total: int) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    new_opt_in = int(total * 0.7)
    new_quiet = int(total * 0.1)
    band_changes = total - new_opt_in - new_quiet
    changes: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
    leads = {}
    for n in range(new_opt_in + new_quiet):
        lead = _lead(n, opt_in=n < new_opt_in, band="10-49")
        leads[n] = lead
        changes.append(("INSERT", lead, None))
    for n in range(band_changes):
        old = leads[n]
        changes.append(("MODIFY", {**old, "employee_band": "50-249", "version": 2}, old))
    return changes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds the fake adds to each answer")
    parser.add_argument("--cap", type=int, default=4, help="MAILCHIMP_MAX_CONNECTIONS")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")

    sys.path[:0] = [str(ROOT), str(ROOT / "functions")]
    from hub.fake_mailchimp import FakeMailchimp

    with FakeMailchimp(latency=args.latency) as fake:
        _environment(fake.url, fake.list_id, args.cap)
        import boto3
        from moto import mock_aws

        with mock_aws():
            from hub.local.resources import create_resources
            from hub.local.runtime import LocalContext
            from hub.local.template import HubTemplate
            from tests.helpers import stream_event

            template = HubTemplate()
            create_resources(template, lambda service: boto3.client(service, region_name="us-east-1"))
            table = boto3.resource("dynamodb", region_name="us-east-1").Table(template.table_name("CrmTable"))
            from mailchimp_sync import app
            from mailchimp_sync.app import gateway_for, handler, mailchimp_setup
            from mailchimp_sync.audience_setup import set_up_merge_fields

            sync_time = [0.0]
            real_run_plan = app.run_plan

            def timed_run_plan(*a: Any, **kw: Any) -> Any:
                started = time.perf_counter()
                try:
                    return real_run_plan(*a, **kw)
                finally:
                    sync_time[0] += time.perf_counter() - started

            app.run_plan = timed_run_plan  # measure the MailChimp part on its own

            set_up_merge_fields(gateway_for(mailchimp_setup()))
            fake.reset_counters()

            changes = _changes(args.changes)
            failures = 0
            elapsed = 0.0
            for start in range(0, len(changes), BATCH_SIZE):
                batch = changes[start : start + BATCH_SIZE]
                for _, new, _ in batch:  # the stream record follows the table write (not timed)
                    table.put_item(Item=new)
                event = stream_event(batch)
                started = time.perf_counter()
                answer = handler(event, LocalContext("mailchimp-bench", timeout_seconds=120))
                elapsed += time.perf_counter() - started
                failures += len(answer["batchItemFailures"])

            states = Counter(
                item.get("mailchimp", {}).get("state", "-")
                for item in table.scan()["Items"]
                if "lead_id" in item
            )
            calls = Counter(f"{c.method} {_kind(c.path)}" for c in fake.calls)
            stats = fake.stats()
            members = fake.stats()["members"]
            moved = sum(
                1
                for n in range(args.changes - int(args.changes * 0.8))
                if "employees:50-249" in fake.tags(f"bench.{n}@example.com")
                and "employees:10-49" not in fake.tags(f"bench.{n}@example.com")
            )

    print(
        f"changes synced:      {len(changes)} in {len(changes) // BATCH_SIZE} stream batches of {BATCH_SIZE}"
    )
    print(f"fake latency:        {args.latency * 1000:.0f} ms per answer; connection cap {args.cap}")
    print(
        f"handler time:        {elapsed:.2f} s  ({len(changes) / elapsed:.0f} changes/s; moto's DynamoDB included)"
    )
    print(f"  of which MailChimp: {sync_time[0]:.2f} s (the rest: planning, sync-state writes to moto)")
    print(
        f"MailChimp calls:     {sum(calls.values())}  "
        + ", ".join(f"{k}: {v}" for k, v in sorted(calls.items()))
    )
    print(f"peak concurrency:    {stats['peak_concurrency']} (cap {args.cap}); 429s: {stats['rejected_429']}")
    print(f"members in audience: {members}; band tag moved on {moved} contacts")
    print(f"lead sync states:    {dict(states)}; failed records: {failures}")
    return 0


def _kind(path: str) -> str:
    if path.endswith("/tags"):
        return "tags"
    if "/members/" in path:
        return "member"
    return path.rsplit("/", 1)[-1]


if __name__ == "__main__":
    sys.exit(main())
