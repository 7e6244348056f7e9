"""The running local hub as other commands see it: what it wrote to ``.hub/local.json``.

Commands against a running local hub call ``use_local_hub()`` first, which points this process's
AWS clients and settings at it. This module sits below ``hub.cli`` and the command modules, so
they all import it at the top without a circle.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hub.local.resources import base_environment, hub_environment
from hub.local.template import HubTemplate


def local_info(home: Path | None = None) -> dict[str, Any]:
    """What the running local hub wrote to ``.hub/local.json``."""
    path = (home or Path.cwd()) / ".hub" / "local.json"
    if not path.is_file():
        raise SystemExit(f"no running local hub: {path} not found (start it with `hub local`)")
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def use_local_hub(home: Path | None = None) -> dict[str, Any]:
    """Point this process's AWS clients and settings at the running local hub."""
    info = local_info(home)
    os.environ.update(base_environment(info["aws_endpoint_url"]))
    template = HubTemplate()
    for lid, url in info.get("queues", {}).items():
        template.physical.setdefault(lid, {})["Ref"] = url
    os.environ.update(hub_environment(template))
    return info
