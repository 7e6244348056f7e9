"""POS core benchmark: rows/second of read + validate + aggregate beside a bare csv.reader loop over the
same file in the same run, and peak memory (ru_maxrss of a fresh subprocess) for growing files.

    .venv/bin/python bench/pos.py                 # 100,000 and 1,000,000 rows
    .venv/bin/python bench/pos.py --rows 20000    # a quick look

Figures are printed, not judged. The ratio is core rows/s divided by bare-loop rows/s.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TODAY = date(2026, 11, 23)
HEADER = [
    "Invoice Date", "Invoice No", "Line", "MPN", "Qty", "Unit Price", "Ext Resale", "Currency",
    "End Customer", "Country", "State", "Zip",
]  # fmt: skip


def generate(path: Path, rows: int, seed: int = 7) -> None:
    """A realistic sell-through file: 3 lines per invoice, 800 customers, 3,000 parts, 1% returns."""
    rng = random.Random(seed)
    customers = [f"Customer {i} {rng.choice(['Inc.', 'LLC', 'GmbH', 'Corp', 'Ltd'])}" for i in range(800)]
    parts = [f"PN-{i:05d}" for i in range(3000)]
    prices = {p: Decimal(rng.randint(5, 250_000)) / 10_000 for p in parts}
    days = [(TODAY - timedelta(days=d)).strftime("%m/%d/%Y") for d in range(1, 400)]
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        for i in range(rows):
            part = rng.choice(parts)
            qty = rng.randint(1, 5000) * (-1 if rng.random() < 0.01 else 1)
            price = prices[part]
            ext = (qty * price).quantize(Decimal("0.01"))
            writer.writerow(
                [rng.choice(days), f"INV{i // 3:08d}", i % 3 + 1, part, qty, price, ext, "USD",
                 rng.choice(customers), "US", "CA", f"9{rng.randint(0, 9999):04d}"]
            )  # fmt: skip


def bare_loop(path: Path) -> int:
    count = 0
    with path.open(newline="", encoding="utf-8") as handle:
        for _row in csv.reader(handle):
            count += 1
    return count


def core(path: Path) -> tuple[int, int]:
    sys.path[:0] = [str(ROOT), str(ROOT / "functions")]
    from pos_ingest.aggregate import ActualsAggregator
    from pos_ingest.core import ingest_file
    from pos_ingest.customers import AccountMatcher, AccountRef
    from pos_ingest.profile import default_profile

    matcher = AccountMatcher([AccountRef(f"acct-{i}", f"Customer {i}") for i in range(0, 800, 2)])
    totals = ActualsAggregator()
    rejects: list = []
    with path.open("rb") as handle:
        outcome = ingest_file(
            handle,
            default_profile("bench", "sell_through"),
            file_name=path.name,
            today=TODAY,
            matcher=matcher,
            on_accepted=totals.add,
            on_rejects=rejects.extend,
        )
    assert outcome.done and outcome.counts.rejected == 0, (outcome.counts, rejects[:3])
    return outcome.counts.accepted, len(totals.totals)


def child(mode: str, path: Path) -> None:
    sys.path[:0] = [str(ROOT), str(ROOT / "functions")]
    import pos_ingest.core  # noqa: F401 - imports counted in the baseline

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.process_time()  # CPU time: the figure holds on a busy machine
    rows = bare_loop(path) if mode == "bare" else core(path)[0]
    elapsed = time.process_time() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": rows, "seconds": elapsed, "baseline_kib": before, "peak_kib": peak}))


def run_child(mode: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="timing runs per size; the best is kept")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.rows:
            path = Path(tmp) / f"pos-{rows}.csv"
            generate(path, rows)
            size_mb = path.stat().st_size / 1e6
            bare = min(run_child("bare", path)["seconds"] for _ in range(args.repeat))
            runs = [run_child("core", path) for _ in range(args.repeat)]
            best = min(r["seconds"] for r in runs)
            peak = max(r["peak_kib"] for r in runs)
            base = runs[0]["baseline_kib"]
            print(
                f"{rows:>9,} rows ({size_mb:6.1f} MB): bare csv.reader {rows / bare:>10,.0f} rows/s | "
                f"core {rows / best:>10,.0f} rows/s | ratio {bare / best:.2f} | "
                f"peak RSS {peak / 1024:6.1f} MiB (after imports {base / 1024:.1f} MiB, "
                f"growth {(peak - base) / 1024:.1f} MiB)"
            )
            path.unlink()


if __name__ == "__main__":
    main()
