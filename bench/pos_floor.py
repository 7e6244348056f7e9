"""The floor under pos_ingest's POS path (issue 13): the per-line steps that reading, checking and staging
a sell-through file for the ledger cannot do without, each timed alone at C speed, beside a bare
``csv.reader`` loop over the same bench file (bench/pos.py's). CPU seconds.

The Python steps are what the reference path does per line, written as the cheapest form CPython has (one
``map`` over a column, no reading, no caches, no batches): their sum is a lower bound for any
reorganisation of ``validate.py`` and ``ledger.StagedLines`` that keeps the ledger's staged text (format 2).
``--duckdb`` times the same staging done by DuckDB (one thread): the file's lines read and numbered, split
and checked, and the staged texts built per shard in file order (``string_agg``); the shard here is
DuckDB's own hash, not the ledger's crc32, which DuckDB does not have (the crc32 of each invoice would
be one more round trip through Python). ``--columnar-ledger`` times a ledger with no per-line text at
all: the run's lines and the ledger's shards as Parquet columns DuckDB writes and joins (the commit's
take-backs as a join, the shards' new line sets as an anti-join).

    .venv/bin/python bench/pos_floor.py                   # 100,000 rows
    .venv/bin/python bench/pos_floor.py --rows 1000000 --duckdb
    .venv/bin/python bench/pos_floor.py --rows 1000000 --columnar-ledger --memory-limit 256MB
"""

from __future__ import annotations

import argparse
import csv
import gc
import sys
import tempfile
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, getcontext
from itertools import repeat
from operator import mul
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pos import generate  # bench/ is not a package

CENT = Decimal("0.01")
FIELD, RECORD = "\x1f", "\x1e"


def timed(steps: dict[str, float], name: str, work: Callable[[], Any]) -> Any:
    """``work()`` timed without the cyclic collector (the POS path raises its threshold; a floor has none)."""
    gc.disable()
    started = time.process_time()
    try:
        out = work()
    finally:
        steps[name] = time.process_time() - started
        gc.enable()
    return out


def bare(path: Path) -> float:
    started = time.process_time()
    with path.open(newline="", encoding="utf-8") as handle:
        for _row in csv.reader(handle):
            pass
    return time.process_time() - started


def python_steps(path: Path) -> dict[str, float]:
    with path.open(newline="", encoding="utf-8") as handle:
        columns = list(zip(*list(csv.reader(handle))[1:], strict=True))
    count = len(columns[0])
    inv, line, part, customer = (list(map(str.strip, columns[i])) for i in (1, 2, 3, 8))
    names = {name: f"acct-{n}" for n, name in enumerate(sorted(set(customer)))}  # an account per customer
    account = list(map(names.__getitem__, customer))
    period, currency = ["2026-Q1"] * count, ["USD"] * count
    steps: dict[str, float] = {}
    qty = timed(steps, "Decimal(quantity)", lambda: list(map(Decimal, columns[4])))
    price = timed(steps, "Decimal(unit price)", lambda: list(map(Decimal, columns[5])))
    product = timed(steps, "quantity x unit price", lambda: list(map(mul, qty, price)))
    rounded = timed(
        steps,
        "rounded to the cent",
        lambda: list(map(Decimal.quantize, product, repeat(CENT), repeat(ROUND_HALF_UP))),
    )
    texts = timed(steps, "str of each rounded amount", lambda: list(map(getcontext().to_sci_string, rounded)))
    timed(steps, "compared with the amount cells", lambda: texts == list(columns[6]))
    timed(
        steps,
        "4 key and customer columns stripped",
        lambda: [list(map(str.strip, columns[i])) for i in (1, 2, 3, 8)],
    )
    timed(
        steps,
        "repeats: keys hashed into a dict",
        lambda: dict.fromkeys(map(hash, zip(inv, line, strict=True))),
    )
    keys = timed(
        steps,
        "staged keys (invoice, line joined)",
        lambda: list(map(FIELD.join, zip(inv, line, strict=True))),
    )
    rests = timed(
        steps, "staged rests (7 fields joined)",
        lambda: list(map(FIELD.join, zip(columns[6], columns[4], account, period, currency, part, customer, strict=True))),
    )  # fmt: skip
    sum_keys = timed(
        steps,
        "sum keys (4 fields joined)",
        lambda: list(map(FIELD.join, zip(account, period, currency, part, strict=True))),
    )

    def sums() -> None:  # ledger._sum: no C-level form found (see its docstring)
        amounts: dict[str, Decimal] = {}
        quantities: dict[str, Decimal] = {}
        get = amounts.get
        for key, amount, quantity in zip(sum_keys, rounded, qty, strict=True):
            total = get(key)
            if total is None:
                amounts[key], quantities[key] = amount, quantity
            else:
                amounts[key] = total + amount
                quantities[key] += quantity

    timed(steps, "sums per account, period, currency, part", sums)
    timed(
        steps,
        "lines per end customer (Counter)",
        lambda: Counter(zip(account, currency, customer, strict=True)),
    )
    shards = timed(
        steps, "ledger shard of each invoice (crc32)",
        lambda: list(map(int.__mod__, map(zlib.crc32, map(str.encode, inv)), repeat(16))),
    )  # fmt: skip

    def bucket() -> None:
        for column in (keys, list(map(str, range(count))), rests):
            buckets: list[list[str]] = [[] for _ in range(16)]
            deque(map(list.append, map(buckets.__getitem__, shards), column), maxlen=0)

    timed(steps, "3 staged columns bucketed by shard", bucket)
    text = (RECORD.join(keys) + RECORD.join(rests)).encode()
    timed(steps, "staged text compressed (zlib level 1)", lambda: zlib.compress(text, 1, wbits=-15))
    return steps


# the bench file's data lines, one VARCHAR each (split by DuckDB's string_split)
LINES = (
    "read_csv($path, columns={'l': 'VARCHAR'}, header=false, skip=1, delim='\x01', quote='', escape='', "
    "comment='', auto_detect=false, strict_mode=false, null_padding=false, new_line='\\r\\n')"
)
# quantity|price|amount, each a plain number (the engine's check)
PLAIN_NUMBERS = (
    "-?(0|[1-9][0-9]*)(\\.[0-9]{1,6})?\\| *-?[0-9]+(\\.[0-9]{1,6})? *\\|-?(0|[1-9][0-9]*)(\\.[0-9]{1,2})?"
)


def _connect(memory_limit: str, spill: str) -> Any:
    import duckdb

    return duckdb.connect(config={"threads": 1, "memory_limit": memory_limit, "temp_directory": spill})


def duckdb_steps(path: Path, memory_limit: str) -> dict[str, float]:
    import duckdb

    steps: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as spill:
        con = _connect(memory_limit, spill)
        lines = LINES
        timed(steps, "lines read and numbered", lambda: con.execute(
            f"CREATE TEMP TABLE ln AS SELECT row_number() OVER () AS n, l FROM {lines}", {"path": str(path)}
        ))  # fmt: skip
        cells = "SELECT n, string_split(l, ',') AS c FROM ln"
        plain = PLAIN_NUMBERS
        timed(steps, "cells split, numbers checked (regex, casts)", lambda: con.execute(
            f"""SELECT count(*) FILTER (WHERE regexp_full_match(concat_ws('|', c[5], c[6], c[7]), '{plain}')
                AND abs(TRY_CAST(c[5] AS DECIMAL(18, 6)) * TRY_CAST(c[6] AS DECIMAL(18, 6))
                        - TRY_CAST(c[7] AS DECIMAL(18, 2))) <= 0.005) FROM ({cells})"""
        ).fetchall())  # fmt: skip
        staged: list[Any] = []
        try:
            staged = timed(steps, "staged texts per shard, in file order", lambda: con.execute(
                f"""SELECT hash(c[2]) % 16 AS s, string_agg(c[2] || chr(31) || c[3], chr(30) ORDER BY n),
                       string_agg(n::VARCHAR, chr(30) ORDER BY n),
                       string_agg(concat_ws(chr(31), c[7], c[5], 'acct-' || c[9], '2026-Q1', c[8], c[4], c[9]),
                                  chr(30) ORDER BY n)
                FROM ({cells}) GROUP BY s"""
            ).fetchall())  # fmt: skip
        except duckdb.OutOfMemoryException as error:
            print(f"  staged texts per shard: {str(error).splitlines()[0]}")
        timed(steps, "staged texts compressed (zlib level 1)", lambda: [
            zlib.compress((k + r + x).encode(), 1, wbits=-15) for _s, k, r, x in staged
        ])  # fmt: skip
        timed(steps, "sums per account, period, currency, part", lambda: con.execute(
            f"""SELECT count(*) FROM (SELECT c[9], c[1], c[8], c[4], sum(TRY_CAST(c[7] AS DECIMAL(18, 2)))::VARCHAR,
                sum(TRY_CAST(c[5] AS DECIMAL(18, 6)))::VARCHAR FROM ({cells}) GROUP BY ALL)"""
        ).fetchall())  # fmt: skip
        con.close()
    return steps


def columnar_ledger_steps(path: Path, memory_limit: str) -> dict[str, float]:
    """A ledger whose staged lines and shards are columns DuckDB writes and joins (no per-line text): the
    file read and checked once into a table of typed columns (the shard from a stable hash of the
    invoice: md5, since DuckDB's ``hash`` may change between versions), the run's lines written as one
    Parquet file per shard, then the commit against a ledger that already holds the same million
    lines under another run (the worst case: every line overlaps, as a full restatement): the lines it
    takes back and the shards' new line sets, written as Parquet again, and the sums per part."""
    steps: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as spill:
        con = _connect(memory_limit, spill)
        lines = LINES
        plain = PLAIN_NUMBERS
        timed(steps, "read, split, checked into typed columns", lambda: con.execute(
            f"""CREATE TEMP TABLE run AS
            SELECT n, inv, line, (md5_number_lower(inv) % 16)::UTINYINT AS shard, amount, qty, 'acct-' || cust AS account,
                   '2026-Q1' AS period, cur AS currency, part, cust AS end_customer, ok
            FROM (SELECT row_number() OVER () AS n, c[2] AS inv, c[3] AS line, c[4] AS part, c[8] AS cur,
                         c[9] AS cust, TRY_CAST(c[7] AS DECIMAL(18, 2)) AS amount,
                         TRY_CAST(c[5] AS DECIMAL(18, 6)) AS qty,
                         regexp_full_match(concat_ws('|', c[5], c[6], c[7]), '{plain}')
                         AND abs(TRY_CAST(c[5] AS DECIMAL(18, 6)) * TRY_CAST(c[6] AS DECIMAL(18, 6))
                                 - TRY_CAST(c[7] AS DECIMAL(18, 2))) <= 0.005 AS ok
                  FROM (SELECT l, string_split(l, ',') AS c FROM {lines}))""",
            {"path": str(path)},
        ))  # fmt: skip
        staged = Path(spill) / "staged"
        timed(steps, "staged lines as Parquet, a file per shard", lambda: con.execute(
            f"""COPY (SELECT shard, inv, line, n, amount, qty, account, period, currency, part, end_customer
                      FROM run WHERE ok) TO '{staged}' (FORMAT parquet, PARTITION_BY (shard))"""
        ))  # fmt: skip
        ledger = Path(spill) / "ledger"  # set up, not timed: the previous run's lines, the same keys
        con.execute(
            f"""COPY (SELECT shard, inv, line, 'r0' AS run, amount, qty, account, period, currency, part,
                             end_customer FROM run WHERE ok) TO '{ledger}' (FORMAT parquet, PARTITION_BY (shard))"""
        )
        timed(steps, "commit: lines taken back (join on the key)", lambda: con.execute(
            f"""CREATE TEMP TABLE taken AS
            SELECT o.account, o.period, o.currency, o.part, sum(o.amount) AS amount, sum(o.qty) AS qty
            FROM read_parquet('{ledger}/*/*.parquet', hive_partitioning=true) o
            JOIN read_parquet('{staged}/*/*.parquet', hive_partitioning=true) s USING (shard, inv, line)
            GROUP BY ALL"""
        ))  # fmt: skip
        new = Path(spill) / "new"
        timed(steps, "commit: new shard line sets as Parquet", lambda: con.execute(
            f"""COPY (SELECT shard, inv, line, run, amount, qty, account, period, currency, part, end_customer
                      FROM read_parquet('{ledger}/*/*.parquet', hive_partitioning=true) o
                      ANTI JOIN read_parquet('{staged}/*/*.parquet', hive_partitioning=true) s
                          USING (shard, inv, line)
                      UNION ALL
                      SELECT shard, inv, line, 'r1', amount, qty, account, period, currency, part,
                             end_customer FROM read_parquet('{staged}/*/*.parquet', hive_partitioning=true))
                TO '{new}' (FORMAT parquet, PARTITION_BY (shard))"""
        ))  # fmt: skip
        timed(steps, "sums per account, period, currency, part", lambda: con.execute(
            """SELECT count(*) FROM (SELECT account, period, currency, part, sum(amount)::VARCHAR,
                      sum(qty)::VARCHAR FROM run WHERE ok GROUP BY ALL)"""
        ).fetchall())  # fmt: skip
        size = sum(f.stat().st_size for f in new.rglob("*.parquet"))
        print(
            f"  (the new ledger: {size / 1e6:.1f} MB of Parquet in {len(list(new.rglob('*.parquet')))} files)"
        )
        con.close()
    return steps


def report(title: str, steps: dict[str, float], bare_s: float) -> None:
    print(title)
    for name, seconds in steps.items():
        print(f"  {name:<46} {seconds:6.3f} s")
    total = sum(steps.values())
    print(
        f"  {'sum':<46} {total:6.3f} s = {total / bare_s:.2f}x the bare loop (0.5x allows {2 * bare_s:.3f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--duckdb", action="store_true", help="also the same staging done by DuckDB")
    parser.add_argument(
        "--columnar-ledger", action="store_true", help="also a ledger of columns DuckDB writes and joins"
    )
    parser.add_argument("--memory-limit", default="1GB", help="DuckDB's (the engine uses 256MB)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pos.csv"
        generate(path, args.rows)
        bare_s = bare(path)
        print(f"{args.rows:,} rows; bare csv.reader loop {bare_s:.3f} s CPU")
        report("per-line Python steps (no reading):", python_steps(path), bare_s)
        if args.duckdb:
            report(
                f"DuckDB, one thread, memory limit {args.memory_limit}:",
                duckdb_steps(path, args.memory_limit),
                bare_s,
            )
        if args.columnar_ledger:
            report(
                f"a columnar ledger (Parquet), DuckDB, one thread, memory limit {args.memory_limit}:",
                columnar_ledger_steps(path, args.memory_limit),
                bare_s,
            )


if __name__ == "__main__":
    main()
