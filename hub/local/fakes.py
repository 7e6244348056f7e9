"""Local stand-ins for services outside AWS, started beside the local hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def start_fakes(home: Path) -> tuple[dict[str, Any], list[Any]]:
    """Start the fakes; returns what to add to ``.hub/local.json`` and how to stop them."""
    from hub.fake_mailchimp import start_for_local_hub

    info: dict[str, Any] = {"environment": {}}
    stoppers: list[Any] = []
    mailchimp, stop_mailchimp = start_for_local_hub(home)
    info["environment"].update(mailchimp.pop("environment"))
    info.update(mailchimp)
    stoppers.extend(stop_mailchimp)
    # A demo signing source for POST /events (its secret in the embedded SSM).
    from hub.events_cli import seed_local_source

    info.update(seed_local_source())
    return info, stoppers
