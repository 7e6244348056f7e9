"""Import time of each handler module in a fresh interpreter, beside ``import boto3`` alone.

Run: ``.venv/bin/python bench/imports.py`` (each figure is the best of 5 fresh interpreters,
from ``python -X importtime``'s cumulative microseconds for the top-level module).

``shared/`` and ``functions/`` are byte-compiled first, as the packaged layer is (``make
build-SharedLayer``) and as site-packages (boto3 included) always is: with ``PYTHONDONTWRITEBYTECODE``
set, every fresh interpreter would otherwise compile our sources again and charge it to the handlers.
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
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'functions'}", "AWS_REGION": "us-east-1",
           "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "false"}  # fmt: skip
    best = float("inf")
    for _ in range(runs):
        result = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"],
                                capture_output=True, text=True, env=env, check=True)  # fmt: skip
        pattern = rf"import time:\s+\d+ \|\s+(\d+) \| {re.escape(module)}$"
        found = [int(m.group(1)) for m in re.finditer(pattern, result.stderr, re.MULTILINE)]
        best = min(best, found[-1] / 1000)
    return best


def main() -> None:
    import compileall

    for folder in ("shared", "functions"):
        compileall.compile_dir(ROOT / folder, quiet=1)
    rows = [("boto3 (alone)", import_ms("boto3"))]
    for spec in HubTemplate().functions().values():
        rows.append((spec.module, import_ms(spec.module)))
    width = max(len(name) for name, _ in rows)
    print(f"{'module':<{width}}  import ms (best of 5, fresh interpreter)")
    for name, ms in rows:
        print(f"{name:<{width}}  {ms:8.1f}")


if __name__ == "__main__":
    main()
