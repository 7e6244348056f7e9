"""``hub plan allocate`` and ``hub report plan``: top-down planning and the board report.

Both read the rollups of the running local hub when ``.hub/local.json`` is there, else of the deployment
the environment describes (``PLAN_TABLE``, AWS credentials). ``--apply`` posts the proposed plans as
signed ``plan.upserted`` events to the local hub's ``/events`` (the demo signing source).
"""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from plan_rollup.allocate import METHODS

from hub.downloads_cli import fetch_to
from shared.downloads import PLAN_REPORT_FORMATS, plan_report_route


def register(subparsers: Any) -> None:
    plan = subparsers.add_parser(
        "plan", help="the annual operating plan: allocate a node's plan to its children"
    )
    plan.add_argument("--home", default=".", help="where the local hub's .hub/ lives (default: here)")
    commands = plan.add_subparsers(dest="plan_command", required=True)
    allocate = commands.add_parser("allocate", help="propose children's plans that sum to the node's plan")
    allocate.add_argument("--node", required=True, help="the node's id")
    allocate.add_argument(
        "--type", choices=["territory", "account", "opportunity"], help="when the id names several"
    )
    allocate.add_argument("--year", required=True, type=int)
    allocate.add_argument(
        "--by", required=True, choices=METHODS, help="weights: last year's actual, or equal"
    )
    allocate.add_argument("--apply", action="store_true", help="post the proposals as signed plan events")
    allocate.set_defaults(func=cmd_allocate)

    report = subparsers.add_parser("report", help="reports")
    report.add_argument("--home", default=".", help="where the local hub's .hub/ lives (default: here)")
    reports = report.add_subparsers(dest="report_command", required=True)
    board = reports.add_parser("plan", help="the board report: HTML with charts, CSV and XLSX")
    board.add_argument("--year", required=True, type=int)
    board.add_argument("--root", help="the node to start from (default: every root)")
    board.add_argument("--out", default="reports/plan", help="the folder to write to (default: reports/plan)")
    board.add_argument(
        "--from-hub",
        action="store_true",
        help="fetch the report the monthly schedule wrote, from the running local hub's API "
        "(GET /plan/<year>/report with its api_token), instead of making one",
    )
    board.add_argument(
        "--month", help="with --from-hub: the month it was written, yyyy-mm (default: the newest)"
    )
    board.set_defaults(func=cmd_report_plan)


def _store(home: str) -> Any:
    path = Path(home).resolve()
    if (path / ".hub" / "local.json").is_file():
        from hub.local_state import use_local_hub

        use_local_hub(path)
    from shared.settings import get_settings
    from shared.store.plan import DynamoRollupStore

    get_settings.cache_clear()
    return DynamoRollupStore()


def _table(rows: list[dict[str, Any]]) -> str:
    columns = list(rows[0]) if rows else []
    text = [[str(r[c]) if r[c] is not None else "" for c in columns] for r in rows]
    widths = [max([len(c), *(len(t[i]) for t in text)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for t in text:
        lines.append(
            "  ".join(
                v.rjust(w) if i > 2 else v.ljust(w) for i, (v, w) in enumerate(zip(t, widths, strict=True))
            )
        )
    return "\n".join(lines)


def cmd_allocate(args: argparse.Namespace) -> int:
    from plan_rollup.allocate import allocate

    store = _store(args.home)
    nodes = [n for n in store.nodes_with_id(args.node) if not args.type or n.ref.type == args.type.upper()]
    if not nodes:
        raise SystemExit(f"no plan node {args.node}")
    if len(nodes) > 1:
        raise SystemExit(
            f"{args.node} names several nodes ({', '.join(n.ref.type.lower() for n in nodes)}): use --type"
        )
    node = nodes[0]
    plan = {
        q: amount for q in (1, 2, 3, 4) if (amount := store.plan_figure(node.ref, (args.year, q))) is not None
    }
    if not plan:
        raise SystemExit(f"{args.node} has no plan for {args.year}")
    children = store.child_nodes(node.ref)
    last_year = {
        c.ref: {
            q: cell.actual for (y, q), cell in store.cells_of(c.ref, (args.year - 1, args.year - 1)).items()
        }
        for c in children
    }
    result = allocate(node, args.year, args.by, plan, children, last_year)
    print(f"{node.ref.type.lower()} {node.ref.id} plan {args.year}: "
          + ", ".join(f"Q{q} {a}" for q, a in sorted(plan.items())) + f"  (by {args.by})")  # fmt: skip
    rows = result.rows()
    if rows:
        print(_table(rows))
    for note in result.notes:
        print(f"note: {note}")
    if not args.apply:
        print("(a proposal: --apply posts it as signed plan.upserted events)")
        return 0
    from hub.events_cli import post_signed
    from hub.local_state import local_info

    info = local_info(Path(args.home).resolve())
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    data = result.events_data()
    failed = 0
    for start in range(0, len(data), 100):
        events = [{"event_id": f"alloc-{uuid.uuid4()}", "type": "plan.upserted", "occurred_at": now,
                   "source": info["events_source"], "data": d} for d in data[start : start + 100]]  # fmt: skip
        status, text = post_signed(info, json.dumps({"events": events}).encode())
        accepted = json.loads(text).get("accepted") if status < 300 else None
        print(f"posted {len(events)} plan events: {status} accepted={accepted}")
        failed += status >= 300
    return 1 if failed else 0


def cmd_report_plan(args: argparse.Namespace) -> int:
    from plan_rollup.export import gather_report, render_all, report_name

    if args.from_hub:
        return _fetch_report(args)
    if args.month:
        raise SystemExit("--month is for --from-hub: a report made here holds the figures as they are now")

    store = _store(args.home)
    try:
        report = gather_report(store, args.year, args.root)
    except LookupError as exc:
        raise SystemExit(str(exc)) from exc
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for extension, body in render_all(report).items():
        path = out / f"{report_name(report)}.{extension}"
        path.write_bytes(body)
        print(path)
    print(f"{len(report.nodes)} nodes, {len(report.levels())} levels")
    return 0


def _fetch_report(args: argparse.Namespace) -> int:
    """The three files of the board report the schedule wrote, as the read API hands them over."""
    if args.root:
        raise SystemExit("--root is not served: the monthly schedule writes the report of every root")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for extension in PLAN_REPORT_FORMATS:
        query = {"format": extension, **({"month": args.month} if args.month else {})}
        path = out / f"plan-{args.year}.{extension}"
        if fetch_to(args.home, plan_report_route(args.year), query, str(path), f"plan {args.year}") != 0:
            return 1
        print(path)
    return 0
