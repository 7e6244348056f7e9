"""``hub config status [--json]``: whether each configuration document uploaded under ``config/`` was
accepted or refused, when, and why (the status ``config_validator`` records for it).

A refused upload leaves the last good document in force; on AWS the ``ConfigRefusedAlarm`` tells the
operators, and this command (like the local hub's log) says which field and why. Against the running
local hub when ``.hub/local.json`` is there, else against the deployment the environment describes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(subparsers: Any) -> None:
    config = subparsers.add_parser("config", help="configuration documents: accepted or refused, and why")
    config.add_argument("--home", default=".", help="where the local hub's .hub/ lives (default: here)")
    commands = config.add_subparsers(dest="config_command", required=True)
    status = commands.add_parser(
        "status", help="each uploaded document's last verdict (exit 1 when one is refused)"
    )
    status.add_argument("--json", action="store_true", help="one JSON object per line")
    status.set_defaults(func=cmd_status)


def _uploaded(s3: Any, bucket: str, prefix: str) -> list[str]:
    names: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        names += [item["Key"][len(prefix) :] for item in page.get("Contents", [])]
    return sorted(n for n in names if n and not n.endswith("/"))


def cmd_status(args: argparse.Namespace) -> int:
    home = Path(args.home).resolve()
    if (home / ".hub" / "local.json").is_file():
        from hub.local_state import use_local_hub

        use_local_hub(home)
    from shared.aws import client
    from shared.config_store import UPLOAD_PREFIX
    from shared.settings import get_settings
    from shared.store.state import DynamoStateStore

    state = DynamoStateStore()
    names = _uploaded(client("s3"), get_settings().bucket, UPLOAD_PREFIX)
    refused = 0
    for name in names:
        status = state.config_status(name) or {"document": name, "status": "not checked yet", "errors": []}
        refused += status.get("status") == "refused"
        if args.json:
            print(json.dumps(status, default=str))
            continue
        print(f"{name:<32} {status.get('status', ''):<16} {str(status.get('at') or '')[:19]}")
        for error in status.get("errors") or []:
            print(f"    {error.get('field', '')}: {error.get('message', '')}")
    if not args.json:
        print(f"{len(names)} documents, {refused} refused (a refused one leaves the last good one in force)")
    return 1 if refused else 0
