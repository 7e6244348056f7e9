"""Events per second applied in-process, beside a bare ``put_item`` per event, same run, same engine.

Run: ``.venv/bin/python bench/events.py [--events 2000] [--opportunities 200] [--engine ddblocal|moto]``

The tables are the template's, in DynamoDB Local (AWS's own engine, which the local hub runs; the
default when Java and the jar are here) or in moto's in-process DynamoDB (``--engine moto``; its
TransactWriteItems deep-copies every table it touches, so batches of transactions cost it what they
never cost DynamoDB, and its Query sorts the whole table). Three figures over the same events (a mix
of opportunity stage changes, accounts and plan figures):
- ``receive``: the whole ``POST /events`` logic in batches of 100 (signature, validation, inbox
  read and write, apply with its conditional writes), without HTTP or the Lambda wrapper;
- ``apply_events``: the apply alone, in batches of 100 already validated events;
- ``put_item``: one unconditional ``put_item`` of the same size per event: the floor.
Also the AWS calls per 100 events of ``receive`` (a botocore event hook). The ratio is the figure
to read: both engines are slower than the real service, by different amounts per call and per item.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchenv import prepare

ROOT = prepare()

STAGES = ["Qualifying Needs", "Sales Presentation", "Proposal Delivered", "Verbal Approval", "Job Won"]
SOURCE, SECRET = "bench-crm", "whsec_bench"


def make_events(count: int, opportunities: int, start: datetime) -> list[dict]:
    events = []
    for i in range(count):
        when = (start + timedelta(seconds=i)).isoformat().replace("+00:00", "Z")
        kind = i % 10
        if kind < 8:  # most traffic: opportunities moving through their stages
            opp = i % opportunities
            data = {"id": f"opp-{opp}", "account_id": f"acc-{opp % 50}", "name": f"Deal {opp}", "owner": "rep-1",
                    "stage": STAGES[(i // opportunities) % len(STAGES)], "amount": 1000 + i}  # fmt: skip
            events.append({"type": "opportunity.upserted", "data": data})
        elif kind == 8:
            events.append({"type": "account.upserted", "data": {"id": f"acc-{i % 50}", "name": f"Account {i % 50}",
                                                               "territory_id": "T-1", "aliases": [f"Acc {i}"]}})  # fmt: skip
        else:
            events.append({"type": "plan.upserted", "data": {"node_type": "account", "node_id": f"acc-{i % 50}",
                                                            "year": 2026, "quarter": 1 + i % 4, "amount": i}})  # fmt: skip
        events[-1].update(event_id=f"bench-{i}", occurred_at=when, source=SOURCE)
    return events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--opportunities", type=int, default=200)
    parser.add_argument("--engine", choices=["ddblocal", "moto"], default=None)
    args = parser.parse_args()

    import boto3
    from botocore.handlers import BUILTIN_HANDLERS
    from moto import mock_aws

    from hub.local import dynamodb_local
    from hub.local.resources import create_tables, hub_environment
    from hub.local.template import HubTemplate

    engine = args.engine or ("moto" if dynamodb_local.unavailable() else "ddblocal")
    calls: Counter[str] = Counter()
    BUILTIN_HANDLERS.append(("before-call.dynamodb.*", lambda event_name, **_: calls.update([event_name])))
    with tempfile.TemporaryDirectory() as db_dir, mock_aws():
        local = None
        if engine == "ddblocal":
            local = dynamodb_local.DynamoDBLocalProcess(Path(db_dir))
            local.launch()
            local.wait_ready()
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = local.endpoint
        template = HubTemplate()
        create_tables(template, boto3.client("dynamodb", region_name="us-east-1"), ttl=engine == "moto")
        os.environ.update(hub_environment(template))

        from crm_events.apply import apply_events
        from crm_events.models import validate_event
        from crm_events.service import EventsContext, receive_events
        from crm_events.storage import dynamo_stores

        from shared.config_schemas.stages import load_stages_file
        from shared.settings import get_settings
        from shared.signing import StaticSourceSecrets, sign

        stages = load_stages_file()
        now = datetime.now(UTC)
        settings = get_settings()

        # 1. The whole receive path, batches of 100, on fresh tables' worth of ids.
        events = make_events(args.events, args.opportunities, now - timedelta(days=1))
        context = EventsContext(dynamo_stores(), StaticSourceSecrets({SOURCE: [SECRET]}), lambda: stages)
        calls.clear()
        started = time.perf_counter()
        for offset in range(0, len(events), 100):
            body = json.dumps({"events": events[offset : offset + 100]}).encode()
            headers = {"X-Hub-Signature": sign(body, SECRET, int(time.time())), "X-Hub-Source": SOURCE}
            answer = receive_events(headers, body, context)
            assert answer.status_code == 200, answer.body
        receive_s = time.perf_counter() - started
        receive_calls = sum(calls.values()) * 100 / len(events)

        # 2. apply_events alone, in batches of 100, on the same kind of events with other ids
        #    (validated beforehand).
        store = dynamo_stores()
        fresh = [
            {**e, "event_id": "apply-" + e["event_id"], "data": {**e["data"]}}
            for e in make_events(args.events, args.opportunities, now - timedelta(hours=12))
        ]
        validated = [validate_event(e, stages, now=now).event for e in fresh]
        started = time.perf_counter()
        for offset in range(0, len(validated), 100):
            apply_events(validated[offset : offset + 100], store, stages)
        apply_s = time.perf_counter() - started

        # 3. The floor: one bare put_item per event, of the same payload.
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        table = settings.crm_table
        started = time.perf_counter()
        for i, e in enumerate(events):
            ddb.put_item(
                TableName=table,
                Item={"pk": {"S": f"BENCH#{i}"}, "sk": {"S": "BENCH"}, "body": {"S": json.dumps(e["data"])}},
            )
        put_s = time.perf_counter() - started
        if local is not None:
            local.stop()

    n = args.events
    print(f"engine: {engine}")
    print(f"events: {n} ({args.opportunities} opportunities, 80% opportunity / 10% account / 10% plan)")
    print(f"AWS calls per 100 events (receive): {receive_calls:.1f}")
    print(f"{'path':<36} {'seconds':>8} {'events/s':>10} {'vs put_item':>12}")
    for name, seconds in (
        ("receive (sign+validate+inbox+apply)", receive_s),
        ("apply_events (batches of 100)", apply_s),
        ("bare put_item per event", put_s),
    ):
        print(f"{name:<36} {seconds:>8.2f} {n / seconds:>10.0f} {put_s / seconds:>11.2f}x")


if __name__ == "__main__":
    main()
