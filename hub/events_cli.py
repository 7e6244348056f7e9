"""``hub events replay|sign|post``: operator commands for the events from external CRMs.

``replay`` applies the inbox's events again (the same logic as the function: ``crm_events``),
against the running local hub when ``.hub/local.json`` is there, else against the deployment
the environment describes (``CRM_TABLE``, ``PLAN_TABLE``, ``EVENTS_TABLE``, AWS credentials).
``sign`` prints the ``X-Hub-Signature`` for a body, for curl; ``post`` signs and posts a file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hub.cli_args import existing_file
from hub.local_state import local_info, use_local_hub

DEMO_SOURCE = "demo-crm"
_RELATIVE = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``2026-11-22T10:00:00Z``, ``2026-11-22`` (UTC when no zone), or ``90m`` / ``6h`` / ``3d`` ago."""
    current = now or datetime.now(UTC)
    match = _RELATIVE.match(text.strip())
    if match:
        return current - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a time: {text!r} (ISO 8601, or 90m / 6h / 3d ago)") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def register(subparsers: Any) -> None:
    events = subparsers.add_parser("events", help="events from external CRMs: replay the inbox, sign, post")
    events.add_argument("--home", default=".", help="where the local hub's .hub/ lives (default: here)")
    commands = events.add_subparsers(dest="events_command", required=True)

    replay = commands.add_parser("replay", help="apply the inbox's events received since TIME again")
    replay.add_argument("--since", required=True, type=parse_since, help="ISO time, or 90m / 6h / 3d ago")
    replay.add_argument("--source", help="only the events of this source")
    replay.add_argument("--no-progress", action="store_true", help="no progress bar")
    replay.set_defaults(func=cmd_replay)

    sign = commands.add_parser("sign", help="print the X-Hub-Signature header value for a body file")
    sign.add_argument("file", type=existing_file, help="the body, as it will be sent (- for stdin)")
    sign.add_argument("--secret", help="the signing secret (default: the local hub's events_secret)")
    sign.set_defaults(func=cmd_sign)

    post = commands.add_parser("post", help="sign a body file and POST it to the local hub's /events")
    post.add_argument("file", type=existing_file, help="the body (- for stdin)")
    post.set_defaults(func=cmd_post)


def _read(file: str) -> bytes:
    return sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()


def _local(home: str) -> dict[str, Any]:
    return local_info(Path(home).resolve())


def cmd_sign(args: argparse.Namespace) -> int:
    from shared.signing import sign

    secret = args.secret or _local(args.home)["events_secret"]
    print(sign(_read(args.file), secret, int(time.time())))
    return 0


def cmd_post(args: argparse.Namespace) -> int:
    status, text = post_signed(_local(args.home), _read(args.file))
    print(status, text)
    return 0 if status < 300 else 1


def post_signed(info: dict[str, Any], body: bytes) -> tuple[int, str]:
    """Sign ``body`` with the local hub's demo source and POST it to its ``/events``: (status, answer)."""
    from shared.signing import SIGNATURE_HEADER, SOURCE_HEADER, sign

    request = urllib.request.Request(
        f"{info['api_url']}/events",
        data=body,
        method="POST",
        headers={
            "content-type": "application/json",
            SIGNATURE_HEADER: sign(body, info["events_secret"], int(time.time())),
            SOURCE_HEADER: info["events_source"],
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            status, text = answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    return status, text


def cmd_replay(args: argparse.Namespace) -> int:
    home = Path(args.home).resolve()
    if (home / ".hub" / "local.json").is_file():
        use_local_hub(home)
    from crm_events.service import replay_events
    from crm_events.storage import dynamo_stores

    from shared.config_schemas.stages import StageCatalog
    from shared.config_store import load_config
    from shared.settings import get_settings

    get_settings.cache_clear()
    store = dynamo_stores()
    stages = load_config("stages.yaml", StageCatalog)
    entries = list(store.inbox.read_inbox(args.since, source=args.source))  # read once: the bar's total
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(total=len(entries), unit="event", desc="replay", file=sys.stderr)
    try:
        summary = replay_events(
            store,
            stages,
            args.since,
            source=args.source,
            entries=entries,
            progress=(lambda _: bar.update(1)) if bar else None,
        )
    finally:
        if bar is not None:
            bar.close()
    print(json.dumps({"since": args.since.isoformat(), "source": args.source, "replayed": summary.total,
                      "outcomes": dict(summary.outcomes)}))  # fmt: skip
    return 0 if not summary.outcomes.get("invalid") else 1


def seed_local_source(endpoint_url: str | None = None, prefix: str | None = None) -> dict[str, str]:
    """For the local hub: a demo signing source in its SSM, and what ``.hub/local.json`` says of it."""
    import boto3

    secret = "whsec_" + secrets.token_hex(16)
    name = f"{(prefix or os.environ.get('SECRETS_PREFIX') or '/crm-hub').rstrip('/')}/sources/{DEMO_SOURCE}"
    ssm = boto3.client(
        "ssm",
        endpoint_url=endpoint_url or os.environ["AWS_ENDPOINT_URL"],
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
    )
    ssm.put_parameter(Name=name, Value=json.dumps([secret]), Type="SecureString", Overwrite=True)
    return {"events_source": DEMO_SOURCE, "events_secret": secret}
