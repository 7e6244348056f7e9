"""One figure sheet for issues 13 (POS at real size) and 14 (intake speed): every figure beside its baseline
and its aim, from one command, and the last run's figures in ``bench/results.json``.

Run: ``make bench`` (or ``.venv/bin/python bench/sheet.py [--quick] [--only NAME ...]``). Each figure comes
from the bench that measures it, run in its own process; the sheet only reads their output. ``--quick``
uses smaller sizes (a look, not the figures of record). Baselines are the issues' "today" column
(2026-12-01) and, where an issue gives none, the bench's figure on main before this work.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


@dataclass
class Probe:
    name: str
    command: list[str]
    quick: list[str]
    read: Callable[[str], dict[str, Any]]
    timeout: float = 1800
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)  # (issue, figure, baseline, aim)


def _last_json(out: str) -> dict[str, Any]:
    for line in reversed(out.strip().splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    raise ValueError("no figures in the output")


def _events(out: str) -> dict[str, Any]:
    found = re.search(r"apply_events \(batches of 100\)\s+[\d.]+\s+\d+\s+([\d.]+)x", out)
    calls = re.search(r"AWS calls per 100 events \(receive\): ([\d.]+)", out)
    engine = re.search(r"engine: (\S+)", out)
    receive = re.search(r"receive \(sign\+validate\+inbox\+apply\)\s+[\d.]+\s+\d+\s+([\d.]+)x", out)
    if not found:
        raise ValueError("no apply_events figure")
    return {
        "engine": engine.group(1) if engine else None,
        "calls_per_100_events": float(calls.group(1)) if calls else None,
        "apply_vs_put_item": float(found.group(1)),
        "receive_vs_put_item": float(receive.group(1)) if receive else None,
    }


def _imports(out: str) -> dict[str, Any]:
    figures = dict(re.findall(r"^(\S+)\s+([\d.]+)$", out, re.MULTILINE))
    boto3_ms = float(re.search(r"boto3 \(alone\)\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    ratios = {module: round(float(ms) / boto3_ms, 2) for module, ms in figures.items()}
    return {"boto3_ms": boto3_ms, "worst_ratio": max(ratios.values()), "ratios": ratios}


def _pos(out: str) -> dict[str, Any]:
    figures: dict[str, Any] = {}
    size = ""
    for line in out.splitlines():
        if m := re.match(r"^([\d,]+) rows,", line):
            size = m.group(1).replace(",", "")
        if (
            m := re.search(r"core: read \+ validate.*?ratio\s+([\d.]+)\s+peak RSS\s+([\d.]+)", line)
        ) and size:
            figures[f"core_vs_csv_reader_{size}"] = float(m.group(1))
            figures[f"core_peak_mib_{size}"] = float(m.group(2))
        if (m := re.search(r"^\s*reference path alone.*?ratio\s+([\d.]+)", line)) and size:
            figures[f"reference_vs_csv_reader_{size}"] = float(m.group(1))
        if (m := re.search(r"the same on the reference path alone.*?ratio\s+([\d.]+)", line)) and size:
            figures[f"lambda_vs_csv_reader_{size}"] = float(m.group(1))
    if not figures:
        raise ValueError("no core figure")
    return figures


def _pos_hub(out: str) -> dict[str, Any]:
    sizes = json.loads(out)["sizes"]
    figures: dict[str, Any] = {}
    for size, figure in sizes.items():
        figures[f"seconds_{size}"] = figure["seconds_to_done"] if figure["status"] == "done" else None
        figures[f"peak_mib_{size}"] = figure["hub_peak_rss_mib"]
        figures[f"slowest_read_s_{size}"] = figure["slowest_other_read_s"]
    return figures


PROBES = [
    Probe("leads", [PY, "bench/leads.py", "--leads", "300"], [PY, "bench/leads.py", "--leads", "60"], _last_json,
          rows=[("14", "new lead, AWS calls per lead (new_calls)", "4.68-5.66", "≤ 4"),
                ("14", "repeat, AWS calls per lead (repeat_calls)", "4.01 (bench/leads.py on main, 01:10)", "≤ 3"),
                ("14", "handler CPU ms per new lead, in-memory stores (cpu_ms_new)", "— (new figure)", "reported"),
                ("14", "handler CPU ms per repeat, in-memory stores (cpu_ms_repeat)", "— (new figure)", "reported")]),
    Probe("hub_import", [PY, "bench/hub_import.py", "--rows", "10000"], [PY, "bench/hub_import.py", "--rows", "2000"],
          _last_json, rows=[("14", "trade-show list in the local hub, seconds (seconds)",
                             "not finished after 600 s", "≤ 30 s"),
                            ("14", "  its peak memory, MB (peak_mb)", "14,600 and climbing", "< 1,000"),
                            ("14", "  until alerts and MailChimp caught up, seconds (settled_seconds)",
                             "— (new figure)", "reported")]),
    Probe("events", [PY, "bench/events.py"], [PY, "bench/events.py", "--events", "400"], _events,
          rows=[("14", "events applied vs bare put_item (apply_vs_put_item)", "0.21x", "≥ 0.5x")]),
    Probe("imports", [PY, "bench/imports.py"], [PY, "bench/imports.py"], _imports,
          rows=[("14", "handler import vs import boto3, worst handler (worst_ratio)", "2.3-4.0x", "≤ 1.6x")]),
    Probe("pos", [PY, "bench/pos.py", "--rows", "100000", "1000000", "--repeat", "1", "--modes", "bare", "core",
                  "reference", "lambda-reference"],
          [PY, "bench/pos.py", "--rows", "20000", "--repeat", "1", "--modes", "bare", "core", "reference"], _pos,
          rows=[("13", "POS core vs csv.reader, 100k rows (core_vs_csv_reader_100000)", "0.21-0.32x", "≥ 0.5x"),
                ("13", "POS core vs csv.reader, 1M rows (core_vs_csv_reader_1000000)", "0.21-0.32x", "≥ 0.5x"),
                ("13", "  core peak memory MiB, 1M rows (core_peak_mib_1000000)", "—", "flat"),
                ("13", "POS reference path vs csv.reader, 1M rows (reference_vs_csv_reader_1000000)", "0.21-0.32x", "—"),
                ("13", "pos_ingest's path (stages every line) vs csv.reader, 1M rows (lambda_vs_csv_reader_1000000)", "—", "—")]),
    Probe("layer", [PY, "bench/layer_size.py"], [PY, "bench/layer_size.py"], _last_json,
          rows=[("13", "layer + function code unzipped, MB (total_mb)", "— (without DuckDB)", "< 250"),
                ("13", "  of which DuckDB, MB (duckdb_mb)", "0", "—")]),
    Probe("pos_writes", [PY, "bench/pos.py", "--writes", "--rows", "1000000"],
          [PY, "bench/pos.py", "--writes", "--rows", "100000"], _last_json,
          rows=[("13", "POS writes per 1,000 lines, 1M-line file (per_1000_lines)", "~50 (1 item per line, 2x cost)",
                 "≤ 5")]),
    Probe("pos_hub", [PY, "bench/pos_hub.py", "--json", "--rows", "100000", "1000000"],
          [PY, "bench/pos_hub.py", "--json", "--rows", "20000"], _pos_hub,
          rows=[("13", "POS 100,000 lines in the local hub, upload to done, s (seconds_100000)",
                 "5,000 rows never finished", "≤ 12 s"),
                ("13", "POS 1,000,000 lines in the local hub, upload to done, s (seconds_1000000)", "never finished",
                 "finishes"),
                ("13", "  hub peak memory MiB, 100k then 1M (peak_mib_1000000)", "4-5.5 GB, climbing", "flat"),
                ("13", "  slowest other read meanwhile, s (slowest_read_s_1000000)", "> 30 s", "answers")]),
]  # fmt: skip
NOT_MEASURED: list[tuple[str, str, str, str]] = []


def _value(figures: dict[str, Any] | None, label: str) -> str:
    key = re.search(r"\((\w+)\)$", label)
    if figures is None or key is None or key.group(1) not in figures:
        return "failed" if figures is None else "—"
    value = figures[key.group(1)]
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes: a look, not the figures of record"
    )
    parser.add_argument("--only", nargs="*", choices=[p.name for p in PROBES])
    args = parser.parse_args()
    results: dict[str, Any] = {"run_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "quick": args.quick,
                               "figures": {}}  # fmt: skip
    for probe in PROBES:
        if args.only and probe.name not in args.only:
            continue
        command = probe.quick if args.quick else probe.command
        print(f"running {' '.join(command[1:])} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        figures: dict[str, Any] | None
        try:
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=probe.timeout)
            figures = probe.read(done.stdout)
        except (subprocess.TimeoutExpired, ValueError, AttributeError) as exc:
            figures = None
            print(f"  {probe.name}: no figures ({exc})", file=sys.stderr)
        results["figures"][probe.name] = {
            "command": " ".join(["python", *command[1:]]),
            "seconds": round(time.monotonic() - started, 1),
            "figures": figures,
            "rows": [{"issue": i, "figure": f, "baseline": b, "aim": a, "now": _value(figures, f)}
                     for i, f, b, a in probe.rows],
        }  # fmt: skip
    results["not_measured"] = [
        {"issue": i, "figure": f, "baseline": b, "aim": a} for i, f, b, a in NOT_MEASURED
    ]
    width = 78
    print(f"{'issue':<6}{'figure':<{width}}{'baseline':>40}{'aim':>14}{'now':>12}")
    for run in results["figures"].values():
        for row in run["rows"]:
            print(
                f"{row['issue']:<6}{row['figure']:<{width}}{row['baseline']:>40}{row['aim']:>14}{row['now']:>12}"
            )
        print(f"{'':<6}  ({run['command']}, {run['seconds']} s)")
    for i, f, b, a in NOT_MEASURED:
        print(f"{i:<6}{f:<{width}}{b:>40}{a:>14}{'not here':>12}")
    (ROOT / "bench" / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print("written: bench/results.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
