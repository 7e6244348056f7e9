"""POS files in the local hub, from upload to ``done``: a fresh ``hub local`` (its own home), a bench file
(bench/pos.py's generator) uploaded to its bucket, the run record polled until it is done. While it runs,
the hub's resident memory is sampled and another read route is timed (does the hub answer meanwhile?).

    .venv/bin/python bench/pos_hub.py                      # 100,000 lines
    .venv/bin/python bench/pos_hub.py --rows 100000 1000000
    .venv/bin/python bench/pos_hub.py --json               # one JSON document (make bench)

``figures(rows)`` returns the same figures to a caller. Figures are printed, not judged.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("bench_pos", ROOT / "bench" / "pos.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate


def _get(info: dict[str, Any], path: str) -> Any:
    request = urllib.request.Request(
        f"{info['api_url']}{path}", headers={"authorization": f"Bearer {info['api_token']}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def _rss_mib(pid: int) -> float:
    """Resident memory of the hub and its children (DynamoDB Local's JVM, the embedded AWS)."""
    total = 0
    pids = [pid]
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
        pids += [int(p) for p in out.split()]
    except OSError:
        pass
    for p in pids:
        try:
            for row in Path(f"/proc/{p}/status").read_text().splitlines():
                if row.startswith("VmRSS:"):
                    total += int(row.split()[1])
        except OSError:
            continue
    return total / 1024


def figures(rows: list[int], echo: bool = False) -> dict[str, Any]:
    import boto3

    generate = _generator()
    out: dict[str, Any] = {"sizes": {}}
    with tempfile.TemporaryDirectory() as home_dir:
        home = Path(home_dir)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "HUB_"))}
        hub = Path(sys.executable).parent / "hub"
        process = subprocess.Popen(
            [str(hub), "local", "--home", str(home), "--port", "0", "--aws-port", "0"],
            cwd=home, env=env, stdout=(home / "hub.log").open("wb"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            info_path = home / ".hub" / "local.json"
            deadline = time.monotonic() + 180
            while not info_path.exists():
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit((home / "hub.log").read_text(errors="replace")[-3000:])
                time.sleep(0.2)
            info = json.loads(info_path.read_text())
            s3 = boto3.client("s3", endpoint_url=info["aws_endpoint_url"], region_name=info["region"],
                              aws_access_key_id="local", aws_secret_access_key="local")  # fmt: skip
            for size in rows:
                path = home / f"pos-{size}.csv"
                generate(path, size)
                key = f"pos/bench/{size}-{int(time.time())}.csv"
                query = f"/pos/runs?key={urllib.parse.quote(key)}"
                peak = _rss_mib(process.pid)
                slowest_read = 0.0
                started = time.monotonic()
                s3.upload_file(str(path), info["bucket"], key)
                uploaded = time.monotonic() - started
                record = None
                while True:
                    asked = time.monotonic()
                    record = _get(info, query)
                    slowest_read = max(slowest_read, time.monotonic() - asked)
                    peak = max(peak, _rss_mib(process.pid))
                    if record and record["status"] in ("done", "failed"):
                        break
                    if time.monotonic() - started > 3600:
                        break
                    time.sleep(0.25)
                elapsed = time.monotonic() - started
                figure = {
                    "seconds_to_done": round(elapsed, 1),
                    "upload_seconds": round(uploaded, 1),
                    "status": record and record["status"],
                    "rows_total": record and record["rows_total"],
                    "accepted": record and record["accepted"],
                    "lines_per_s": round(size / elapsed),
                    "hub_peak_rss_mib": round(peak, 1),
                    "slowest_other_read_s": round(slowest_read, 2),
                }
                out["sizes"][size] = figure
                if echo:
                    print(f"{size:>9,} lines: {figure['status']} in {elapsed:6.1f} s from upload "
                          f"({figure['lines_per_s']:,} lines/s; upload {uploaded:.1f} s); hub peak RSS "
                          f"{peak:,.0f} MiB; slowest GET /pos/runs meanwhile {slowest_read:.2f} s")  # fmt: skip
                path.unlink()
        finally:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sheet = figures(args.rows, echo=not args.json)
    if args.json:
        print(json.dumps(sheet, indent=2))


if __name__ == "__main__":
    main()
