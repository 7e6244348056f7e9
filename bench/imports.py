"""Import time of each handler module in a fresh interpreter, beside ``import boto3`` alone.

Run: ``.venv/bin/python bench/imports.py`` (each figure is the best of 5 fresh interpreters,
from ``python -X importtime``'s cumulative microseconds for the top-level module; for a ``+first-call``
row, summed over its top-level imports).

``shared/`` and ``functions/`` are byte-compiled first, as the packaged layer (``make build-SharedLayer``)
and the functions' code (``functions/Makefile``) are and as site-packages (boto3 included) always is: with
``PYTHONDONTWRITEBYTECODE`` set, every fresh interpreter would otherwise compile our sources again and
charge it to the handlers.

``--instructions`` counts instructions instead (valgrind's cachegrind, one run each, the interpreter's own
start-up subtracted): the same on a busy machine as on a quiet one, though blind to file-system time.

Each handler is imported with its function's environment from the template (Globals and its own, e.g.
``PYDANTIC_DISABLE_PLUGINS``), ``boto3`` with the Globals'. ``--uncompiled`` imports the functions' code
from a copy without ``.pyc``, as SAM's default Python build shipped it before ``functions/Makefile`` (Lambda
cannot write ``.pyc`` under ``/var/task``, so each cold start compiled it): the figure before that change.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "functions")]

from hub.local.template import HubTemplate  # noqa: E402

# Handlers that import their stores on the first call, not at import: the import alone leaves out what
# every invocation needs before it can answer, so each has a second row ``<module>+first-call`` that
# imports those modules too (for reports_api, the lightest route's: the CRM store of the leads,
# opportunity and alerts routes; the plan and POS routes import their own stores).
FIRST_CALL = {
    "leads_webhook.app": (
        "leads_webhook.storage",
        "shared.store.crm",
        "shared.store.state",
        "shared.config_store",
    ),
    "reports_api.app": ("shared.store.crm",),
    # its stores, signing secrets and the stage catalog (read from config-good/stages.yaml.json)
    "crm_events.app": ("crm_events.storage", "shared.config_store", "shared.signing"),
    # every upload is parsed as YAML (shared.config_store.parse_document imports PyYAML when it runs)
    "config_validator.app": ("yaml",),
}


def import_ms(modules: tuple[str, ...], env: dict[str, str], runs: int = 5) -> float:
    """Best of ``runs`` of the top-level imports' cumulative time (ms); a module already imported by an earlier
    one adds nothing."""
    best = float("inf")
    for _ in range(runs):
        result = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {', '.join(modules)}"],
                                capture_output=True, text=True, env=env, check=True)  # fmt: skip
        total = 0
        for module in modules:
            pattern = rf"import time:\s+\d+ \|\s+(\d+) \| {re.escape(module)}$"
            found = [int(m.group(1)) for m in re.finditer(pattern, result.stderr, re.MULTILINE)]
            total += found[-1] if found else 0
        best = min(best, total / 1000)
    return best


def import_instructions(modules: tuple[str, ...], env: dict[str, str]) -> float:
    """Millions of instructions to import ``module`` in a fresh interpreter (valgrind), start-up excluded."""

    def count(code: str) -> int:
        result = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                                 sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)  # fmt: skip
        return int(re.findall(r"I\s+refs:\s+([\d,]+)", result.stderr)[-1].replace(",", ""))

    return (count(f"import {', '.join(modules)}") - count("pass")) / 1e6


def _env(function_env: dict[str, str], functions: Path = ROOT / "functions") -> dict[str, str]:
    return {**os.environ, **function_env, "PYTHONPATH": f"{ROOT}:{functions}", "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1", "POWERTOOLS_TRACE_DISABLED": "false"}  # fmt: skip


def main() -> None:
    import argparse
    import compileall

    parser = argparse.ArgumentParser()
    parser.add_argument("--instructions", action="store_true", help="count instructions (valgrind), not ms")
    parser.add_argument(
        "--uncompiled", action="store_true", help="the functions' code without .pyc (see above)"
    )
    args = parser.parse_args()
    measure = import_instructions if args.instructions else import_ms
    for folder in ("shared", "functions"):
        compileall.compile_dir(ROOT / folder, quiet=1)
    functions = ROOT / "functions"
    if args.uncompiled:
        functions = Path(tempfile.mkdtemp()) / "functions"
        shutil.copytree(ROOT / "functions", functions, ignore=shutil.ignore_patterns("__pycache__"))
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    template = HubTemplate()
    globals_env = template.doc["Globals"]["Function"]["Environment"]["Variables"]
    rows = [
        (
            "boto3 (alone)",
            measure(("boto3",), _env({k: str(template.resolve(v)) for k, v in globals_env.items()})),
        )
    ]
    for spec in template.functions().values():
        env = _env(template.function_environment(spec.logical_id), functions)
        rows.append((spec.module, measure((spec.module,), env)))
        if first_call := FIRST_CALL.get(spec.module):
            rows.append((f"{spec.module}+first-call", measure((spec.module, *first_call), env)))
    if args.uncompiled:
        shutil.rmtree(functions.parent)
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
