"""Leads per second through the `POST /leads` handler in-process under moto, beside a handler that only
stores the raw body with one `put_item`, in the same run; and the AWS calls per new lead and per repeat.

Run: ``.venv/bin/python bench/leads.py [--leads 300] [--stock-moto-transactions]``

Every figure goes through the Lambda entry point (`leads_webhook.app.handler`) with API Gateway HTTP API
events, on the template's tables in moto's in-process DynamoDB:
- ``new``: first submissions of distinct people (validation, spam check, conditional create, routing with
  the rotation's conditional write, the assignment's conditional update);
- ``repeat``: a second, different submission of each of those people (merge under a version condition);
- ``redelivery``: the very same request again (recognised by its submission id; one effect);
- ``raw put_item``: a handler that stores the body with one unconditional put_item: the floor.
AWS calls are counted with a botocore ``before-call`` event hook that every client created in the run
carries (registered in botocore's built-in handlers, as moto registers its own), by service and operation.
moto's DynamoDB is much slower than the real service, so read the ratio and the call counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from benchenv import prepare

ROOT = prepare()

CALLS: Counter[str] = Counter()


def _count_call(event_name: str, **_: Any) -> None:
    _, service, operation = event_name.split(".", 2)
    CALLS[f"{service}.{operation}"] += 1


def _install_counter() -> None:
    """Every botocore session created from now on emits before-call.<service>.<operation> to the counter."""
    from botocore.handlers import BUILTIN_HANDLERS

    BUILTIN_HANDLERS.append(("before-call.*.*", _count_call))


def _item_level_transactions() -> None:
    """moto's TransactWriteItems deep-copies every table it touches (to roll back), so each transaction costs
    O(table size) and the figures would fall as the table grows. This keeps DynamoDB's semantics (every
    condition checked against the state before the transaction, then all writes or none) without the copy."""
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import TransactionCanceledException
    from moto.dynamodb.models import DynamoDBBackend

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        plan, errors = [], []
        for entry in transact_items:
            kind, op = next(iter(entry.items()))
            table = self.get_table(op["TableName"])
            if kind == "Put":
                key = {a: op["Item"][a] for a in (table.hash_key_attr, table.range_key_attr) if a}
            else:
                key = op["Key"]
            condition = op.get("ConditionExpression")
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            ok = condition is None or get_filter_expression(condition, names, values).expr(
                self.get_item(op["TableName"], key)
            )
            errors.append(
                (None, None, None)
                if ok
                else ("ConditionalCheckFailed", "The conditional request failed", None)
            )
            plan.append((kind, op, key, names, values))
        if any(code for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        for kind, op, key, names, values in plan:
            if kind == "Put":
                self.put_item(op["TableName"], op["Item"])
            elif kind == "Update":
                self.update_item(op["TableName"], key, op["UpdateExpression"], names, values)
            elif kind == "Delete":
                self.delete_item(op["TableName"], key)

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _event(body: str, ip: str, template: Any) -> dict[str, Any]:
    from hub.local.api import build_event

    route = next(r for r in template.routes() if r.matches("POST", "/leads") is not None)
    headers = {"content-type": "application/json", "content-length": str(len(body))}
    return build_event("POST", "/leads", headers, body.encode(), route, {}, ip, None)


def _run(handler: Any, events: list[dict[str, Any]], context: Any) -> tuple[float, Counter[str], list[int]]:
    CALLS.clear()
    statuses = []
    started = time.perf_counter()
    for event in events:
        statuses.append(handler(event, context)["statusCode"])
    elapsed = time.perf_counter() - started
    return elapsed, Counter(CALLS), statuses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=300)
    parser.add_argument(
        "--stock-moto-transactions", action="store_true", help="keep moto's table-copying TransactWriteItems"
    )
    args = parser.parse_args()
    _install_counter()
    if not args.stock_moto_transactions:
        _item_level_transactions()

    import boto3
    from moto import mock_aws

    from hub.local.resources import create_resources, hub_environment
    from hub.local.template import HubTemplate

    with mock_aws():
        template = HubTemplate()
        create_resources(template, lambda service: boto3.client(service, region_name="us-east-1"))
        os.environ.update(hub_environment(template))
        import logging

        from hub.local.demo import load_demo

        load_demo()  # the CRM's rep records, which routing reads

        from leads_webhook.app import handler

        from hub.local.runtime import LocalContext
        from shared.aws import client

        logging.disable(logging.INFO)
        context = LocalContext(function_name="bench", timeout_seconds=900)
        crm_table = template.table_name("CrmTable")

        def raw_handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
            client("dynamodb").put_item(
                TableName=crm_table,
                Item={
                    "pk": {"S": f"RAW#{uuid.uuid4().hex}"},
                    "sk": {"S": "RAW"},
                    "body": {"S": event["body"]},
                },
            )
            return {"statusCode": 202}

        countries = ["US", "DE", "JP", "FR", "US", "BR"]
        people = [
            {"email": f"bench.{i}@example.com", "first_name": f"P{i}", "company": f"Co {i % 50}",
             "country": countries[i % len(countries)], "state": "CA" if i % 3 == 0 else "NY",
             "employees": (i * 37) % 3000, "product_interest": "sensors", "campaign": "bench"}
            for i in range(args.leads)
        ]  # fmt: skip
        new = [_event(json.dumps(p), f"10.1.{i // 250}.{i % 250}", template) for i, p in enumerate(people)]
        repeat = [
            _event(json.dumps({**p, "phone": "+1 415 555 0100", "campaign": "bench-2"}), f"10.2.{i // 250}.{i % 250}",
                   template)
            for i, p in enumerate(people)
        ]  # fmt: skip
        raw = [_event(json.dumps(p), "10.3.0.1", template) for p in people]

        handler(_event(json.dumps({"email": "warm@example.com"}), "10.9.9.9", template), context)  # warm up
        raw_handler(raw[0], context)

        results = {
            "new": _run(handler, new, context),
            "repeat": _run(handler, repeat, context),
            "redelivery": _run(handler, repeat, context),
            "raw put_item": _run(raw_handler, raw, context),
        }

        cpu = _in_memory_cpu(handler, new, repeat, context)

    n = args.leads
    floor = n / results["raw put_item"][0]
    mode = "stock" if args.stock_moto_transactions else "item-level (bench patch)"
    print(f"leads_webhook bench: {n} leads per figure, in-process moto, {mode} TransactWriteItems")
    print(f"{'figure':<14}{'leads/s':>10}{'x floor':>10}{'AWS calls/lead':>16}  statuses")
    for name, (elapsed, calls, statuses) in results.items():
        rate = n / elapsed
        print(
            f"{name:<14}{rate:>10.1f}{rate / floor:>10.2f}{sum(calls.values()) / n:>16.2f}  {dict(Counter(statuses))}"
        )
    for name in ("new", "repeat", "redelivery"):
        calls = results[name][1]
        detail = ", ".join(f"{op} {count / n:.2f}" for op, count in calls.most_common())
        print(f"  {name} calls per lead: {detail}")
    print(f"handler CPU per lead, in-memory stores: new {cpu['new']:.2f} ms, repeat {cpu['repeat']:.2f} ms")
    print(json.dumps({"new_calls": round(sum(results["new"][1].values()) / n, 2),
                      "repeat_calls": round(sum(results["repeat"][1].values()) / n, 2),
                      "cpu_ms_new": round(cpu["new"], 2), "cpu_ms_repeat": round(cpu["repeat"], 2)}))  # fmt: skip
    return 0


def _in_memory_cpu(handler: Any, new: list[Any], repeat: list[Any], context: Any) -> dict[str, float]:
    """The handler's own CPU time per lead (``time.process_time``) with the intake's stores in memory: the same
    entry point, validation, routing and merge, no AWS calls. The configuration comes from the shipped files."""
    import leads_webhook.app as app_module
    import yaml
    from leads_webhook.intake import LeadServices
    from leads_webhook.storage import StoreLeadRepository
    from leads_webhook.wiring import RecheckedReps

    from hub.local.demo import DEMO_PATH
    from shared.config_schemas.leads import LeadsConfig
    from shared.config_schemas.routing import RoutingConfig
    from shared.config_store import RecheckedConfig
    from shared.store import crm
    from shared.store.common import Version
    from shared.store.state import InMemoryStateStore

    store, state = crm.InMemoryCrmStore(), InMemoryStateStore()
    loaded = Version(datetime.now(UTC), "")
    for r in yaml.safe_load(DEMO_PATH.read_text(encoding="utf-8")).get("reps", []):
        store.upsert_rep(crm.Rep.model_validate({**r, "rep_id": r["id"]}), loaded)
    leads = StoreLeadRepository(store)
    services = LeadServices(
        leads=leads, rotation=state, rate_limiter=state, workload=leads, reps=RecheckedReps(store),
        leads_config=RecheckedConfig("leads.yaml", LeadsConfig), routing_config=RecheckedConfig("routing.yaml", RoutingConfig),
    )  # fmt: skip
    deployed = app_module.deployed_services
    app_module.deployed_services = lambda: services  # type: ignore[assignment]  # a bench, not a test
    try:
        handler(new[0], context)  # warm: configuration read, models built
        figures = {}
        for name, events in (("new", new[1:]), ("repeat", repeat[1:])):
            started = time.process_time()
            for event in events:
                handler(event, context)
            figures[name] = (time.process_time() - started) / len(events) * 1000
    finally:
        app_module.deployed_services = deployed  # type: ignore[assignment]
    return figures


if __name__ == "__main__":
    sys.exit(main())
