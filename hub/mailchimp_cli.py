"""``hub mailchimp setup`` and ``hub mailchimp backfill``.

Against the running local hub when ``.hub/local.json`` is there (its fake MailChimp or the real
audience it was started with), else against the deployment the environment describes
(``MAILCHIMP_API_KEY``/``MAILCHIMP_SECRET_NAME``, ``MAILCHIMP_LIST_ID``, ``CRM_TABLE`` ...).
Both call the same logic as the function (``mailchimp_sync``), never a copy of it.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub.local_state import use_local_hub

if TYPE_CHECKING:
    from mailchimp_sync.config import MailchimpSetup


def register(subparsers: Any) -> None:
    mailchimp = subparsers.add_parser("mailchimp", help="MailChimp audience: setup and backfill")
    mailchimp.add_argument("--home", default=".", help="where the local hub's .hub/ lives (default: here)")
    commands = mailchimp.add_subparsers(dest="mailchimp_command", required=True)

    setup = commands.add_parser("setup", help="create the audience's missing merge fields and report")
    setup.set_defaults(func=cmd_setup)

    backfill = commands.add_parser(
        "backfill", help="send every opted-in contact through the batch endpoint (resumable)"
    )
    backfill.add_argument("--restart", action="store_true", help="ignore a saved position and start over")
    backfill.add_argument("--poll", type=float, default=1.0, help="seconds between batch status checks")
    backfill.add_argument("--no-progress", action="store_true", help="no progress bar")
    backfill.set_defaults(func=cmd_backfill)


def _connect(home: Path) -> MailchimpSetup:
    """Point this process at the local hub when one runs here, then read the MailChimp setup."""
    if (home / ".hub" / "local.json").is_file():
        info = use_local_hub(home)
        local_env = {
            "MAILCHIMP_LIST_ID": info.get("mailchimp_list_id", ""),
            "MAILCHIMP_WEBHOOK_TOKEN": info.get("mailchimp_webhook_token", ""),
        }
        if info.get("mailchimp_fake"):
            local_env.update(MAILCHIMP_URL=info["mailchimp_url"], MAILCHIMP_API_KEY="fake-key")
        os.environ.update({k: v for k, v in local_env.items() if v})
    from mailchimp_sync.config import load_setup

    from shared.settings import get_settings

    get_settings.cache_clear()
    return load_setup(get_settings())


def cmd_setup(args: argparse.Namespace) -> int:
    from mailchimp_sync.audience_setup import set_up_merge_fields
    from mailchimp_sync.gateway import MailchimpGateway

    setup = _connect(Path(args.home).resolve())
    report = set_up_merge_fields(MailchimpGateway(setup.config))
    print(f"audience {setup.config.list_id}")
    print(f"  already there: {', '.join(report.existing) or '-'}")
    print(f"  created:       {', '.join(report.created) or '-'}")
    for tag, error in report.failed.items():
        print(f"  FAILED {tag}: {error}")
    return 0 if report.ok else 1


class StateCursorStore:
    """The backfill's position of one audience, kept by the state store (``backfill_position``)."""

    def __init__(self, list_id: str) -> None:
        from shared.store.state import DynamoStateStore

        self.list_id = list_id
        self.store = DynamoStateStore()

    def load(self) -> str | None:
        return self.store.backfill_position(self.list_id)

    def save(self, cursor: str | None) -> None:
        self.store.save_backfill_position(self.list_id, cursor)


def band_names() -> dict[str, list[str]]:
    """The configured band names, so a backfill can remove a contact's other band tags."""
    from shared.config_schemas.leads import LeadsConfig
    from shared.config_store import load_config

    try:
        config = load_config("leads.yaml", LeadsConfig)
    except Exception:
        return {}
    return {
        "employees:": [b.name for b in config.employee_bands],
        "revenue:": [b.name for b in config.revenue_bands],
    }


def count_eligible(repository: Any) -> int | None:
    try:
        return sum(1 for _ in repository.eligible_after(None))
    except Exception:
        return None


def cmd_backfill(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from mailchimp_sync.backfill import run_backfill
    from mailchimp_sync.gateway import MailchimpGateway
    from mailchimp_sync.repository import ContactKey, DynamoContactRepository

    setup = _connect(Path(args.home).resolve())
    gateway = MailchimpGateway(setup.config)
    repository = DynamoContactRepository()
    cursor_store = StateCursorStore(setup.config.list_id)
    resuming = None if args.restart else cursor_store.load()
    if resuming:
        print(f"resuming after {resuming}")

    progress = None
    if not args.no_progress:
        from tqdm import tqdm

        progress = tqdm(total=count_eligible(repository), unit="contact", desc="backfill")

    def record(outcomes: list[Any]) -> None:
        now = datetime.now(UTC)
        for outcome in outcomes:
            repository.record_outcome(ContactKey("LEAD", outcome.contact_id), outcome, now)

    try:
        report = run_backfill(
            repository.eligible_after,
            gateway,
            cursor_store,
            record,
            on_progress=progress.update if progress else lambda _: None,
            poll_interval_s=args.poll,
            restart=args.restart,
            band_names=band_names(),
        )
    finally:
        if progress:
            progress.close()
    print(json.dumps(report.model_dump(exclude={"failures"}), indent=2))
    for contact_id, why in list(report.failures.items())[:20]:
        print(f"  {contact_id}: {why}")
    return 0 if report.failed == 0 else 1
