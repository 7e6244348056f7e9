"""Ingest one POS object from S3: the run record, staging, the commit, rejects, inventory, continuation.

``ingest_pos_object`` is what the handler calls for an S3 event and for a continuation message.
It reads the object as a stream and stages each accepted line (nothing is counted while reading); it
stops when the time budget runs low: the checkpoint goes into the run record, the staged lines to S3,
and a continuation message carries on in a fresh invocation, from the byte offset (CSV) or row (XLSX)
where it stopped. Once the whole file is read, the run's contribution is computed against the ledger
in one pass (``pos_ingest.ledger``) and committed with the run record (``PosStore.commit_run``).
A key outside a distributor's folder gets a ``refused`` record; a file that cannot be read, ``failed``.

The channel manager's email about rejected rows is not sent from here: the finished run record
(counts, ``rejects_key``, a sample of rejected rows with their reasons, or the error) goes to the
alerts function on the POS table's stream, which sends it.
"""

from __future__ import annotations

import gzip
import io
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import IO, Any, Protocol

from pos_ingest.core import Checkpoint, ingest_file
from pos_ingest.layout import LayoutError
from pos_ingest.ledger import (
    CommitWork,
    Repeat,
    StagedLines,
    StagedShard,
    StagedSums,
    plan_commit,
    staged_keys,
)
from pos_ingest.profile import DistributorProfile
from pos_ingest.rejects import RejectsWriter
from pos_ingest.validate import InventoryLine, Reject
from shared.accounts import AccountMatcher
from shared.downloads import REJECTS_PREFIX, rejects_key_of
from shared.store.errors import Conflict, StoreError, Throttled
from shared.store.items import now_text as now_iso
from shared.store.pos import (
    LEDGER_SHARDS,
    REJECT_SAMPLE_SIZE,
    CommitPlan,
    PosStore,
    RunRecord,
    commit_plan_object,
    ledger_shard_object,
    staged_lines_object,
    staged_sums_object,
)

LOCK_TRIES = 12
OVERTAKEN = (
    "the run's commit was cut short and its ledger lock ran out while another file of the distributor "
    "was counted: nothing of this file counts; upload it again"
)

SELL_THROUGH_PREFIX = "pos/"
INVENTORY_PREFIX = "inventory/"


@dataclass(frozen=True)
class ObjectRef:
    bucket: str
    key: str
    version: str | None = None  # S3 version id, when the bucket keeps versions
    etag: str | None = None

    @property
    def identity(self) -> str:
        """What makes two deliveries the same object: its version, else its content hash."""
        return self.version or (self.etag or "").strip('"') or "unversioned"

    @property
    def kind(self) -> str:
        return "inventory" if self.key.startswith(INVENTORY_PREFIX) else "sell_through"

    @property
    def distributor(self) -> str:
        parts = self.key.split("/")
        return parts[1] if len(parts) > 2 and parts[1] else ""


class ObjectReader(Protocol):
    def open(self, ref: ObjectRef, byte_offset: int | None) -> IO[bytes]: ...

    def put_text(self, bucket: str, key: str, body: IO[bytes]) -> None: ...

    def delete(self, bucket: str, keys: list[str]) -> None: ...

    def get_bytes(self, bucket: str, key: str) -> bytes | None:
        """The object's body; None when there is no such object."""
        ...

    def put_bytes(self, bucket: str, key: str, body: bytes) -> None: ...


class ObjectReplacedError(RuntimeError):
    """The object an event names was replaced by a newer one (its ETag no longer matches)."""


@dataclass
class Collaborators:
    store: PosStore
    objects: ObjectReader
    load_profile: Callable[[str, str], DistributorProfile]
    load_accounts: Callable[[], AccountMatcher]
    continue_later: Callable[[ObjectRef, int], None]
    wait: Callable[[float], None] = time.sleep


def ingest_pos_object(
    ref: ObjectRef,
    deps: Collaborators,
    *,
    should_stop: Callable[[int], bool],
    today: date | None = None,
    expected_slice: int | None = None,
) -> RunRecord | None:
    """Ingest (or continue) one object. None when there is nothing to do (a redelivery)."""
    today = today or datetime.now(UTC).date()
    store = deps.store
    if not ref.distributor:
        return _refuse(ref, store)
    run = store.get_run(ref.key, ref.identity)
    opened: IO[bytes] | None = None
    if run is None:
        if expected_slice is not None:
            return None
        try:
            # Opened before the run record exists: an event for an object a newer one replaced
            # (S3 events come in any order) leaves no run behind; the newer object's event counts it.
            opened = deps.objects.open(ref, None)
        except ObjectReplacedError:
            return None
        except Exception:  # opened again below, where a file that cannot be read fails its run
            opened = None
        fresh = RunRecord(ref.key, ref.identity, ref.distributor, ref.kind, started_at=now_iso())
        run = store.create_run(fresh)
        if run is None:  # created by a concurrent delivery of the same object
            if opened is not None:
                opened.close()
            return None
    elif run.status in ("done", "failed", "refused"):
        return None  # the same object delivered again counts once
    elif expected_slice is not None and run.slice != expected_slice:
        return None  # a duplicate continuation message
    if run.status == "applying":  # a commit too big for one transaction was cut short: carry on
        plan = CommitPlan.from_bytes(
            _required(deps.objects.get_bytes(ref.bucket, commit_plan_object(run.token)))
        )
        head = store.lock_ledger(ref.distributor, run.run_id)  # the lease may have run out meanwhile
        if head is None:
            raise Throttled(f"the ledger of {ref.distributor} is locked by another run: retry later")
        if head.version != plan.head_version:  # another run committed: this plan no longer adds up
            store.fail_run(run, OVERTAKEN)
            return store.get_run(ref.key, ref.identity)
        return _apply(ref, deps, run, plan, expected_slice=run.slice)
    try:
        return _read_and_commit(ref, deps, run, should_stop=should_stop, today=today, opened=opened)
    except StoreError:
        raise  # the run record stays as the last good write left it: a retry carries on from there
    except Exception as error:  # a file that cannot be read: the run fails with the reason
        if not _readable_failure(error):
            raise
        run.status, run.error, run.finished_at = "failed", _reason(error), now_iso()
        run.checkpoint = None
        store.save_run(run, expected_slice=run.slice)  # the stream tells the channel manager
        return run


def _read_and_commit(
    ref: ObjectRef,
    deps: Collaborators,
    run: RunRecord,
    *,
    should_stop: Callable[[int], bool],
    today: date,
    opened: IO[bytes] | None = None,
) -> RunRecord | None:
    store = deps.store
    checkpoint = Checkpoint.from_json(run.checkpoint) if run.checkpoint else None
    profile = deps.load_profile(ref.distributor, ref.kind)
    previous_slice = run.slice
    rejects_buffer = tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+b")  # noqa: SIM115 - closed below
    rejects_text = io.TextIOWrapper(rejects_buffer, encoding="utf-8", newline="")
    writer: RejectsWriter | None = None
    staged = StagedLines()
    header: list[str] = []

    def on_rejects(rejects: list[Reject]) -> None:
        nonlocal writer
        if writer is None:
            writer = RejectsWriter(
                rejects_text, header, write_header=previous_slice == 0 or not run.rejects_key
            )
        writer.write(rejects)
        room = max(0, REJECT_SAMPLE_SIZE - len(run.reject_sample))
        run.reject_sample.extend({"row": r.row, "reason": r.reason} for r in rejects[:room])

    def on_inventory(lines: list[InventoryLine]) -> None:
        store.put_inventory(ref.distributor, run.run_id, lines)

    try:
        stream = opened or deps.objects.open(ref, checkpoint.position.byte_offset if checkpoint else None)
        try:
            outcome = ingest_file(
                stream,
                profile,
                file_name=ref.key,
                today=today,
                matcher=deps.load_accounts() if ref.kind == "sell_through" else None,
                on_accepted=staged.add,
                on_inventory=on_inventory,
                on_rejects=on_rejects,
                on_layout=lambda layout: header.extend(layout.header),
                should_stop=should_stop,
                checkpoint=checkpoint,
                default_as_of=today,
            )
        finally:
            stream.close()
    except BaseException:
        rejects_text.close()
        raise

    counts = outcome.counts
    run.slice = previous_slice + 1
    work = None
    if not outcome.done:  # the lines read so far wait in S3 for the commit, with their sums
        for shard in staged.shards:
            deps.objects.put_bytes(
                ref.bucket, staged_lines_object(run.token, run.slice, shard), staged.body(shard)
            )
        # a try of this slice that failed after staging may have left shards this one has no line in
        stale = [n for n in range(LEDGER_SHARDS) if n not in staged.shards]
        deps.objects.delete(ref.bucket, [staged_lines_object(run.token, run.slice, n) for n in stale])
        deps.objects.put_bytes(ref.bucket, staged_sums_object(run.token, run.slice), staged.sums().to_bytes())
    elif ref.kind == "sell_through":
        work = _plan(ref, deps, run, staged, previous_slice)
        if work.repeats:  # judged by the ledger after the core had counted them accepted
            on_rejects([_repeat_reject(r) for r in work.repeats])
            for repeat in work.repeats:
                counts.accepted -= 1
                counts.rejected += 1
                counts.amount_accepted[repeat.currency] -= repeat.amount
    run.rows_total, run.accepted, run.rejected = counts.rows_total, counts.accepted, counts.rejected
    run.blank, run.footer = counts.blank, counts.footer
    run.amount_accepted = {k: str(v) for k, v in counts.amount_accepted.items()}
    if writer is not None:
        rejects_text.flush()
        rejects_buffer.seek(0)
        part = rejects_key_of(ref.key) if outcome.done and previous_slice == 0 else _part_key(ref, run.slice)
        deps.objects.put_text(ref.bucket, part, rejects_buffer)
        run.rejects_key = run.rejects_key or part
    rejects_text.close()
    if outcome.done:
        if run.rejects_key and previous_slice > 0:
            run.rejects_key = _join_parts(ref, run.slice, deps.objects)
        run.checkpoint = None
        if work is None:  # inventory: written as read
            run.status, run.finished_at = "done", now_iso()
            return run if store.save_run(run, expected_slice=previous_slice) else None
        for shard, body in work.shard_bodies.items():
            deps.objects.put_bytes(ref.bucket, ledger_shard_object(ref.distributor, shard, run.token), body)
        run.ledger_shards = work.shards_with_lines
        if work.plan.chunk_count() > 1:  # resumable: the plan is kept, the record says where it stands
            deps.objects.put_bytes(ref.bucket, commit_plan_object(run.token), work.plan.to_bytes())
            run.status = "applying"
            if not store.save_run(run, expected_slice=previous_slice):
                return None
            previous_slice = run.slice
        result = _apply(ref, deps, run, work.plan, expected_slice=previous_slice)
        if result is not None:
            deps.objects.delete(ref.bucket, [*work.old_objects, *_work_objects(run, deps)])
        return result
    assert outcome.checkpoint is not None
    outcome.checkpoint.counts = counts
    run.status, run.checkpoint = "continuing", outcome.checkpoint.to_json()
    if store.save_run(run, expected_slice=previous_slice):
        deps.continue_later(ref, run.slice)
    return run


def _plan(
    ref: ObjectRef, deps: Collaborators, run: RunRecord, staged: StagedLines, previous_slice: int
) -> CommitWork:
    """The run's commit, computed under the distributor's ledger lock."""
    head = None
    for attempt in range(LOCK_TRIES):
        head = deps.store.lock_ledger(ref.distributor, run.run_id)
        if head is not None:
            break
        deps.wait(min(2.0, 0.1 * 2**attempt))
    if head is None:
        raise Throttled(f"the ledger of {ref.distributor} is locked by another run: retry later")
    earlier = {}
    sums = [staged.sums()]
    summed: set[str] = set()  # the earlier slices' objects whose lines their slice's sums hold
    if previous_slice:
        keys = staged_keys(run.token, previous_slice)
        earlier = {shard: [k for k in names] for shard, names in keys.items()}
        for number in range(1, previous_slice + 1):
            body = deps.objects.get_bytes(ref.bucket, staged_sums_object(run.token, number))
            if body is not None:  # else a slice staged before the sums were: its lines are summed one by one
                sums.append(StagedSums.from_bytes(body))
                summed.update(staged_lines_object(run.token, number, n) for n in range(LEDGER_SHARDS))
    bodies: dict[str, bytes | None] = {}

    def staged_texts(shard: int) -> list[StagedShard]:
        pieces = []
        for key in earlier.get(shard, []):
            body = bodies.pop(key) if key in bodies else deps.objects.get_bytes(ref.bucket, key)
            if body:
                pieces.append(StagedShard.from_text(gzip.decompress(body).decode(), summed=key in summed))
        if shard in staged.shards:
            pieces.append(staged.shard(shard))  # in memory: not serialised to be read back
        return pieces

    shards = set(staged.shards)
    for shard, names in earlier.items():
        for key in names:
            body = deps.objects.get_bytes(ref.bucket, key)
            if body is not None:
                bodies[key] = body
                shards.add(shard)
    previous = _previous_version(ref, deps.store, run)
    return plan_commit(
        distributor=ref.distributor, run_id=run.run_id, token=run.token, head=head, staged=staged_texts,
        staged_shards=shards, sums=sums, previous=previous,
        read_object=lambda key: deps.objects.get_bytes(ref.bucket, key), store=deps.store,
    )  # fmt: skip


def _previous_version(ref: ObjectRef, store: PosStore, run: RunRecord) -> tuple[str, list[int]] | None:
    """The key's last counted version (its lines that this version drops stop counting)."""
    for other in store.runs_of_key(ref.key):  # newest first
        if other.version != run.version and other.status == "done" and other.kind == "sell_through":
            return other.token, other.ledger_shards
    return None


def _apply(
    ref: ObjectRef, deps: Collaborators, run: RunRecord, plan: CommitPlan, *, expected_slice: int
) -> RunRecord | None:
    run.status, run.finished_at, run.checkpoint = "done", now_iso(), None
    if deps.store.commit_run(plan, run, expected_slice=expected_slice):
        return run
    stored = deps.store.get_run(ref.key, ref.identity)
    if stored is not None and stored.status == "done":
        return None  # another invocation finished it
    raise Conflict(f"the commit of {run.run_id} was refused: the run or the ledger moved; retry")


def _work_objects(run: RunRecord, deps: Collaborators) -> list[str]:
    slices = staged_keys(run.token, max(0, run.slice - 1))
    sums = [staged_sums_object(run.token, n) for n in range(1, run.slice)]
    return [key for keys in slices.values() for key in keys] + sums + [commit_plan_object(run.token)]


def _refuse(ref: ObjectRef, store: PosStore) -> RunRecord | None:
    """A key outside pos/<distributor>/ and inventory/<distributor>/: a run record that says why."""
    reason = (
        f"not a POS key: {ref.key!r} is outside pos/<distributor>/ and inventory/<distributor>/ "
        "(put the file in its distributor's folder)"
    )
    run = RunRecord(ref.key, ref.identity, "", ref.kind, status="refused", started_at=now_iso(),
                    finished_at=now_iso(), error=reason)  # fmt: skip
    return store.create_run(run)


def fail_dead_lettered(body: dict[str, Any], store: PosStore) -> list[RunRecord]:
    """A run whose invocations all failed ends ``failed`` with the reason (the stream tells the channel
    manager). ``body``: Lambda's on-failure record of an S3 event (``requestPayload`` the event,
    ``responsePayload`` the error), or a continuation message that failed on every try. Returns the
    runs this failed (none when they had ended already: a record delivered twice changes nothing)."""
    from urllib.parse import unquote_plus

    if "requestPayload" in body:
        refs = [
            ObjectRef(r["s3"]["bucket"]["name"], unquote_plus(r["s3"]["object"]["key"]),
                      r["s3"]["object"].get("versionId"), r["s3"]["object"].get("eTag"))
            for r in (body.get("requestPayload") or {}).get("Records", []) if "s3" in r
        ]  # fmt: skip
        reason = _dead_letter_reason(body)
    else:
        refs = [ObjectRef(body["bucket"], body["key"], body.get("version"), body.get("etag"))]
        reason = (
            f"the file's reading stopped at slice {body.get('slice')}: that step failed on every try "
            "(an error, a time-out or out of memory); nothing of the file counts. Upload it again, or "
            "split it, and tell support if it fails again"
        )
    failed = []
    for ref in refs:
        if not ref.distributor:
            continue  # refused when it arrived
        run = store.get_run(ref.key, ref.identity)
        if run is None:  # it died before its record was written
            run = RunRecord(ref.key, ref.identity, ref.distributor, ref.kind, status="failed",
                            started_at=now_iso(), finished_at=now_iso(), error=reason)  # fmt: skip
            if store.create_run(run) is not None:
                failed.append(run)
        elif store.fail_run(run, reason):
            failed.append(run)
    return failed


def _dead_letter_reason(body: dict[str, Any]) -> str:
    error = body.get("responsePayload") or {}
    if not isinstance(error, dict):
        error = {"errorMessage": str(error)}
    context = body.get("requestContext") or {}
    what = ": ".join(str(v) for v in (error.get("errorType"), error.get("errorMessage")) if v)
    tries = context.get("approximateInvokeCount")
    return (
        f"the file could not be processed: {what or context.get('condition', 'the function failed')}"
        f"{f' ({tries} tries)' if tries else ''}; nothing of it counts. Upload it again, and tell "
        "support if it fails again"
    )


def _readable_failure(error: Exception) -> bool:
    """Errors that say the file itself cannot be read (as opposed to a bug or the platform)."""
    import csv
    import zipfile

    from openpyxl.utils.exceptions import InvalidFileException

    return isinstance(
        error,
        (LayoutError, zipfile.BadZipFile, UnicodeError, csv.Error, InvalidFileException, EOFError, KeyError),
    )


def _reason(error: Exception) -> str:
    import zipfile

    if isinstance(error, LayoutError):
        return str(error)
    if isinstance(error, zipfile.BadZipFile | KeyError):
        return f"the workbook cannot be opened (corrupt or not an .xlsx file): {error}"
    if isinstance(error, UnicodeError):
        return f"the file cannot be decoded ({error}); save it as UTF-8 or set the profile's encoding"
    return f"the file cannot be read: {type(error).__name__}: {error}"


def _required(body: bytes | None) -> bytes:
    if body is None:
        raise Conflict("the run's commit plan is missing: the run must be read again")
    return body


def _repeat_reject(repeat: Repeat) -> Reject:
    cells = [repeat.invoice, repeat.line, str(repeat.amount), repeat.currency]
    return Reject(repeat.row, cells, (
        f"line repeated within the file (invoice {repeat.invoice} line {repeat.line} "
        f"came earlier, at row {repeat.earlier_row})"))  # fmt: skip


def _part_key(ref: ObjectRef, slice_number: int) -> str:
    return f"{REJECTS_PREFIX}{ref.key}.parts/{slice_number:05d}.csv"


def _join_parts(ref: ObjectRef, slices: int, objects: ObjectReader) -> str:
    """One rejects file from the parts the slices wrote (the first part carries the header)."""
    final = rejects_key_of(ref.key)
    joined = tempfile.SpooledTemporaryFile(max_size=8 << 20)  # noqa: SIM115 - closed below
    try:
        for number in range(1, slices + 1):
            try:
                part = objects.open(ObjectRef(ref.bucket, _part_key(ref, number)), None)
            except FileNotFoundError:
                continue
            with part:
                while chunk := part.read(1 << 20):
                    joined.write(chunk)
        joined.seek(0)
        objects.put_text(ref.bucket, final, joined)
    finally:
        joined.close()
    # The parts are only a means to the joined file: once it is written, they go.
    objects.delete(ref.bucket, [_part_key(ref, number) for number in range(1, slices + 1)])
    return final


# ---------------------------------------------------------------- the AWS side of the collaborators
class S3Objects:
    def open(self, ref: ObjectRef, byte_offset: int | None) -> IO[bytes]:
        from botocore.exceptions import ClientError

        from shared.aws import client

        kwargs: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
        if ref.version:
            kwargs["VersionId"] = ref.version
        elif ref.etag:
            # the object replaced meanwhile: fail rather than mix two contents in one run
            kwargs["IfMatch"] = '"' + ref.etag.strip('"') + '"'
        if byte_offset:
            kwargs["Range"] = f"bytes={byte_offset}-"
        try:
            return client("s3").get_object(**kwargs)["Body"]  # type: ignore[no-any-return]
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404"):
                raise FileNotFoundError(ref.key) from error
            if code == "InvalidRange":  # the checkpoint stood at the very end of the object
                return io.BytesIO(b"")
            if code in ("PreconditionFailed", "412"):
                raise ObjectReplacedError(ref.key) from error
            raise

    def put_text(self, bucket: str, key: str, body: IO[bytes]) -> None:
        from shared.aws import client

        client("s3").upload_fileobj(body, bucket, key, ExtraArgs={"ContentType": "text/csv; charset=utf-8"})

    def get_bytes(self, bucket: str, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        from shared.aws import client

        try:
            return client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()  # type: ignore[no-any-return]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise

    def put_bytes(self, bucket: str, key: str, body: bytes) -> None:
        from shared.aws import client

        client("s3").put_object(Bucket=bucket, Key=key, Body=body)

    def delete(self, bucket: str, keys: list[str]) -> None:
        from shared.aws import client

        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1,000 keys a call
            chunk = keys[start : start + 1000]
            client("s3").delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            )
