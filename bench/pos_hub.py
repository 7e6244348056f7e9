"""POS files in the local hub, from upload to ``done``: a fresh ``hub local`` (its own home), a bench file
(bench/pos.py's generator) uploaded to its bucket, the run record polled until it is done. While it runs,
the resident memory of the hub's process and of DynamoDB Local's JVM (its child) is sampled, during the
upload too, and another read route is timed (does the hub answer meanwhile?). ``hub_peak_rss_mib`` is the
largest sum of the two in one sample.

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


def _rss_mib(pid: int) -> tuple[float, float]:
    """Resident memory of the hub's own process, and of its children (DynamoDB Local's JVM), in MiB."""
    pids = []
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
        pids = [int(p) for p in out.split()]
    except OSError:
        pass
    own, children = _vm_rss_kib(pid), sum(_vm_rss_kib(p) for p in pids)
    return own / 1024, children / 1024


def _vm_rss_kib(pid: int) -> int:
    try:
        for row in Path(f"/proc/{pid}/status").read_text().splitlines():
            if row.startswith("VmRSS:"):
                return int(row.split()[1])
    except OSError:
        pass
    return 0


class Peaks:
    """The largest sample of the hub's process, of its children, and of both together (one sample)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start = _rss_mib(pid)
        self.hub, self.children, self.total = self.start[0], self.start[1], sum(self.start)

    def sample(self) -> None:
        hub, children = _rss_mib(self.pid)
        self.hub, self.children = max(self.hub, hub), max(self.children, children)
        self.total = max(self.total, hub + children)


def _upload(s3: Any, path: Path, bucket: str, key: str, peaks: Peaks) -> None:
    """``upload_file`` on a thread while the hub's memory is sampled (the join at its end included)."""
    import threading

    failed: list[BaseException] = []

    def send() -> None:
        try:
            s3.upload_file(str(path), bucket, key)
        except BaseException as error:  # raised again below, on the caller's thread
            failed.append(error)

    sender = threading.Thread(target=send)
    sender.start()
    while sender.is_alive():
        peaks.sample()
        sender.join(0.1)
    peaks.sample()
    if failed:
        raise failed[0]


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
                peaks = Peaks(process.pid)
                slowest_read = 0.0
                started = time.monotonic()
                _upload(s3, path, info["bucket"], key, peaks)
                uploaded = time.monotonic() - started
                hub_at_upload = peaks.hub
                record = None
                while True:
                    asked = time.monotonic()
                    record = _get(info, query)
                    slowest_read = max(slowest_read, time.monotonic() - asked)
                    peaks.sample()
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
                    "hub_peak_rss_mib": round(peaks.total, 1),
                    "hub_process_start_rss_mib": round(peaks.start[0], 1),
                    "hub_process_peak_rss_mib": round(peaks.hub, 1),
                    "hub_process_peak_during_upload_mib": round(hub_at_upload, 1),
                    "jvm_start_rss_mib": round(peaks.start[1], 1),
                    "jvm_peak_rss_mib": round(peaks.children, 1),
                    "slowest_other_read_s": round(slowest_read, 2),
                }
                out["sizes"][size] = figure
                if echo:
                    print(f"{size:>9,} lines: {figure['status']} in {elapsed:6.1f} s from upload "
                          f"({figure['lines_per_s']:,} lines/s; upload {uploaded:.1f} s); peak RSS {peaks.total:,.0f} MiB "
                          f"(hub process {peaks.start[0]:,.0f} -> {peaks.hub:,.0f}, {hub_at_upload:,.0f} by "
                          f"the upload's end; DynamoDB Local's JVM {peaks.start[1]:,.0f} -> "
                          f"{peaks.children:,.0f}); slowest GET /pos/runs meanwhile {slowest_read:.2f} s")  # fmt: skip
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
