"""Ingest one POS object from S3: the run record, the ledger, rejects, inventory, continuation.

``ingest_pos_object`` is what the handler calls for an S3 event and for a continuation message.
It reads the object as a stream, hands accepted lines to the ledger batch by batch, and stops when
the time budget runs low: the checkpoint goes into the run record and a continuation message
carries on in a fresh invocation, from the byte offset (CSV) or row (XLSX) where it stopped.

The channel manager's email about rejected rows is not sent from here: the finished run record
(counts, ``rejects_key``, a sample of rejected rows with their reasons, or the error) goes to the
alerts function on the POS table's stream, which sends it.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import IO, Any, Protocol

from pos_ingest.core import Checkpoint, ingest_file
from pos_ingest.layout import LayoutError
from pos_ingest.profile import DistributorProfile
from pos_ingest.rejects import RejectsWriter
from pos_ingest.validate import AcceptedBatch, InventoryLine, Reject
from shared.accounts import AccountMatcher
from shared.store.items import now_text as now_iso
from shared.store.pos import REJECT_SAMPLE_SIZE, LedgerLine, PosStore, RunRecord

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


class ObjectReplacedError(RuntimeError):
    """The object an event names was replaced by a newer one (its ETag no longer matches)."""


@dataclass
class Collaborators:
    store: PosStore
    objects: ObjectReader
    load_profile: Callable[[str, str], DistributorProfile]
    load_accounts: Callable[[], AccountMatcher]
    continue_later: Callable[[ObjectRef, int], None]


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
        from shared.observability import logger

        logger.error("not a POS key: expected pos/<distributor>/<file> or inventory/<distributor>/<file>",
                     extra={"key": ref.key})  # fmt: skip
        return None
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
        fresh = RunRecord(ref.key, ref.identity, ref.distributor, ref.kind, started_at=now_iso())
        run = store.create_run(fresh)
        if run is None:  # created by a concurrent delivery of the same object
            opened.close()
            return None
    elif run.status in ("done", "failed"):
        return None  # the same object delivered again counts once
    elif expected_slice is not None and run.slice != expected_slice:
        return None  # a duplicate continuation message
    checkpoint = Checkpoint.from_json(run.checkpoint) if run.checkpoint else None
    profile = deps.load_profile(ref.distributor, ref.kind)
    previous_slice = run.slice
    rejects_buffer = tempfile.SpooledTemporaryFile(max_size=1 << 20, mode="w+b")  # noqa: SIM115 - closed below
    rejects_text = io.TextIOWrapper(rejects_buffer, encoding="utf-8", newline="")
    writer: RejectsWriter | None = None
    repeats: list[LedgerLine] = []

    def on_rejects(rejects: list[Reject]) -> None:
        nonlocal writer
        if writer is None:
            writer = RejectsWriter(
                rejects_text, header, write_header=previous_slice == 0 or not run.rejects_key
            )
        writer.write(rejects)
        room = max(0, REJECT_SAMPLE_SIZE - len(run.reject_sample))
        run.reject_sample.extend({"row": r.row, "reason": r.reason} for r in rejects[:room])

    def on_accepted(batch: AcceptedBatch) -> None:
        pairs = batch.lines_with_cells()
        outcome = store.apply_lines(ref.distributor, run.run_id, [line for line, _cells in pairs])
        if outcome.repeats:
            cells = {line.row: row_cells for line, row_cells in pairs}
            repeats.extend(repeat.line for repeat in outcome.repeats)
            on_rejects(
                [_repeat_reject(r.line, cells.get(r.line.row, []), r.earlier_row) for r in outcome.repeats]
            )

    def on_inventory(lines: list[InventoryLine]) -> None:
        store.put_inventory(ref.distributor, run.run_id, lines)

    header: list[str] = []
    stream = opened or deps.objects.open(ref, checkpoint.position.byte_offset if checkpoint else None)
    try:
        outcome = ingest_file(
            stream,
            profile,
            file_name=ref.key,
            today=today,
            matcher=deps.load_accounts() if ref.kind == "sell_through" else None,
            on_accepted=on_accepted,
            on_inventory=on_inventory,
            on_rejects=on_rejects,
            on_layout=lambda layout: header.extend(layout.header),
            should_stop=should_stop,
            checkpoint=checkpoint,
            default_as_of=today,
            repeats_across_batches=ref.kind != "sell_through",  # the ledger judges sell-through repeats
        )
    except LayoutError as error:
        rejects_text.close()
        run.status, run.error, run.finished_at = "failed", str(error), now_iso()
        store.save_run(run, expected_slice=previous_slice)  # the stream tells the channel manager
        return run
    finally:
        stream.close()

    counts = outcome.counts
    for line in repeats:  # judged by the ledger after the core had counted them accepted
        counts.accepted -= 1
        counts.rejected += 1
        counts.amount_accepted[line.currency] -= line.extended_amount
    run.rows_total, run.accepted, run.rejected = counts.rows_total, counts.accepted, counts.rejected
    run.blank, run.footer = counts.blank, counts.footer
    run.amount_accepted = {k: str(v) for k, v in counts.amount_accepted.items()}
    run.slice = previous_slice + 1
    if writer is not None:
        rejects_text.flush()
        rejects_buffer.seek(0)
        part = f"rejects/{ref.key}.csv" if outcome.done and previous_slice == 0 else _part_key(ref, run.slice)
        deps.objects.put_text(ref.bucket, part, rejects_buffer)
        run.rejects_key = run.rejects_key or part
    rejects_text.close()
    if outcome.done:
        if run.rejects_key and previous_slice > 0:
            run.rejects_key = _join_parts(ref, run.slice, deps.objects)
        run.status, run.finished_at, run.checkpoint = "done", now_iso(), None
        if not store.save_run(run, expected_slice=previous_slice):
            return None  # another invocation finished it
        return run
    assert outcome.checkpoint is not None
    outcome.checkpoint.counts = counts
    run.status, run.checkpoint = "continuing", outcome.checkpoint.to_json()
    if store.save_run(run, expected_slice=previous_slice):
        deps.continue_later(ref, run.slice)
    return run


def _repeat_reject(line: LedgerLine, cells: list[str], earlier_row: int) -> Reject:
    return Reject(line.row, cells, (
        f"line repeated within the file (invoice {line.invoice_number} line {line.line} "
        f"came earlier, at row {earlier_row})"))  # fmt: skip


def _part_key(ref: ObjectRef, slice_number: int) -> str:
    return f"rejects/{ref.key}.parts/{slice_number:05d}.csv"


def _join_parts(ref: ObjectRef, slices: int, objects: ObjectReader) -> str:
    """One rejects file from the parts the slices wrote (the first part carries the header)."""
    final = f"rejects/{ref.key}.csv"
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

    def delete(self, bucket: str, keys: list[str]) -> None:
        from shared.aws import client

        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1,000 keys a call
            chunk = keys[start : start + 1000]
            client("s3").delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": k} for k in chunk], "Quiet": True}
            )
