"""Trade-show imports: `imports/leads/<name>.csv` in, `imports/leads/<name>.results.csv` beside it.

Every row goes through the form's validation, the dedupe and the routing, with the file's name as the
campaign of rows that name none. A row's submission id is derived from the object (key and ETag) and the row
number, so the same object delivered twice, or an invocation retried half way, records each row once.
Rows are worked by a few threads (the work is waiting on DynamoDB), so 10,000 rows fit one invocation.
"""

from __future__ import annotations

import csv
import hashlib
import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import PurePosixPath
from typing import Any

from leads_webhook.intake import LeadServices, accept_submission
from leads_webhook.routing import RepWorkload
from leads_webhook.trade_show import ImportRow, parse_trade_show_csv
from shared.leads import email_key

IMPORT_PREFIX = "imports/leads/"
RESULTS_SUFFIX = ".results.csv"
RESULT_COLUMNS = ("row", "email", "outcome", "lead_id", "owner", "reason")
MAX_IMPORT_BYTES = 50 * 1024 * 1024


def is_import_key(key: str) -> bool:
    """A trade-show list (not the results file this import writes beside it)."""
    return key.startswith(IMPORT_PREFIX) and key.lower().endswith(".csv") and not key.endswith(RESULTS_SUFFIX)


def results_key(key: str) -> str:
    return key[: -len(".csv")] + RESULTS_SUFFIX


@dataclass(frozen=True)
class RowResult:
    row: int
    email: str
    outcome: str  # created, merged, quarantined or rejected
    lead_id: str = ""
    owner: str = ""
    reason: str = ""


@dataclass(frozen=True)
class ImportSummary:
    key: str
    results_key: str
    rows: int
    counts: dict[str, int]
    errors: list[str]


class CountingWorkload:
    """Open-lead counts read once per rep, then kept up to date by this import's own assignments."""

    def __init__(self, base: RepWorkload) -> None:
        import threading

        self._base = base
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def open_leads(self, rep_id: str) -> int:
        with self._lock:
            if rep_id not in self._counts:
                self._counts[rep_id] = self._base.open_leads(rep_id)
            return self._counts[rep_id]

    def note_assigned(self, rep_id: str) -> None:
        with self._lock:
            self._counts[rep_id] = self._counts.get(rep_id, 0) + 1


def import_rows(
    data: bytes, *, key: str, etag: str, services: LeadServices, workers: int = 8
) -> tuple[list[RowResult], list[str]]:
    """Each row's result, in row order, and the file-level errors (a file refused whole)."""
    campaign = PurePosixPath(key).stem
    parsed = parse_trade_show_csv(data, campaign=campaign)
    if parsed.errors:
        return [], [f"{e.field} {e.message}" for e in parsed.errors]
    source = f"import:{key}"
    services = replace(services, workload=CountingWorkload(services.workload or services.leads))
    now = services.clock()

    def one(row: ImportRow) -> RowResult:
        if not row.result.ok:
            reason = "; ".join(f"{e.field}: {e.message}" for e in row.result.errors)
            return RowResult(row.row_number, row.email, "rejected", reason=reason)
        assert row.result.submission is not None
        submission_id = hashlib.sha256(f"{key}\0{etag}\0{row.row_number}".encode()).hexdigest()[:32]
        accepted = accept_submission(
            row.result.submission, services, source=source, submission_id=submission_id, now=now
        )
        owner, reason = "", ""
        if accepted.assignment is not None:
            owner, reason = accepted.assignment.owner, accepted.assignment.describe()
        elif accepted.quarantine_reasons:
            reason = ", ".join(accepted.quarantine_reasons)
        if accepted.repeat_delivery:
            reason = "; ".join(filter(None, ["already imported", reason]))
        return RowResult(row.row_number, row.email, accepted.outcome, accepted.lead_id, owner, reason)

    # Rows of one person stay in file order (later rows are newer), different people go in parallel.
    groups: dict[str, list[ImportRow]] = {}
    for row in parsed.rows:
        person = email_key(row.result.submission.email) if row.result.submission else f"#{row.row_number}"
        groups.setdefault(person, []).append(row)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        done = pool.map(lambda rows: [one(r) for r in rows], groups.values())
        results = sorted((r for rows in done for r in rows), key=lambda r: r.row)
    return results, []


def results_csv(results: list[RowResult], errors: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(RESULT_COLUMNS)
    for error in errors:
        writer.writerow(["", "", "rejected", "", "", f"file {error}"])
    for r in results:
        writer.writerow([r.row, _cell(r.email), r.outcome, r.lead_id, r.owner, _cell(r.reason)])
    return out.getvalue().encode("utf-8")


def _cell(text: str) -> str:
    """No formula injection when the results file is opened in a spreadsheet."""
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def import_trade_show(bucket: str, key: str, services: LeadServices, s3: Any) -> ImportSummary:
    """Read the object, import every row, write the results file beside it."""
    head = s3.head_object(Bucket=bucket, Key=key)
    if head.get("ContentLength", 0) > MAX_IMPORT_BYTES:
        results: list[RowResult] = []
        errors = [f"is larger than {MAX_IMPORT_BYTES} bytes"]
    else:
        obj = s3.get_object(Bucket=bucket, Key=key)
        results, errors = import_rows(
            obj["Body"].read(), key=key, etag=obj["ETag"].strip('"'), services=services
        )
    target = results_key(key)
    s3.put_object(Bucket=bucket, Key=target, Body=results_csv(results, errors), ContentType="text/csv")
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    return ImportSummary(key, target, len(results), counts, errors)
