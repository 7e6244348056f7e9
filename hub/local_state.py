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
    """What the running local hub wrote to ``.hub/local.json`` (not when its process is gone)."""
    path = (home or Path.cwd()) / ".hub" / "local.json"
    if not path.is_file():
        raise SystemExit(f"no running local hub: {path} not found (start it with `hub local`)")
    info: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    pid = info.get("pid")
    if isinstance(pid, int) and not process_alive(pid):
        raise SystemExit(f"no running local hub: {path} is left from process {pid}, which is gone")
    return info


def recorded_pid(path: Path) -> int | None:
    """The process id a ``local.json`` names, if it can be read."""
    try:
        pid = json.loads(path.read_text(encoding="utf-8")).get("pid")
    except (OSError, ValueError, AttributeError):
        return None
    return pid if isinstance(pid, int) else None


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
    except OSError:
        return True  # no /proc (macOS): the signal said it exists
    return not any(line.startswith("State:") and "Z" in line.split()[1:2] for line in status.splitlines())


def use_local_hub(home: Path | None = None) -> dict[str, Any]:
    """Point this process's AWS clients and settings at the running local hub."""
    info = local_info(home)
    os.environ.update(base_environment(info["aws_endpoint_url"]))
    template = HubTemplate()
    for lid, url in info.get("queues", {}).items():
        template.physical.setdefault(lid, {})["Ref"] = url
    os.environ.update(hub_environment(template))
    return info
