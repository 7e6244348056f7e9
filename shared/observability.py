"""Observability set up once: powertools Logger, Metrics and Tracer.

Every function imports ``logger``, ``metrics`` and ``tracer`` from here. The service name comes
from ``POWERTOOLS_SERVICE_NAME``, which the template sets per function; the metrics namespace
from ``POWERTOOLS_METRICS_NAMESPACE``. Personal data is masked before it reaches a log line.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from aws_lambda_powertools import Logger, Metrics

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

F = TypeVar("F", bound=Callable[..., Any])

# Only botocore's calls are traced: patching every library the X-Ray SDK knows costs cold start.
TRACED_MODULES = ("botocore",)


class LazyTracer:
    """powertools' Tracer, built on the first traced call instead of at import.

    Building a Tracer imports the X-Ray SDK (a third of a handler's import time), even where
    tracing is off. Here the decorators wrap at import for free; the first invocation builds the
    Tracer, patching only ``TRACED_MODULES``, and only when tracing is on (in Lambda, not turned off
    by ``POWERTOOLS_TRACE_DISABLED``). Where tracing is off, the wrapped function is called as is.
    """

    def __init__(self) -> None:
        self._tracer: Tracer | None = None

    @staticmethod
    def enabled() -> bool:
        disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() in {"1", "true", "yes", "on"}
        in_lambda = bool(os.environ.get("LAMBDA_TASK_ROOT")) and not os.environ.get("AWS_SAM_LOCAL")
        return in_lambda and not disabled

    def real(self) -> Tracer:
        if self._tracer is None:
            from aws_lambda_powertools import Tracer

            self._tracer = Tracer(patch_modules=TRACED_MODULES)
        return self._tracer

    def _lazy(self, fn: F, decorate: Callable[[Tracer, F], Callable[..., Any]]) -> F:
        traced: list[Callable[..., Any]] = []

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not self.enabled():
                return fn(*args, **kwargs)
            if not traced:
                traced.append(decorate(self.real(), fn))
            return traced[0](*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    def capture_lambda_handler(self, fn: F) -> F:
        return self._lazy(fn, lambda tracer, f: tracer.capture_lambda_handler(f))

    def capture_method(self, fn: F) -> F:
        return self._lazy(fn, lambda tracer, f: tracer.capture_method(f))


logger = Logger(utc=True)
metrics = Metrics()
tracer = LazyTracer()


def mask_email(email: str | None) -> str:
    """``jane.doe@example.com`` -> ``j***@example.com``: enough to correlate, not to identify."""
    if not email:
        return ""
    local, _, domain = email.partition("@")
    if not domain:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_phone(phone: str | None) -> str:
    """Keep the last two digits of a phone number."""
    if not phone:
        return ""
    digits = [c for c in phone if c.isdigit()]
    return "***" + "".join(digits[-2:])
