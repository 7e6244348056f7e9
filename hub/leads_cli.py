"""``hub leads quarantine list|release``, ``hub leads import|results`` and ``hub routing test``: operator
commands for leads.

They run the function's own logic (``leads_webhook``) against the running local hub when ``.hub/local.json``
is there (``--home``), else against the deployment the environment describes (``CRM_TABLE``, ``STATE_TABLE``,
``HUB_BUCKET``, AWS credentials).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hub.cli_args import existing_file
from hub.downloads_cli import fetch_file
from hub.local_state import use_local_hub
from shared.downloads import IMPORT_RESULTS_ROUTE


def register(subparsers: Any) -> None:
    leads = subparsers.add_parser("leads", help="leads: the spam quarantine, the landing-page form")
    leads.add_argument("--home", default=".", help="where the local hub's .hub/ lives (default: here)")
    leads_commands = leads.add_subparsers(dest="leads_command", required=True)
    quarantine = leads_commands.add_parser("quarantine", help="submissions held as spam")
    q_commands = quarantine.add_subparsers(dest="quarantine_command", required=True)
    listing = q_commands.add_parser("list", help="list quarantined leads, oldest first")
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--json", action="store_true", help="one JSON object a line")
    listing.set_defaults(func=cmd_quarantine_list)
    release = q_commands.add_parser("release", help="take a lead out of quarantine and route it")
    release.add_argument("lead_id")
    release.set_defaults(func=cmd_quarantine_release)
    imported = leads_commands.add_parser(
        "import", help="import a trade-show list (CSV) and wait for it, with a progress bar"
    )
    imported.add_argument("file", help="the CSV as exported (headers like 'E-mail', 'Company Name')")
    imported.add_argument("--name", help="the list's name in the bucket and campaign (default: the file's)")
    imported.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for the import")
    imported.add_argument("--no-progress", action="store_true", help="no progress bar")
    imported.set_defaults(func=cmd_import)
    results = leads_commands.add_parser(
        "results", help="every row of an imported trade-show list with its outcome (the import's results CSV)"
    )
    results.add_argument("key", help="the list's S3 key, e.g. imports/leads/expo-2026.csv")
    results.add_argument("--out", help="write the CSV to this file (default: standard output)")
    results.set_defaults(func=cmd_results)
    snippet = leads_commands.add_parser(
        "form-snippet", help="print the HTML lead form to paste into a landing page"
    )
    snippet.add_argument(
        "--source", help="where the form lives (sent as utm_source), e.g. spring-landing-page"
    )
    snippet.add_argument("--campaign", help="the campaign the leads belong to")
    snippet.add_argument("--return-url", help="the thank-you page to send visitors to (an allowed origin)")
    snippet.add_argument("--api-url", help="the hub's API (default: the running local hub's)")
    snippet.set_defaults(func=cmd_form_snippet)

    routing = subparsers.add_parser("routing", help="lead routing rules")
    routing.add_argument("--home", default=".", help="where the local hub's .hub/ lives (default: here)")
    r_commands = routing.add_subparsers(dest="routing_command", required=True)
    test = r_commands.add_parser(
        "test", help="where leads would go under candidate rules, beside where they went (changes nothing)"
    )
    test.add_argument("--rules", required=True, type=existing_file, help="the candidate routing.yaml")
    source = test.add_mutually_exclusive_group()
    source.add_argument("--leads", type=existing_file, help="a CSV of leads (trade-show format)")
    source.add_argument("--last", type=int, default=None, help="the N most recent stored leads (default 20)")
    test.add_argument("--changed-only", action="store_true", help="print only leads that would move")
    test.set_defaults(func=cmd_routing_test)


def _connect(home: str) -> None:
    """Point settings and clients at the local hub when one runs in ``home``."""
    path = Path(home).resolve()
    if (path / ".hub" / "local.json").is_file():
        use_local_hub(path)
    from shared.settings import get_settings

    get_settings.cache_clear()


def _services() -> Any:
    from leads_webhook.wiring import deployed_services

    return deployed_services()


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    _connect(args.home)
    leads = _services().leads.quarantined(limit=args.limit)
    for lead in leads:
        row = {"lead_id": lead.lead_id, "email": lead.email, "reasons": list(lead.quarantine_reasons),
               "created_at": lead.created_at.isoformat(), "source": lead.source, "company": lead.company}  # fmt: skip
        if args.json:
            print(json.dumps(row))
        else:
            print(
                f"{lead.lead_id}  {lead.created_at:%Y-%m-%d %H:%M}  {lead.email}  [{', '.join(lead.quarantine_reasons)}]"
            )
    if not args.json:
        print(f"{len(leads)} quarantined", file=sys.stderr)
    return 0


def cmd_quarantine_release(args: argparse.Namespace) -> int:
    _connect(args.home)
    from leads_webhook.intake import release_from_quarantine

    try:
        assignment = release_from_quarantine(args.lead_id, _services())
    except (LookupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"released {args.lead_id}: " + (assignment.describe() if assignment else "already routed"))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    """Upload the list under ``imports/leads/`` (the function imports it), follow its status object with a
    progress bar, then print the counts and every rejected row with its reason."""
    from leads_webhook.imports import RESULT_COLUMNS, status_key

    from shared.aws import client
    from shared.downloads import IMPORT_PREFIX, results_key
    from shared.settings import get_settings

    path = Path(args.file)
    if not path.is_file():
        print(f"error: no file {path}", file=sys.stderr)
        return 2
    _connect(args.home)
    bucket, s3 = get_settings().bucket, client("s3")
    key = f"{IMPORT_PREFIX}{args.name or path.stem}.csv"
    etag = str(s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())["ETag"]).strip('"')
    print(f"uploaded {path} as s3://{bucket}/{key}", file=sys.stderr)
    bar = None
    status: dict[str, Any] = {}
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            status = json.loads(s3.get_object(Bucket=bucket, Key=status_key(key))["Body"].read())
        except s3.exceptions.NoSuchKey:
            status = {}
        if status.get("etag") != etag:  # not started yet (or an earlier upload's status)
            time.sleep(0.25)
            continue
        if bar is None and status.get("rows") and not args.no_progress:
            from tqdm import tqdm

            bar = tqdm(total=status["rows"], unit="row", desc=path.name, file=sys.stderr)
        if bar is not None:
            bar.update(status["done"] - bar.n)
        if status.get("state") == "done":
            break
        time.sleep(0.25)
    if bar is not None:
        bar.close()
    if status.get("etag") != etag or status.get("state") != "done":
        print(f"error: the import of {key} did not finish within {args.timeout:.0f} s", file=sys.stderr)
        return 1
    body = s3.get_object(Bucket=bucket, Key=results_key(key))["Body"].read().decode("utf-8")
    rows = [dict(zip(RESULT_COLUMNS, r, strict=False)) for r in list(csv.reader(io.StringIO(body)))[1:]]
    counts = status.get("counts", {})
    outcomes = ("created", "merged", "quarantined", "rejected")
    print(f"{len(rows)} rows: " + ", ".join(f"{counts.get(o, 0)} {o}" for o in outcomes))
    for error in status.get("errors", []):
        print(f"  file refused: {error}")
    for row in rows:
        if row["outcome"] == "rejected" and row["row"]:
            print(f"  row {row['row']} rejected ({row['email'] or 'no email'}): {row['reason']}")
    print(f"results: `hub leads results {key}` (GET /leads/imports/results?key={key})", file=sys.stderr)
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    """The import's results file, from the running local hub's read API (``GET /leads/imports/results``)."""
    return fetch_file(args.home, IMPORT_RESULTS_ROUTE, args.key, args.out)


def cmd_form_snippet(args: argparse.Namespace) -> int:
    from hub.form_snippet import form_snippet, return_url_problem
    from shared.config_schemas.leads import default_leads_config

    api_url = args.api_url
    info_path = Path(args.home).resolve() / ".hub" / "local.json"
    if api_url is None and info_path.is_file():
        api_url = json.loads(info_path.read_text(encoding="utf-8"))["api_url"]
    if api_url is None:
        api_url = "https://YOUR-API-ID.execute-api.YOUR-REGION.amazonaws.com"
        print("no running local hub and no --api-url: replace the form's action", file=sys.stderr)
    print(
        form_snippet(api_url, source=args.source, campaign=args.campaign, return_url=args.return_url), end=""
    )
    problem = return_url_problem(args.return_url, default_leads_config())
    if problem:
        print(f"note: {problem}", file=sys.stderr)
    return 0


def cmd_routing_test(args: argparse.Namespace) -> int:
    from shared.validation import ConfigDocumentError

    _connect(args.home)
    from leads_webhook.what_if import leads_from_csv, load_candidate, preview_routes, stored_leads

    services = _services()
    config = services.leads_config()
    try:
        candidate = load_candidate(Path(args.rules).read_bytes(), config, services.reps)
    except ConfigDocumentError as exc:
        print(f"{args.rules} is refused:", file=sys.stderr)
        for error in exc.errors:
            print(f"  {error.field}: {error.message}", file=sys.stderr)
        return 2
    problems: list[str] = []
    if args.leads:
        path = Path(args.leads)
        leads, problems = leads_from_csv(
            path.read_bytes(), name=path.stem, config=config, leads_repo=services.leads
        )
    else:
        leads = stored_leads(services.leads.recent(limit=args.last or 20))
    rows = preview_routes(
        leads, candidate, current=services.routing_config(), rotation=services.rotation,
        leads_repo=services.leads, reps=services.reps, now=datetime.now(UTC),
    )  # fmt: skip
    moved = 0
    for row in rows:
        moved += row.changed
        if args.changed_only and not row.changed:
            continue
        print(
            f"{'*' if row.changed else ' '} {row.label}\n    went:      {row.went}\n    would go:  {row.would_go}"
        )
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    print(f"{len(rows)} leads, {moved} would move (nothing was changed)", file=sys.stderr)
    return 0
