"""DynamoDB Local's CPU per item written, three ways, as the local hub runs the engine (its ``JAVA_OPTIONS``, the
file in WAL mode) on a table shaped as the CRM table (its three GSIs, a NEW_AND_OLD_IMAGES stream) with
lead-like items: TransactWriteItems of 100 conditional puts (what the import and the MailChimp sync send),
conditional PutItems on 8 threads, BatchWriteItems of 25 on 4 threads (no condition).

Run: ``.venv/bin/python bench/engine_writes.py [--items 2000] [--rounds 2]``. A first round warms the engine's
JIT and is not printed; each round writes fresh items. The engine's CPU (user + system, Linux /proc) is read
before and after each way: a figure the machine's load barely moves, unlike the wall time printed beside it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from hub.local.dynamodb_local import DynamoDBLocalProcess

TABLE = "bench-crm"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def lead_item(n: int) -> dict[str, Any]:
    """About the size and shape of an imported lead (keys, one GSI's keys, a few maps)."""
    lead_id = uuid.uuid4().hex
    return {
        "pk": {"S": f"LEAD#{lead_id}"}, "sk": {"S": "LEAD"}, "gsi1pk": {"S": "OWNER#rep-queue"},
        "gsi1sk": {"S": f"OPEN#2026-12-03T03:40:36+00:00#{lead_id}"}, "email": {"S": f"v{n}@c{n % 997}.example"},
        "first_name": {"S": f"First{n}"}, "last_name": {"S": f"Last{n}"}, "company": {"S": f"Company {n % 997}"},
        "country": {"S": "DE"}, "industry": {"S": "Telecom"}, "employees": {"N": str(10 + n % 5000)},
        "assignment": {"M": {"owner": {"S": "rep-queue"}, "reason": {"S": "fallback"}, "why": {"S": "x" * 40}}},
        "first_submission": {"M": {key: {"S": "v" * 20} for key in "abcdefghijkl"}}, "lead_id": {"S": lead_id},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    engine = DynamoDBLocalProcess(Path(tempfile.mkdtemp(prefix="engine-writes-")))
    engine.launch()
    try:
        engine.wait_ready()
        ddb = boto3.client(
            "dynamodb", endpoint_url=engine.endpoint, region_name="us-east-1", aws_access_key_id="bench",
            aws_secret_access_key="bench", config=Config(max_pool_connections=16, retries={"max_attempts": 1}),
        )  # fmt: skip
        keys = ["pk", "sk"] + [f"gsi{i}{part}" for i in (1, 2, 3) for part in ("pk", "sk")]
        ddb.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in keys],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[
                {"IndexName": f"gsi{i}", "Projection": {"ProjectionType": "ALL"},
                 "KeySchema": [{"AttributeName": f"gsi{i}pk", "KeyType": "HASH"},
                               {"AttributeName": f"gsi{i}sk", "KeyType": "RANGE"}]}
                for i in (1, 2, 3)
            ],
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )  # fmt: skip
        engine.write_ahead_log()

        def transactions(items: list[dict[str, Any]]) -> None:
            for start in range(0, len(items), 100):
                ddb.transact_write_items(
                    TransactItems=[
                        {
                            "Put": {
                                "TableName": TABLE,
                                "Item": item,
                                "ConditionExpression": "attribute_not_exists(pk)",
                            }
                        }
                        for item in items[start : start + 100]
                    ]
                )

        def puts(items: list[dict[str, Any]]) -> None:
            def put(item: dict[str, Any]) -> None:
                ddb.put_item(TableName=TABLE, Item=item, ConditionExpression="attribute_not_exists(pk)")

            with ThreadPoolExecutor(8) as pool:
                list(pool.map(put, items))

        def batches(items: list[dict[str, Any]]) -> None:
            def write(chunk: list[dict[str, Any]]) -> None:
                ddb.batch_write_item(RequestItems={TABLE: [{"PutRequest": {"Item": item}} for item in chunk]})

            with ThreadPoolExecutor(4) as pool:
                list(pool.map(write, [items[i : i + 25] for i in range(0, len(items), 25)]))

        ways: list[tuple[str, Callable[[list[dict[str, Any]]], None]]] = [
            ("TransactWriteItems of 100 conditional puts", transactions),
            ("conditional PutItem, 8 threads", puts),
            ("BatchWriteItem of 25, 4 threads (no condition)", batches),
        ]
        assert engine.process is not None
        for round_ in range(args.rounds + 1):
            for name, write in ways:
                items = [lead_item(n) for n in range(args.items)]
                cpu, started = cpu_seconds(engine.process.pid), time.monotonic()
                write(items)
                cpu, wall = cpu_seconds(engine.process.pid) - cpu, time.monotonic() - started
                if round_:
                    print(f"round {round_}, {name}: engine CPU {1000 * cpu / args.items:.2f} ms an item, "
                          f"wall {1000 * wall / args.items:.2f} ms an item")  # fmt: skip
    finally:
        engine.stop()


if __name__ == "__main__":
    main()
