"""Trade-show imports: `imports/leads/<name>.csv` in, `imports/leads/<name>.results.csv` beside it (the
layout is ``shared.downloads``'; the read API hands the results over at ``GET /leads/imports/results?key=``).

Every row goes through the form's validation, the dedupe and the routing, with the file's name as the
campaign of rows that name none. A row's submission id is derived from the object (key and ETag) and the row
number, so the same object delivered twice, or an invocation retried half way, records each row once.
Rows are worked by a few threads (the work is waiting on DynamoDB), so 10,000 rows fit one invocation.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any, Protocol

from leads_webhook.intake import Accepted, LeadServices, NewPerson, WriteResult, accept_submission, new_person
from leads_webhook.routing import RepWorkload, RotationRepository
from leads_webhook.trade_show import ImportRow, parse_trade_show_csv
from shared.downloads import IMPORT_PREFIX, results_key
from shared.leads import email_key
from shared.store.crm import ImportDigest, import_source

RESULT_COLUMNS = ("row", "email", "outcome", "lead_id", "owner", "reason")
MAX_IMPORT_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class RowResult:
    row: int
    email: str
    outcome: str  # created, merged, quarantined or rejected
    lead_id: str = ""
    owner: str = ""
    reason: str = ""
    rep: str = ""  # the rep who owns the lead (empty for a queue): whom the import's digest tells
    rep_email: str = ""  # routing's address for that rep (used when the CRM does not hold the rep)


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


CHUNK_PEOPLE = 100  # 3 BatchGetItems (3 keys an address, 100 a call); new leads in TransactWriteItems of 50
WORKERS = 8  # chunks in flight: the work is waiting on DynamoDB
TIME_RESERVE_MS = (
    10_000  # no chunk is started with less left: the chunks in flight, the results or the checkpoint
)


@dataclass
class ImportRun:
    """What an invocation did: each row's result (in row order), the file-level errors (a file refused
    whole), and whether every row is done (else the rest is for the next invocation)."""

    results: list[RowResult]
    errors: list[str]
    rows: int
    complete: bool = True
    people: Mapping[int, ImportRow] | None = None  # the parsed rows by number (the digest lists their names)


def _row_result(row: ImportRow, accepted: Accepted) -> RowResult:
    owner, reason, rep, rep_email = "", "", "", ""
    if accepted.assignment is not None:
        owner, reason = accepted.assignment.owner, accepted.assignment.describe()
        if accepted.assignment.owner_type == "rep":
            rep, rep_email = owner, accepted.assignment.owner_email or ""
    elif accepted.quarantine_reasons:
        reason = ", ".join(accepted.quarantine_reasons)
    if accepted.repeat_delivery:
        reason = "; ".join(filter(None, ["already imported", reason]))
        if not owner:  # nothing routed now: the lead's owner as stored
            owner = rep = accepted.owner or ""
            rep_email = accepted.owner_email or ""
    return RowResult(
        row.row_number, row.email, accepted.outcome, accepted.lead_id, owner, reason, rep, rep_email
    )


def _rejected(row: ImportRow) -> RowResult:
    reason = "; ".join(f"{e.field}: {e.message}" for e in row.result.errors)
    return RowResult(row.row_number, row.email, "rejected", reason=reason)


TURNS_PER_CLAIM = 64


class ReservedRotation:
    """A pool's turns claimed a block at a time for one import: one conditional write (the rotation's
    compare-and-set) takes ``block`` turns, which the import's threads then use in order without a write
    each, and without contending with each other for the stored turn. A block another writer raced is
    dropped and claimed again from the stored turn; ``give_back`` returns the turns left unused when nobody
    moved the stored turn since, so the rotation goes on where the import's last lead left it."""

    def __init__(self, base: RotationRepository, block: int = TURNS_PER_CLAIM) -> None:
        self.base, self.block = base, block
        self._next: dict[str, int] = {}  # the next turn to hand out, of the pool's claimed block
        self._end: dict[str, int] = {}  # the first turn past the block (what the stored turn says)
        self._lock = threading.Lock()

    def current_turn(self, pool_id: str) -> int:
        with self._lock:
            if pool_id in self._next:
                return self._next[pool_id]
        return self.base.current_turn(pool_id)

    def advance(self, pool_id: str, expected: int, new: int) -> bool:
        with self._lock:
            held = self._next.get(pool_id)
            if held is not None and held != expected:
                return False  # another of the import's threads took that turn: read again
            if held is not None and new <= self._end[pool_id]:
                self._next[pool_id] = new
                return True
            stored = self._end.get(pool_id, expected)  # past the block's end, or no block yet
            end = max(new, expected) + self.block
            if not self.base.advance(pool_id, stored, end):
                self._next.pop(pool_id, None)  # someone else moved the stored turn: claim from there
                self._end.pop(pool_id, None)
                return False
            self._next[pool_id], self._end[pool_id] = new, end
            return True

    def give_back(self) -> None:
        with self._lock:
            for pool_id, end in self._end.items():
                self.base.advance(pool_id, end, self._next[pool_id])
            self._next.clear()
            self._end.clear()


def import_rows(
    data: bytes,
    *,
    key: str,
    etag: str,
    services: LeadServices,
    workers: int = WORKERS,
    remaining_ms: Callable[[], int] | None = None,
    done: Mapping[int, RowResult] | None = None,
    progress: Callable[[list[RowResult], int], None] | None = None,
) -> ImportRun:
    """Import the rows not ``done`` yet, a chunk of people at a time: their leads, aliases and suppressions
    read in batches, their new leads written together, the rest (repeats, people with a lead) one lead at a
    time. Rows of one person stay in file order (later rows are newer): within the file, a second row of
    an address is merged into the lead its first row made. ``progress`` gets each chunk's results as it
    ends, with the file's number of rows. No chunk is started with less than ``TIME_RESERVE_MS`` of ``remaining_ms`` left."""
    campaign = PurePosixPath(key).stem
    parsed = parse_trade_show_csv(data, campaign=campaign)
    if parsed.errors:
        return ImportRun([], [f"{e.field} {e.message}" for e in parsed.errors], 0)
    done = dict(done or {})
    source = import_source(key)
    rotation = ReservedRotation(services.rotation)
    services = replace(
        services, workload=CountingWorkload(services.workload or services.leads), rotation=rotation
    )
    config = services.leads_config()
    now = services.clock()
    results = [done[r.row_number] for r in parsed.rows if r.row_number in done]
    fresh = [_rejected(r) for r in parsed.rows if r.row_number not in done and r.result.submission is None]
    results += fresh
    if progress is not None:
        progress(fresh, len(parsed.rows))
    people: dict[str, list[ImportRow]] = {}
    for row in parsed.rows:
        if row.row_number not in done and row.result.submission is not None:
            people.setdefault(email_key(row.result.submission.email), []).append(row)

    def submission_id(row: ImportRow) -> str:
        return hashlib.sha256(f"{key}\0{etag}\0{row.row_number}".encode()).hexdigest()[:32]

    def accept(row: ImportRow) -> RowResult:
        assert row.result.submission is not None
        accepted = accept_submission(
            row.result.submission, services, source=source, submission_id=submission_id(row), now=now,
            config=config,
        )  # fmt: skip
        return _row_result(row, accepted)

    def chunk_of(group: list[tuple[str, list[ImportRow]]]) -> list[RowResult]:
        known = services.leads.read_people([person for person, _ in group], remaining_ms=remaining_ms)
        out: list[RowResult] = []
        new: list[tuple[ImportRow, NewPerson]] = []
        for person, rows in group:
            first = rows[0]
            assert first.result.submission is not None
            if known[person].lead is None:
                created = new_person(
                    first.result.submission, services, source=source, submission_id=submission_id(first),
                    now=now, config=config, known=known[person],
                )  # fmt: skip
                new.append((first, created))
            else:
                out.append(accept(first))  # reads nothing more: read_people told the repository
        written = services.leads.create_many([(n.lead, n.submission) for _, n in new])
        for (row, created), result in zip(new, written, strict=True):
            # Refused (someone wrote this person meanwhile, or a retried import): the one-lead path decides.
            out.append(
                _row_result(row, created.created(services)) if result is WriteResult.DONE else accept(row)
            )
        for _, rows in group:
            out.extend(accept(row) for row in rows[1:])
        return out

    groups = list(people.items())
    chunks = [groups[i : i + CHUNK_PEOPLE] for i in range(0, len(groups), CHUNK_PEOPLE)]
    complete = True
    with ThreadPoolExecutor(max_workers=workers) as pool:
        running: set[Future[list[RowResult]]] = set()
        for chunk in chunks:
            if remaining_ms is not None and remaining_ms() < TIME_RESERVE_MS:
                complete = False
                break
            running.add(pool.submit(chunk_of, chunk))
            if len(running) >= workers:
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                results += _collected(finished, progress, len(parsed.rows))
        results += _collected(running, progress, len(parsed.rows))
    rotation.give_back()
    results.sort(key=lambda r: r.row)
    return ImportRun(results, [], len(parsed.rows), complete, {r.row_number: r for r in parsed.rows})


class DigestStore(Protocol):
    """Where an import's digests are written (``shared.store.crm.CrmStore``)."""

    def record_import_digest(self, digest: ImportDigest) -> bool: ...


def import_digests(run: ImportRun, *, key: str, etag: str, now: datetime) -> list[ImportDigest]:
    """Per rep, the leads this import created and assigned to them (rows ``created`` with a rep, also when
    an earlier invocation of the same import created them): what the rep's one email lists. Leads the
    import merged into an existing lead kept their owner and are not news; quarantined ones have none."""
    by_rep: dict[str, list[RowResult]] = {}
    for result in run.results:
        if result.outcome == "created" and result.rep:
            by_rep.setdefault(result.rep, []).append(result)
    digests = []
    for rep_id, created in sorted(by_rep.items()):
        leads = []
        for result in created[: ImportDigest.MAX_LEADS]:
            row = (run.people or {}).get(result.row)
            person = row.result.submission if row is not None else None
            names = {
                name: getattr(person, name, None)
                for name in ("first_name", "last_name", "company", "country")
            }
            leads.append(
                {
                    "lead_id": result.lead_id,
                    "email": result.email,
                    **{k: str(v) for k, v in names.items() if v},
                }
            )
        rep_email = next((r.rep_email for r in created if r.rep_email), None)
        digests.append(ImportDigest(import_key=key, etag=etag, rep_id=rep_id, count=len(created), leads=leads,
                                    results_key=results_key(key), created_at=now, rep_email=rep_email))  # fmt: skip
    return digests


def _collected(
    finished: Iterable[Future[list[RowResult]]],
    progress: Callable[[list[RowResult], int], None] | None,
    rows: int,
) -> list[RowResult]:
    out: list[RowResult] = []
    for future in finished:
        chunk = future.result()
        if progress is not None:
            progress(chunk, rows)
        out += chunk
    return out


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


STATUS_PREFIX = "imports/results/leads/"
STATUS_EVERY_SECONDS = 1.0


def status_key(key: str) -> str:
    """Where the import of ``key`` says how far it is (``hub leads import`` polls it)."""
    return STATUS_PREFIX + key[len(IMPORT_PREFIX) : -len(".csv")] + ".status.json"


def checkpoint_key(key: str) -> str:
    """The rows an invocation that ran out of time did, for the next one (by the object's ETag)."""
    return STATUS_PREFIX + key[len(IMPORT_PREFIX) : -len(".csv")] + ".checkpoint.json"


class ImportOutOfTimeError(RuntimeError):
    """The invocation stopped before the last row; its rows are kept in the checkpoint. Raised so that
    Lambda's retry of the S3 event (the function's EventInvokeConfig) continues from there."""


def _counts(results: Iterable[RowResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.outcome] = counts.get(r.outcome, 0) + 1
    return counts


class _Status:
    """The import's status object, written at most every ``STATUS_EVERY_SECONDS`` while it runs."""

    def __init__(self, s3: Any, bucket: str, key: str, etag: str, done: int) -> None:
        self.s3, self.bucket, self.key, self.etag = s3, bucket, key, etag
        self.done, self.counts, self.rows = done, dict[str, int](), 0
        self._written = 0.0

    def add(self, chunk: list[RowResult], rows: int) -> None:
        first, self.rows = not self.rows, rows
        self.done += len(chunk)
        for outcome, n in _counts(chunk).items():
            self.counts[outcome] = self.counts.get(outcome, 0) + n
        if first or time.monotonic() - self._written >= STATUS_EVERY_SECONDS:
            self.write("running")

    def write(self, state: str, **extra: Any) -> None:
        self._written = time.monotonic()
        body = {"key": self.key, "etag": self.etag, "state": state, "rows": self.rows, "done": self.done,
                "counts": self.counts, **extra}  # fmt: skip
        self.s3.put_object(Bucket=self.bucket, Key=status_key(self.key), Body=json.dumps(body).encode(),
                           ContentType="application/json")  # fmt: skip


def _checkpointed(s3: Any, bucket: str, key: str, etag: str) -> dict[int, RowResult]:
    """The rows an earlier invocation did on this very object (same ETag); nothing otherwise."""
    try:
        kept = json.loads(s3.get_object(Bucket=bucket, Key=checkpoint_key(key))["Body"].read())
    except s3.exceptions.NoSuchKey:
        return {}
    if kept.get("etag") != etag:
        return {}
    return {row[0]: RowResult(*row) for row in kept["results"]}


def import_trade_show(
    bucket: str, key: str, services: LeadServices, s3: Any, digests: DigestStore,
    remaining_ms: Callable[[], int] | None = None,
) -> ImportSummary:  # fmt: skip
    """Read the object, import every row, write the results file beside it (and the status object as it
    goes), then each rep's digest record (the alerts function emails it, once). Out of time, the rows done
    go to the checkpoint and ``ImportOutOfTimeError`` is raised; the digests wait for the last row."""
    head = s3.head_object(Bucket=bucket, Key=key)
    etag = str(head.get("ETag", "")).strip('"')
    status = _Status(s3, bucket, key, etag, 0)
    if head.get("ContentLength", 0) > MAX_IMPORT_BYTES:
        run = ImportRun([], [f"is larger than {MAX_IMPORT_BYTES} bytes"], 0)
    else:
        obj = s3.get_object(Bucket=bucket, Key=key)
        etag = status.etag = obj["ETag"].strip('"')
        done = _checkpointed(s3, bucket, key, etag)
        status.done = len(done)
        status.counts = _counts(done.values())
        status.write("running")
        run = import_rows(
            obj["Body"].read(), key=key, etag=etag, services=services, remaining_ms=remaining_ms, done=done,
            progress=status.add,
        )  # fmt: skip
    status.rows = run.rows
    if not run.complete:
        kept = [
            [r.row, r.email, r.outcome, r.lead_id, r.owner, r.reason, r.rep, r.rep_email] for r in run.results
        ]
        s3.put_object(
            Bucket=bucket, Key=checkpoint_key(key), Body=json.dumps({"etag": etag, "results": kept}).encode()
        )
        status.write("continuing")
        raise ImportOutOfTimeError(f"{key}: {len(run.results)} of {run.rows} rows done; the retry continues")
    target = results_key(key)
    s3.put_object(
        Bucket=bucket, Key=target, Body=results_csv(run.results, run.errors), ContentType="text/csv"
    )
    for digest in import_digests(run, key=key, etag=etag, now=services.clock()):
        digests.record_import_digest(digest)  # written once: a retried import finds them written
    counts = _counts(run.results)
    status.done, status.counts = len(run.results), counts
    status.write("done", results_key=target, errors=run.errors)
    return ImportSummary(key, target, len(run.results), counts, run.errors)
