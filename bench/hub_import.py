"""A trade-show list imported into a running local hub with ``hub leads import``: seconds from the command to
its final counts, and the hub's peak memory (the hub process and what it started: DynamoDB Local's JVM), as
a user would see them.

Run: ``.venv/bin/python bench/hub_import.py [--rows 10000] [--moto]`` (``--moto``: the hub on moto's
DynamoDB, ``HUB_DYNAMODB=moto``, as before DynamoDB Local). Starts ``hub local --fresh`` in a temporary
home, waits until it is ready, writes ``show.csv`` there and runs ``hub leads import show.csv --home HOME``
(which uploads it, follows the import's status and prints the counts), then waits (``--settle`` seconds at
most) until the stream consumers have caught up: the fake MailChimp has had one call per row (the sync of
each imported contact) and the emails have stopped coming. Prints one JSON line last (the figures
``bench/sheet.py`` reads): ``seconds`` (the import as the user waits for it), ``settled_seconds`` (from the
same start until the consumers caught up; null if not within ``--settle``), ``emails`` sent by then, and the CPU
seconds the hub's process (``hub_cpu_seconds``) and the rest of its tree (``engine_cpu_seconds``: DynamoDB Local's
JVM) spent from the import's start until then (or the end of the wait): figures the machine's load barely moves.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
COUNTRIES = ["US", "DE", "JP", "GB", "FR", "CN", "TW", "KR", "IN", "BR"]
INDUSTRIES = ["Automotive", "Industrial", "Consumer", "Medical", "Telecom"]


def trade_show_csv(rows: int) -> bytes:
    """The list bench/leads_import.py imports in-process (the same rows)."""
    lines = ["E-mail,First Name,Last Name,Company Name,Country,Industry,Employees"]
    for n in range(rows):
        lines.append(f"visitor{n}@company{n % 997}.example,First{n},Last{n},Company {n % 997},"
                     f"{COUNTRIES[n % len(COUNTRIES)]},{INDUSTRIES[n % len(INDUSTRIES)]},{10 + n % 5000}")  # fmt: skip
    return ("\r\n".join(lines) + "\r\n").encode()


def tree_pids(pid: int) -> list[int]:
    """``pid`` and its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (Linux /proc): a figure the machine's load barely moves."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and its descendants (Linux /proc)."""
    total = 0
    for current in tree_pids(pid):
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def mailchimp_calls(info: dict[str, Any]) -> int:
    """Calls the local hub's fake MailChimp has answered."""
    url = info["mailchimp_url"].removesuffix("/3.0") + "/_fake/stats"
    with urllib.request.urlopen(url, timeout=10) as answer:
        return int(json.load(answer)["calls"])


def settle(
    info: dict[str, Any], rows: int, calls_before: int, started: float, wait: float
) -> tuple[float | None, int]:
    """Seconds from ``started`` until MailChimp had one call per row (each imported contact synced) and the
    emails stopped coming (none new for 3 s); None when not within ``wait`` seconds. And the emails sent."""
    from hub.local.inspect import sent_emails

    deadline, last_count, last_change, synced_at = time.monotonic() + wait, -1, time.monotonic(), None
    while time.monotonic() < deadline:
        emails = len(sent_emails(info["aws_endpoint_url"]))
        if emails != last_count:
            last_count, last_change = emails, time.monotonic()
        if synced_at is None and mailchimp_calls(info) - calls_before >= rows:
            synced_at = time.monotonic()
        if synced_at is not None and time.monotonic() - last_change >= 3:
            return max(synced_at, last_change) - started, emails
        time.sleep(0.5)
    return None, max(last_count, 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--moto", action="store_true", help="the hub on moto's DynamoDB")
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--settle", type=float, default=600, help="seconds to wait for the consumers after")
    args = parser.parse_args()

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # a terminated bench still stops the hub it started (the finally below)

    signal.signal(signal.SIGTERM, interrupted)
    home = Path(tempfile.mkdtemp(prefix="hub-import-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "HUB_"))}
    if args.moto:
        env["HUB_DYNAMODB"] = "moto"
    hub_bin = Path(sys.executable).parent / "hub"
    log = (home / "hub.log").open("ab")
    process = subprocess.Popen(
        [str(hub_bin), "local", "--home", str(home), "--port", "0", "--aws-port", "0", "--fresh"],
        cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    info_path = home / ".hub" / "local.json"
    peak = [0]
    cpu: dict[int, float] = {}  # the last CPU seconds seen per process of the hub's tree (the JVM among them)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            peak[0] = max(peak[0], tree_rss_kib(process.pid))
            for pid in tree_pids(process.pid):
                cpu[pid] = max(cpu.get(pid, 0.0), cpu_seconds(pid))

    try:
        while not info_path.exists():
            if process.poll() is not None:
                raise SystemExit(f"the hub did not start; see {home / 'hub.log'}")
            time.sleep(0.2)
        info = json.loads(info_path.read_text())
        import boto3

        s3 = boto3.client(
            "s3", endpoint_url=info["aws_endpoint_url"], region_name=info["region"],
            aws_access_key_id="bench", aws_secret_access_key="bench",
        )  # fmt: skip
        threading.Thread(target=sample, daemon=True).start()
        at_ready = tree_rss_kib(process.pid)
        source = home / "show.csv"
        source.write_bytes(trade_show_csv(args.rows))
        calls_before = mailchimp_calls(info)
        cpu_before = {pid: cpu_seconds(pid) for pid in tree_pids(process.pid)}
        started = time.monotonic()
        command = subprocess.run(
            [str(hub_bin), "leads", "--home", str(home), "import", str(source), "--no-progress",
             "--timeout", str(args.timeout)],
            cwd=home, env=env, capture_output=True, text=True,
        )  # fmt: skip
        elapsed = time.monotonic() - started
        settled, emails = settle(info, args.rows, calls_before, started, args.settle)
        for pid in tree_pids(process.pid):
            cpu[pid] = max(cpu.get(pid, 0.0), cpu_seconds(pid))
        hub_cpu = cpu.get(process.pid, 0.0) - cpu_before.get(process.pid, 0.0)
        other_cpu = sum(
            seconds - cpu_before.get(pid, 0.0) for pid, seconds in cpu.items() if pid != process.pid
        )
        counts = next((line for line in command.stdout.splitlines() if " rows: " in line), "")
        body = s3.get_object(Bucket=info["bucket"], Key="imports/leads/show.results.csv")["Body"].read()
        rows = max(0, body.count(b"\n") - 1)
        engine = "moto" if args.moto else "DynamoDB Local"
        done = command.returncode == 0
        print(command.stderr[-2000:] if not done else "", end="")
        print(f"hub leads import in the local hub ({engine}): {args.rows:,} rows, {'done' if done else 'NOT done'} "
              f"in {elapsed:.1f} s ({counts}); results rows {rows:,}; hub memory at ready {at_ready / 1024:.0f} MB, "
              f"peak {peak[0] / 1024:.0f} MB; consumers caught up after "
              f"{'not within the wait' if settled is None else f'{settled:.1f} s'}, {emails} emails; "
              f"CPU from the import's start until then: hub {hub_cpu:.1f} s, DynamoDB Local {other_cpu:.1f} s; "
              f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        print(json.dumps({"rows": args.rows, "engine": engine, "done": done, "seconds": round(elapsed, 1),
                          "peak_mb": round(peak[0] / 1024), "ready_mb": round(at_ready / 1024),
                          "settled_seconds": None if settled is None else round(settled, 1), "emails": emails,
                          "hub_cpu_seconds": round(hub_cpu, 1), "engine_cpu_seconds": round(other_cpu, 1),
                          "load_average": round(os.getloadavg()[0], 1)}))  # fmt: skip
    finally:
        stop.set()
        try:
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=30)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
