"""The lazy tracer: nothing built while tracing is off; on, the first call builds powertools' Tracer."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.observability import LazyTracer

ROOT = Path(__file__).resolve().parents[2]


def test_tracing_off_calls_through_without_building_a_tracer(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given tracing turned off (as in tests and the local hub)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    tracer = LazyTracer()

    @tracer.capture_method
    def double(x: int) -> int:
        return 2 * x

    # When the decorated function is called, Then it answers and no Tracer was built
    assert double(21) == 42
    assert tracer._tracer is None


ON_PROBE = """
from shared.observability import LazyTracer
tracer = LazyTracer()

@tracer.capture_method
def add(a, b):
    return a + b

assert add(1, 2) == 3
built = tracer._tracer
assert add(3, 4) == 7
assert built is not None and tracer._tracer is built, "one Tracer, built on the first call"
from aws_xray_sdk.core.patcher import _PATCHED_MODULES
print(sorted(_PATCHED_MODULES))
"""


def test_tracing_on_builds_the_tracer_once_on_first_call() -> None:
    # Given tracing on, as in Lambda, in a fresh interpreter (patching botocore must not leak into this one)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LAMBDA_TASK_ROOT": "/var/task",
        "POWERTOOLS_TRACE_DISABLED": "false",
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
        "AWS_REGION": "us-east-1",
    }
    env.pop("AWS_SAM_LOCAL", None)
    # When a traced function is called twice
    result = subprocess.run(
        [sys.executable, "-c", ON_PROBE], capture_output=True, text=True, env=env, cwd=ROOT
    )
    # Then one Tracer was built, with only botocore patched
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "['botocore']"
