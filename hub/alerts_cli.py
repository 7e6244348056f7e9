"""``hub alerts list [--recipient R] [--since 24h]``: the alerts the hub recorded, oldest first.

Against the running local hub when ``.hub/local.json`` is there, else against the deployment the
environment describes (``CRM_TABLE``, AWS credentials). Reads through the CRM store's alert records.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub.events_cli import parse_since


def register(subparsers: Any) -> None:
    alerts = subparsers.add_parser("alerts", help="alerts the hub sent, held or sent to the fallback")
    alerts.add_argument("--home", default=".", help="where the local hub's .hub/ lives (default: here)")
    commands = alerts.add_subparsers(dest="alerts_command", required=True)
    listing = commands.add_parser("list", help="list recorded alerts")
    listing.add_argument("--recipient", help="only the alerts to this address")
    listing.add_argument("--since", default="24h", type=parse_since, help="ISO time, or 90m / 24h / 7d ago")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(func=cmd_list)


def _line(view: dict[str, Any]) -> str:
    status = view["status"]
    if view.get("message_id"):
        status += f" {view['message_id']}"
    if view.get("digest_key"):
        status += " (in a digest)"
    if view.get("hold_reason") and view["status"] == "held":
        status += f" ({view['hold_reason']}, until {view.get('due_at')})"
    why = f"  fallback: {view['fallback_reason']}" if view.get("fallback_reason") else ""
    return f"{view['created_at'][:19]}  {view['kind']:<22} {view['recipient']:<32} {view['entity']:<28} {status}{why}"


def cmd_list(args: argparse.Namespace) -> int:
    home = Path(args.home).resolve()
    if (home / ".hub" / "local.json").is_file():
        from hub.local_state import use_local_hub

        use_local_hub(home)
    from shared.store.common import format_time
    from shared.store.crm import DynamoCrmStore

    store = DynamoCrmStore()
    since: datetime = args.since
    if args.recipient:
        records = store.alerts_to(args.recipient, format_time(since))
    else:
        records = store.list_alerts(format_time(since), format_time(datetime.now(UTC) + timedelta(seconds=1)))
    for record in records:
        view = record.view()
        print(json.dumps(view, default=str) if args.json else _line(view))
    if not args.json:
        print(f"{len(records)} alerts since {format_time(since)}")
    return 0
