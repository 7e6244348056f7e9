"""The channel manager's email about a POS file with rejected rows (or one that could not be read),
sent when the run record on the POS table's stream reaches ``done`` with rejects, or ``failed``.

The run record carries what the email says: distributor, key, version, counts, ``rejects_key``,
``reject_sample`` (the first rejected rows with their reasons) and ``error``. A minimal rendering,
kept apart from the CRM alerts so the alerts' own rendering can take it over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from shared.email import Email, header_safe, send_email
from shared.observability import logger

FINAL = ("done", "failed")


@dataclass(frozen=True)
class PosRunAlert:
    key: str  # idempotency: one email per object version and outcome
    run: dict[str, Any]


def pos_run_alerts(new: dict[str, Any] | None, old: dict[str, Any] | None) -> list[PosRunAlert]:
    """A finished run with rejects, or a failed one, that was not finished before this change."""
    if not new or new.get("entity") != "POS_RUN":
        return []
    status = new.get("status")
    if status not in FINAL or (old or {}).get("status") == status:
        return []
    if status == "done" and not int(new.get("rejected") or 0):
        return []
    return [PosRunAlert(f"pos-run#{new.get('key')}#{new.get('version')}#{status}", new)]


def render(run: dict[str, Any]) -> tuple[str, str]:
    """Subject and text of the email."""
    key, distributor = run.get("key", ""), run.get("distributor", "")
    if run.get("status") == "failed":
        return (
            f"POS file refused: {key}",
            f"The file {key} from {distributor} could not be read: {run.get('error')}\n",
        )
    rejected, total = int(run.get("rejected") or 0), int(run.get("rows_total") or 0)
    sample = run.get("reject_sample") or []
    lines = [f"  row {int(note['row'])}: {note['reason']}" for note in sample]
    more = rejected - len(sample)
    text = (
        f"Distributor {distributor}, file {key} (version {run.get('version')}).\n"
        f"Rows: {total}; accepted {int(run.get('accepted') or 0)}; rejected {rejected}.\n"
        f"Every rejected row with its reason: s3 object {run.get('rejects_key')}\n\n"
        + "\n".join(lines)
        + (f"\n  ... and {more} more" if more > 0 else "")
        + "\n"
    )
    return f"POS file {key}: {rejected} of {total} rows rejected", text


def send_pos_run_alert(alert: PosRunAlert) -> str:
    from shared.settings import get_settings

    subject, text = render(alert.run)
    message_id = send_email(
        Email(to=get_settings().channel_manager_email, subject=header_safe(subject), text=text)
    )
    logger.info("POS run alert sent", extra={"key": alert.key})
    return message_id
