"""Reading back what the hub did in the embedded AWS: emails sent through SES."""

from __future__ import annotations

import json
import urllib.request
from typing import Any


def sent_emails(aws_endpoint_url: str) -> list[dict[str, Any]]:
    """Every email SES accepted, oldest first: source, destinations, subject, body."""
    with urllib.request.urlopen(f"{aws_endpoint_url}/moto-api/data.json", timeout=10) as answer:
        data = json.load(answer)
    return list(data.get("ses", {}).get("Message", []))


def emails_to(aws_endpoint_url: str, address: str) -> list[dict[str, Any]]:
    return [
        m
        for m in sent_emails(aws_endpoint_url)
        if address in m.get("destinations", {}).get("ToAddresses", [])
    ]
