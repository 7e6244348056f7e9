"""Local stand-ins for services outside AWS, started beside the local hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def start_fakes(home: Path) -> tuple[dict[str, Any], list[Any]]:
    """Start the fakes; returns what to add to ``.hub/local.json`` and how to stop them."""
    return {"environment": {}}, []
