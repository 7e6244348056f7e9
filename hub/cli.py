"""``hub``: the hub's command line (the local hub and the operator commands).

Each area adds its commands through a ``register(subparsers)`` function in its own module;
this file only puts them together.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.local_state import local_info

# Modules that add sub-commands: each has ``register(subparsers) -> None``; the parser they
# add calls ``set_defaults(func=...)`` with a function taking the parsed arguments.
COMMAND_MODULES = (
    "hub.leads_cli", "hub.mailchimp_cli", "hub.events_cli", "hub.plan_cli", "hub.alerts_cli", "hub.config_cli",
    "hub.downloads_cli",
)  # fmt: skip


def _cmd_local(args: argparse.Namespace) -> int:
    from hub.local.server import run_local

    return run_local(Path(args.home).resolve(), args.port, args.aws_port, fresh=args.fresh)


def _cmd_tick(args: argparse.Namespace) -> int:
    info = local_info()
    schedules = info.get("schedules")
    if isinstance(schedules, list) and args.name not in schedules:
        print(
            f"no schedule {args.name!r} in the local hub; its schedules: {', '.join(schedules)}",
            file=sys.stderr,
        )
        return 2
    request = urllib.request.Request(
        f"{info['api_url']}/_hub/tick/{urllib.parse.quote(args.name, safe='')}",
        method="POST",
        headers={"authorization": f"Bearer {info['api_token']}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=300) as answer:
            print(answer.read().decode())
    except urllib.error.HTTPError as error:  # the hub's answer names what went wrong: say it, no traceback
        print(f"schedule {args.name}: {error.code} {error.read().decode(errors='replace')}", file=sys.stderr)
        return 1
    return 0


def _cmd_emails(args: argparse.Namespace) -> int:
    """The local outbox's last emails (all of them at ``/_hub/outbox`` of the local API, as pages)."""
    from hub.local.inspect import sent_emails

    for message in sent_emails(local_info()["aws_endpoint_url"], to=args.to, last=args.last):
        print(f"To: {', '.join(message['destinations'].get('ToAddresses', []))}")
        print(f"Subject: {message['subject']}\n\n{message.get('text') or message['body']}\n{'-' * 60}")
    return 0


def _cmd_openapi(args: argparse.Namespace) -> int:
    from hub.openapi import OPENAPI_PATH, build_openapi, render, write_openapi

    if args.check:
        current = OPENAPI_PATH.read_text(encoding="utf-8") if OPENAPI_PATH.is_file() else ""
        if current != render(build_openapi()):
            print(
                f"{OPENAPI_PATH} differs from the routes' declared models: run `hub openapi`", file=sys.stderr
            )
            return 1
        print(f"{OPENAPI_PATH} matches the code")
        return 0
    changed = write_openapi()
    print(f"{OPENAPI_PATH} {'written' if changed else 'unchanged'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="The CRM integration hub's command line.")
    sub = parser.add_subparsers(dest="command", required=True)

    local = sub.add_parser("local", help="run the whole hub on this machine (no AWS account, no Docker)")
    local.add_argument("--home", default=".", help="where .hub/ and drop/ live (default: here)")
    local.add_argument("--port", type=int, default=8787, help="HTTP API port (another free one if taken)")
    local.add_argument(
        "--aws-port", type=int, default=4599, help="embedded AWS port (another free one if taken)"
    )
    local.add_argument(
        "--fresh", action="store_true", help="start empty: forget the data kept in .hub/data by earlier runs"
    )
    local.set_defaults(func=_cmd_local)

    tick = sub.add_parser("tick", help="run a schedule of the running local hub now")
    tick.add_argument("name", help="the schedule's name (.hub/local.json lists them), e.g. alerts-sweep")
    tick.set_defaults(func=_cmd_tick)

    emails = sub.add_parser("emails", help="show the emails the running local hub has sent")
    emails.add_argument("--last", type=int, default=10, help="how many of the newest (default: 10)")
    emails.add_argument("--to", help="only the emails sent to this address")
    emails.set_defaults(func=_cmd_emails)

    openapi = sub.add_parser("openapi", help="write docs/openapi.json from the routes' declared models")
    openapi.add_argument("--check", action="store_true", help="only say whether the file matches the code")
    openapi.set_defaults(func=_cmd_openapi)

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        register: Callable[[Any], None] = module.register
        register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
