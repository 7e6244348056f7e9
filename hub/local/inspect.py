"""Reading back what the hub did in the embedded AWS: the emails it sent (the local outbox)."""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import urlencode


def sent_emails(
    aws_endpoint_url: str, *, to: str | None = None, last: int | None = None
) -> list[dict[str, Any]]:
    """Emails SES accepted, oldest first: id, source, destinations, subject, body (the HTML part when there
    is one, else the text part, as the emulated SES kept it), text, html, sent_at.

    Read from the local outbox (``hub.local.outbox``), which indexes them by recipient: one small answer,
    however much else the embedded AWS holds."""
    query = {k: v for k, v in (("to", to), ("last", last)) if v is not None}
    url = f"{aws_endpoint_url}/_hub/outbox.json" + (f"?{urlencode(query)}" if query else "")
    with urllib.request.urlopen(url, timeout=10) as answer:
        return list(json.load(answer)["messages"])


def emails_to(aws_endpoint_url: str, address: str) -> list[dict[str, Any]]:
    return sent_emails(aws_endpoint_url, to=address)
