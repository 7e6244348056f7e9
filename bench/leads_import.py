"""A trade-show list of 10,000 rows imported by the leads function in one invocation.

Run: ``.venv/bin/python bench/leads_import.py [--rows 10000]``. Prints the wall time of the one
invocation, the rows per second, the outcome counts and the results file's row count, beside
the function's timeout in the template. AWS is the local hub's embedded AWS (moto's server on
127.0.0.1, DynamoDB requests applied one at a time, as the import writes from several threads
and in-process moto is not thread-safe). moto's DynamoDB is slower than the real service (its
transactions copy the table); by default the run uses bench/leads.py's item-level
transactions, which keep DynamoDB's all-or-nothing semantics without the copy
(``--stock-moto-transactions`` keeps moto's own).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import time

from benchenv import prepare

ROOT = prepare()

from hub.local.resources import create_resources, hub_environment  # noqa: E402
from hub.local.template import HubTemplate  # noqa: E402

os.environ.update(hub_environment(HubTemplate()))

COUNTRIES = ["US", "DE", "JP", "GB", "FR", "CN", "TW", "KR", "IN", "BR"]
INDUSTRIES = ["Automotive", "Industrial", "Consumer", "Medical", "Telecom"]


def trade_show_csv(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["E-mail", "First Name", "Last Name", "Company Name", "Country", "Industry", "Employees"])
    for n in range(rows):
        writer.writerow([f"visitor{n}@company{n % 997}.example", f"First{n}", f"Last{n}", f"Company {n % 997}",
                         COUNTRIES[n % len(COUNTRIES)], INDUSTRIES[n % len(INDUSTRIES)], 10 + n % 5000])  # fmt: skip
    return out.getvalue().encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--stock-moto-transactions", action="store_true")
    args = parser.parse_args()
    if not args.stock_moto_transactions:
        from bench.leads import _item_level_transactions

        _item_level_transactions()

    import logging

    import boto3

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from hub.local.embedded_aws import EmbeddedAws
    from hub.local.runtime import LocalContext
    from hub.local.server import free_port

    aws = EmbeddedAws(free_port(0))
    aws.start()
    os.environ["AWS_ENDPOINT_URL"] = aws.url
    try:
        template = HubTemplate()
        create_resources(template, lambda service: boto3.client(service, region_name="us-east-1"))
        from leads_webhook.app import handler

        from hub.local.demo import load_demo

        load_demo()  # the CRM's rep records, which routing reads

        bucket = template.bucket_name()
        key = "imports/leads/expo-2026.csv"
        boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=trade_show_csv(args.rows))
        event = {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "awsRegion": "us-east-1",
                              "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]}  # fmt: skip
        timeout = template.functions()["LeadsWebhookFunction"].timeout
        started = time.perf_counter()
        answer = handler(event, LocalContext(function_name="LeadsWebhookFunction", timeout_seconds=timeout))
        elapsed = time.perf_counter() - started
        summary = answer["imports"][0]
        results = (
            boto3.client("s3").get_object(Bucket=bucket, Key=summary["results_key"])["Body"].read().decode()
        )
        result_rows = sum(1 for _ in csv.reader(io.StringIO(results))) - 1
    finally:
        aws.stop()

    print(f"rows imported in one invocation: {args.rows:,}")
    print(f"wall time: {elapsed:.1f} s   ({args.rows / elapsed:,.0f} rows/s)   function timeout: {timeout} s")
    print(f"outcomes: {summary['counts']}   results file rows: {result_rows:,}")


if __name__ == "__main__":
    main()
