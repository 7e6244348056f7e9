"""Observability set up once: powertools Logger, Metrics and Tracer.

Every function imports ``logger``, ``metrics`` and ``tracer`` from here. The service name comes
from ``POWERTOOLS_SERVICE_NAME``, which the template sets per function; the metrics namespace
from ``POWERTOOLS_METRICS_NAMESPACE``. Personal data is masked before it reaches a log line.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(utc=True)
metrics = Metrics()
tracer = Tracer()


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
