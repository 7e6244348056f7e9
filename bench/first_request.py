"""Cold start as a first caller meets it: importing the events handler, then its first request, in a
fresh interpreter, beside ``import boto3`` alone. What is built on first use (records, event models:
``defer_build``) is paid by the first request, so the sum is the figure that says whether deferring
helped or only moved the work.

Run: ``.venv/bin/python bench/first_request.py [--root PATH]`` (best of 5 fresh interpreters each;
``--root`` measures another checkout of the project, e.g. the commit before). The first request is
the handler's own logic (``receive_events``: signature, validation, inbox, apply) on the in-memory
stores with a batch of 100 opportunity and account events, so no emulator's time is counted.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = r"""
import json, sys, time
started = time.perf_counter()
import crm_events.app
imported = time.perf_counter()
from datetime import UTC, datetime, timedelta
from crm_events.service import EventsContext, EventStores, receive_events
from shared.config_schemas.stages import load_stages_file
from shared.signing import StaticSourceSecrets, sign
from shared.store.crm import InMemoryCrmStore
from shared.store.events import InMemoryEventsStore
from shared.store.plan import InMemoryPlanStore
now = datetime.now(UTC)
events = []
for n in range(100):
    when = (now - timedelta(minutes=200 - n)).isoformat().replace("+00:00", "Z")
    if n % 5:
        data = {"id": f"opp-{n}", "account_id": f"acc-{n % 20}", "name": f"Deal {n}", "stage": "Qualifying Needs"}
        events.append({"type": "opportunity.upserted", "data": data})
    else:
        events.append({"type": "account.upserted", "data": {"id": f"acc-{n}", "name": f"Account {n}"}})
    events[-1].update(event_id=f"first-{n}", occurred_at=when, source="bench-crm")
body = json.dumps({"events": events}).encode()
headers = {"X-Hub-Signature": sign(body, "whsec", int(time.time())), "X-Hub-Source": "bench-crm"}
stages = load_stages_file()
context = EventsContext(
    EventStores(InMemoryCrmStore(), InMemoryEventsStore(), InMemoryPlanStore()),
    StaticSourceSecrets({"bench-crm": ["whsec"]}), lambda: stages,
)
ready = time.perf_counter()
answer = receive_events(headers, body, context)
assert answer.status_code == 200 and answer.body["accepted"] == 100, answer.body
done = time.perf_counter()
second = time.perf_counter()
receive_events(headers, body, context)
print(json.dumps({"import_ms": (imported - started) * 1000, "first_ms": (done - ready) * 1000,
                  "second_ms": (time.perf_counter() - second) * 1000}))
"""


def measure(root: Path, runs: int = 5) -> dict[str, float]:
    for folder in ("shared", "functions"):
        compileall.compile_dir(root / folder, quiet=1)
    env = {**os.environ, "PYTHONPATH": f"{root}{os.pathsep}{root / 'functions'}", "AWS_REGION": "us-east-1",
           "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "false",
           "HUB_CONFIG_DIR": str(root / "config")}  # fmt: skip
    best: dict[str, float] = {}
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True
        )
        figures = json.loads(out.stdout.strip().splitlines()[-1])
        figures["import_plus_first_ms"] = figures["import_ms"] + figures["first_ms"]
        boto3 = subprocess.run([sys.executable, "-c", "import time; t = time.perf_counter(); import boto3; "
                                "print((time.perf_counter() - t) * 1000)"],
                               capture_output=True, text=True, env=env, check=True)  # fmt: skip
        figures["boto3_ms"] = float(boto3.stdout.strip())
        for name, value in figures.items():
            best[name] = min(best.get(name, value), value)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args()
    best = measure(args.root.resolve())
    boto3 = best["boto3_ms"]
    print(f"root: {args.root}")
    print(f"{'figure (best of 5, fresh interpreter)':<40} {'ms':>8} {'vs import boto3':>16}")
    for name in ("boto3_ms", "import_ms", "first_ms", "import_plus_first_ms", "second_ms"):
        print(f"{name:<40} {best[name]:>8.1f} {best[name] / boto3:>15.2f}x")


if __name__ == "__main__":
    main()
