"""POS core benchmark: rows/second of read + validate + aggregate beside a bare csv.reader loop over the
same file in the same run, and peak memory (ru_maxrss of a fresh subprocess) for growing files.

``core`` reads, checks and totals with the columnar engine (``ingest_file(use_engine=True)``: DuckDB
for a plain CSV; the generated file's keys come in order, so DuckDB reads it once; ``core-shuffled``
is the same rows shuffled, which it reads twice); ``reference`` is the same with the engine off (the
path before it, still taken by every file the engine does not read). ``lambda`` stages every line as pos_ingest does, with the engine;
``lambda-reference`` is the path pos_ingest takes (the engine does not pay where every line is wanted). Imports
happen before the clock starts (a warm Lambda has them; bench/imports.py measures the cold start).

    .venv/bin/python bench/pos.py                 # 100,000 and 1,000,000 rows
    .venv/bin/python bench/pos.py --rows 20000    # a quick look
    .venv/bin/python bench/pos.py --json          # the figures as one JSON document (make bench)

``figures(rows, repeat, modes)`` returns the same figures to a caller (the figure sheet).

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


def shuffled(path: Path) -> Path:
    """The same file with its data rows in a random order (the generated file's invoice and line keys
    only increase, which lets the engine read it once; a file sorted otherwise is read twice). Made in
    a child process: a child's peak RSS counts its parent's, which this would raise."""
    out = path.with_name(f"{path.stem}-shuffled{path.suffix}")
    subprocess.run([sys.executable, __file__, "--shuffle", str(path), str(out)], check=True)
    return out


def shuffle(path: Path, out: Path, seed: int = 7) -> None:
    with path.open("rb") as handle:
        header, *rows = handle.readlines()
    random.Random(seed).shuffle(rows)
    out.write_bytes(header + b"".join(rows))


def bare_loop(path: Path) -> int:
    count = 0
    with path.open(newline="", encoding="utf-8") as handle:
        for _row in csv.reader(handle):
            count += 1
    return count


MODES = {
    "bare": "bare csv.reader loop",
    "core": "core: read + validate + totals per account/quarter",
    "core-shuffled": "core on the same rows shuffled (keys out of order: DuckDB reads twice)",
    "reference": "reference path alone (no engine): read + validate + totals",
    "core+parts": "core + breakdown per account/quarter/part",
    "core-ledger": "core, repeats across batches left to the ledger",
    "lambda": "core + staging each line for the commit (what pos_ingest does)",
    "lambda-reference": "the same on the reference path alone (no engine)",
    "pydantic": "for scale: csv.reader + one pydantic model per row",
}


def core(
    path: Path,
    *,
    by_part: bool = False,
    across_batches: bool = True,
    stage: bool = False,
    engine: bool = True,
) -> int:
    """Rows accepted; ``engine`` lets the columnar engine read the file (ingest_file(use_engine=True))."""
    sys.path[:0] = [str(ROOT), str(ROOT / "functions")]
    from pos_ingest.aggregate import ActualsAggregator
    from pos_ingest.core import ingest_file
    from pos_ingest.ledger import StagedLines
    from pos_ingest.profile import default_profile

    from shared.accounts import AccountMatcher, AccountRef

    matcher = AccountMatcher([AccountRef(f"acct-{i}", f"Customer {i}") for i in range(0, 800, 2)])
    totals = ActualsAggregator(by_part=by_part)
    staged = StagedLines()
    rejects: list = []
    with path.open("rb") as handle:
        outcome = ingest_file(
            handle,
            default_profile("bench", "sell_through"),
            file_name=path.name,
            today=TODAY,
            matcher=matcher,
            on_accepted=staged.add if stage else totals.add,
            on_rejects=rejects.extend,
            repeats_across_batches=across_batches,
            use_engine=engine,
            engine_parts=by_part,
        )
    assert outcome.done and outcome.counts.rejected == 0, (outcome.counts, rejects[:3])
    return outcome.counts.accepted


def pydantic_rows(path: Path) -> int:
    from datetime import datetime

    from pydantic import BaseModel, field_validator

    class Row(BaseModel):
        invoice_date: date
        invoice_number: str
        line: int
        part_number: str
        quantity: Decimal
        unit_price: Decimal
        extended_amount: Decimal
        currency: str
        end_customer: str

        @field_validator("invoice_date", mode="before")
        @classmethod
        def _us_date(cls, value: str) -> date:
            return datetime.strptime(value, "%m/%d/%Y").date()

    count = 0
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        next(reader)
        for row in reader:
            Row(invoice_date=row[0], invoice_number=row[1], line=row[2], part_number=row[3], quantity=row[4],
                unit_price=row[5], extended_amount=row[6], currency=row[7], end_customer=row[8])  # fmt: skip
            count += 1
    return count


def warm_imports(mode: str) -> float:
    """Import what the mode uses before the clock starts (a warm Lambda has; bench/imports.py measures
    the cold start): CPU seconds spent importing."""
    started = time.process_time()
    if mode not in ("bare", "pydantic"):
        import pos_ingest.aggregate
        import pos_ingest.core
        import pos_ingest.ledger
        import pos_ingest.profile  # noqa: F401
        from pos_ingest import engine

        if mode not in ("reference", "lambda-reference") and engine.available():
            import duckdb  # noqa: F401
    return time.process_time() - started


def child(mode: str, path: Path) -> None:
    sys.path[:0] = [str(ROOT), str(ROOT / "functions")]

    from shared.config_schemas.distributors import iso_currency_codes

    iso_currency_codes()
    import_seconds = warm_imports(mode)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.process_time()  # CPU time: the figure holds on a busy machine
    if mode == "bare":
        rows = bare_loop(path)
    elif mode == "pydantic":
        rows = pydantic_rows(path)
    else:
        rows = core(
            path, by_part=mode == "core+parts", across_batches=mode != "core-ledger",
            stage=mode.startswith("lambda"), engine=mode not in ("reference", "lambda-reference"),
        )  # fmt: skip
    elapsed = time.process_time() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"rows": rows, "seconds": elapsed, "baseline_kib": before, "peak_kib": peak,
                      "import_seconds": import_seconds}))  # fmt: skip


def run_child(mode: str, path: Path) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout)


def commit_writes(rows: int) -> dict:
    """DynamoDB item writes of one run's commit for a bench file of ``rows`` lines (the in-memory store
    and ledger objects; the DynamoDB store writes the same plan): the plan's writes, the run record
    (created, finished), the ledger head (locked), one run-record step and one check of the ledger
    head (a transaction's ConditionCheck costs as a write) per further chunk and, for a chunked commit,
    its commit marker. ``read_cpu_s`` and ``commit_cpu_s``: CPU seconds of reading and staging the file,
    and of computing its commit against an empty ledger (``plan_commit``, the ledger objects gzipped);
    ``peak_mib``: the process's peak RSS (run it one size at a time to read it per size)."""
    sys.path[:0] = [str(ROOT), str(ROOT / "functions")]
    from pos_ingest.core import ingest_file
    from pos_ingest.ledger import StagedLines, plan_commit
    from pos_ingest.profile import default_profile

    from shared.accounts import AccountMatcher, AccountRef
    from shared.store.pos import InMemoryPosStore

    matcher = AccountMatcher([AccountRef(f"acct-{i}", f"Customer {i}") for i in range(0, 800, 2)])
    staged = StagedLines()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pos.csv"
        generate(path, rows)
        started = time.process_time()
        with path.open("rb") as handle:
            ingest_file(handle, default_profile("bench", "sell_through"), file_name=path.name, today=TODAY,
                        matcher=matcher, on_accepted=staged.add)  # fmt: skip
        read_cpu = time.process_time() - started
    store = InMemoryPosStore()
    head = store.lock_ledger("bench", "run")
    assert head is not None
    started = time.process_time()
    work = plan_commit(
        distributor="bench", run_id="run", token="t", head=head,
        staged=lambda shard: [staged.shard(shard)], staged_shards=set(staged.shards), sums=[staged.sums()],
        previous=None, read_object=lambda key: None, store=store,
    )  # fmt: skip
    commit_cpu = time.process_time() - started
    plan = work.plan
    chunked = plan.chunk_count() > 1  # staged, with the commit marker in the last transaction
    writes = plan.size() + 2 + 1 + 2 * (plan.chunk_count() - 1) + (1 if chunked else 0)
    return {"rows": rows, "writes": writes, "per_1000_lines": round(writes * 1000 / rows, 2),
            "account_quarters": len(plan.totals), "unmatched": len(plan.unmatched),
            "transactions": plan.chunk_count(), "ledger_objects": len(work.shard_bodies),
            "read_cpu_s": round(read_cpu, 3), "commit_cpu_s": round(commit_cpu, 3),
            "peak_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}  # fmt: skip


def figures(rows: list[int], repeat: int = 3, modes: list[str] | None = None, echo: bool = False) -> dict:
    """{"python", "cores", "sizes": {rows: {mode: {"rows_per_s", "ratio", "peak_mib", "imports_mib"}}}}:
    CPU-time rows/s of each mode beside a bare csv.reader loop over the same file, best of ``repeat``."""
    modes = modes or list(MODES)
    out: dict = {"python": sys.version.split()[0], "cores": os.cpu_count(), "sizes": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for size in rows:
            path = Path(tmp) / f"pos-{size}.csv"
            generate(path, size)
            if echo:
                print(f"\n{size:,} rows, {path.stat().st_size / 1e6:.1f} MB")
            sheet: dict = {}
            bare = 0.0
            for mode in modes:
                if mode == "pydantic" and size > 200_000:
                    continue
                runs = []
                source = shuffled(path) if mode == "core-shuffled" else path
                for _ in range(repeat):  # interleaved with the bare loop: same machine state
                    runs.append(run_child(mode, source))
                    if mode != "bare":
                        bare = min(bare or 1e9, run_child("bare", source)["seconds"])
                if source != path:
                    source.unlink()
                best = min(r["seconds"] for r in runs)
                if mode == "bare":
                    bare = best
                figure = {
                    "rows_per_s": round(size / best),
                    "ratio": round(bare / best, 3) if mode != "bare" else 1.0,
                    "peak_mib": round(max(r["peak_kib"] for r in runs) / 1024, 1),
                    "imports_mib": round(min(r["baseline_kib"] for r in runs) / 1024, 1),
                    "imports_ms": round(min(r["import_seconds"] for r in runs) * 1000),
                }
                sheet[mode] = figure
                if echo:
                    ratio = f"ratio {figure['ratio']:4.2f}" if mode != "bare" else "          "
                    print(f"  {MODES[mode]:<72} {figure['rows_per_s']:>10,} rows/s  {ratio}  "
                          f"peak RSS {figure['peak_mib']:6.1f} MiB (imports {figure['imports_mib']:.1f} MiB, "
                          f"{figure['imports_ms']} ms before the clock)")  # fmt: skip
            out["sizes"][size] = sheet
            path.unlink()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, nargs="*", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per mode and size; the fastest is kept")
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON document")
    parser.add_argument("--writes", action="store_true", help="DynamoDB writes of the commit per file size")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--shuffle", nargs=2, metavar=("PATH", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.shuffle:
        shuffle(Path(args.shuffle[0]), Path(args.shuffle[1]))
        return
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    if args.writes:
        for size in args.rows:
            print(json.dumps(commit_writes(size)))
        return
    if args.json:
        print(json.dumps(figures(args.rows, args.repeat, args.modes), indent=2))
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; CPU seconds, best of {args.repeat}; "
          "peak RSS of a fresh process per run")  # fmt: skip
    sheet = figures(args.rows, args.repeat, args.modes, echo=True)
    sizes = list(sheet["sizes"].values())
    if len(sizes) > 1:
        print("\npeak RSS, largest file / smallest file:")
        for mode in sizes[0]:
            if mode in sizes[-1]:
                print(f"  {MODES[mode]:<72} {sizes[-1][mode]['peak_mib'] / sizes[0][mode]['peak_mib']:.2f}x")


if __name__ == "__main__":
    main()
