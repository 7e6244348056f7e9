"""Import time of each handler module in a fresh interpreter, beside ``import boto3`` alone.

Run: ``.venv/bin/python bench/imports.py`` (each figure is the best of 5 fresh interpreters,
from ``python -X importtime``'s cumulative microseconds for the top-level module).

``shared/`` and ``functions/`` are byte-compiled first, as the packaged layer is (``make
build-SharedLayer``) and as site-packages (boto3 included) always is: with ``PYTHONDONTWRITEBYTECODE``
set, every fresh interpreter would otherwise compile our sources again and charge it to the handlers.

``--instructions`` counts instructions instead (valgrind's cachegrind, one run each, the interpreter's own
start-up subtracted): the same on a busy machine as on a quiet one, though blind to file-system time.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "functions")]

from hub.local.template import HubTemplate  # noqa: E402


def import_ms(module: str, runs: int = 5) -> float:
    env = _env()
    best = float("inf")
    for _ in range(runs):
        result = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                                capture_output=True, text=True, env=env, check=True)  # fmt: skip
        pattern = rf"import time:\s+\d+ \|\s+(\d+) \| {re.escape(module)}$"
        found = [int(m.group(1)) for m in re.finditer(pattern, result.stderr, re.MULTILINE)]
        best = min(best, found[-1] / 1000)
    return best


def import_instructions(module: str) -> float:
    """Millions of instructions to import ``module`` in a fresh interpreter (valgrind), start-up excluded."""

    def count(code: str) -> int:
        result = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                                 sys.executable, "-c", code], capture_output=True, text=True, env=_env(), check=True)  # fmt: skip
        return int(re.findall(r"I\s+refs:\s+([\d,]+)", result.stderr)[-1].replace(",", ""))

    return (count(f"import {module}") - count("pass")) / 1e6


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'functions'}", "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "false"}  # fmt: skip


def main() -> None:
    import argparse
    import compileall

    parser = argparse.ArgumentParser()
    parser.add_argument("--instructions", action="store_true", help="count instructions (valgrind), not ms")
    args = parser.parse_args()
    measure = import_instructions if args.instructions else import_ms
    for folder in ("shared", "functions"):
        compileall.compile_dir(ROOT / folder, quiet=1)
    rows = [("boto3 (alone)", measure("boto3"))]
    for spec in HubTemplate().functions().values():
        rows.append((spec.module, measure(spec.module)))
    width = max(len(name) for name, _ in rows)
    if not args.instructions:  # bench/sheet.py reads these lines
        print(f"{'module':<{width}}  import ms (best of 5, fresh interpreter)")
        for name, value in rows:
            print(f"{name:<{width}}  {value:8.1f}")
        return
    print(f"{'module':<{width}}  import, M instructions (fresh interpreter)  vs boto3")
    for name, value in rows:
        print(f"{name:<{width}}  {value:8.1f}  {value / rows[0][1]:5.2f}x")


if __name__ == "__main__":
    main()
