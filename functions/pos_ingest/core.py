"""Reading, validating and aggregating one POS file, resumable at batch boundaries.

With ``use_engine``, a sell-through CSV that the columnar engine can read exactly (see ``engine``) is
read, checked and summed by DuckDB; every other file, and every row the engine does not find plainly
good, goes through the reference path below (``reader`` + ``validate``), which explains each reject.

``ingest_file`` reads a binary stream batch by batch; after each batch it asks ``should_stop`` (a time
budget) and, when told to, returns a ``Checkpoint``: the layout found, the source position (record
number and byte offset), the keys seen and the counts so far. Calling it again with that checkpoint
and a stream positioned at the byte offset carries on exactly where it stopped.
"""

from __future__ import annotations

import base64
import gc
import json
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from decimal import Decimal
from typing import IO, Any

from pos_ingest import engine
from pos_ingest.layout import Layout
from pos_ingest.profile import DistributorProfile
from pos_ingest.reader import Position, open_source
from pos_ingest.validate import (
    ZERO,
    AcceptedBatch,
    InventoryLine,
    InventoryValidator,
    Reject,
    SellThroughValidator,
    ValidatorState,
)
from shared.accounts import AccountMatcher

BATCH_SIZE = 1024


@dataclass
class RunCounts:
    """Every data record lands in exactly one of accepted, rejected, blank or footer."""

    rows_total: int = 0
    accepted: int = 0
    rejected: int = 0
    blank: int = 0
    footer: int = 0
    amount_accepted: dict[str, Decimal] = field(default_factory=dict)  # per currency

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["amount_accepted"] = {k: str(v) for k, v in self.amount_accepted.items()}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunCounts:
        values = dict(data)
        values["amount_accepted"] = {k: Decimal(v) for k, v in data.get("amount_accepted", {}).items()}
        return cls(**values)


@dataclass
class Checkpoint:
    layout: Layout
    position: Position
    counts: RunCounts
    state: ValidatorState = field(default_factory=ValidatorState)

    def to_json(self) -> str:
        """A compact JSON document (for a continuation record or an S3 object). The duplicate-key set is
        process-local (salted hashes) and is not kept: across invocations the storage ledger, which knows
        which run wrote each line, judges a repeat of a line counted before the checkpoint."""
        counts = [[inv, part, n] for (inv, part), n in self.state.part_counts.items()]
        packed = base64.b64encode(zlib.compress(json.dumps(counts).encode())).decode()
        return json.dumps(
            {
                "layout": self.layout.to_dict(),
                "position": {
                    "row": self.position.row,
                    "byte_offset": self.position.byte_offset,
                    "pending": [[n, list(r)] for n, r in self.position.pending],
                },
                "counts": self.counts.to_dict(),
                "part_counts": packed,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        data = json.loads(text)
        position = Position(
            data["position"]["row"],
            data["position"]["byte_offset"],
            tuple((n, tuple(r)) for n, r in data["position"]["pending"]),
        )
        part_counts = {
            (inv, part): n
            for inv, part, n in json.loads(zlib.decompress(base64.b64decode(data["part_counts"])))
        }
        return cls(
            Layout.from_dict(data["layout"]),
            position,
            RunCounts.from_dict(data["counts"]),
            ValidatorState(part_counts=part_counts),
        )


@dataclass
class SliceOutcome:
    """What one call did. ``counts`` are cumulative over the whole file so far."""

    layout: Layout
    counts: RunCounts
    done: bool
    checkpoint: Checkpoint | None


def _never(_rows: int) -> bool:
    return False


def ingest_file(
    stream: IO[bytes],
    profile: DistributorProfile,
    *,
    file_name: str = "",
    today: date,
    matcher: AccountMatcher | None = None,
    on_accepted: Callable[[AcceptedBatch], None] | None = None,
    on_inventory: Callable[[list[InventoryLine]], None] | None = None,
    on_rejects: Callable[[list[Reject]], None] | None = None,
    on_layout: Callable[[Layout], None] | None = None,
    should_stop: Callable[[int], bool] = _never,
    max_rows: int | None = None,
    checkpoint: Checkpoint | None = None,
    default_as_of: date | None = None,
    batch_size: int | None = None,
    repeats_across_batches: bool = True,
    use_engine: bool = False,
    engine_parts: bool = False,
) -> SliceOutcome:
    """Read, validate and hand over the rows of one POS file (sell-through or inventory per profile).

    ``should_stop(rows_done_in_this_call)`` is asked after each batch; ``max_rows`` stops after that
    many data records in this call. Both return a checkpoint to resume from. With
    ``repeats_across_batches=False`` a line repeated in a later batch is left to the caller's ledger.

    ``use_engine=True`` lets the columnar engine read a plain sell-through CSV (see ``engine``): the file
    in one pass, one accepted batch whose totals DuckDB sums, every repeat judged over the whole file.
    It pays when the caller wants totals; a caller that takes every line (``pos_ingest``'s staging) gets
    them built again by the reference path, so it keeps the reference path (bench/pos.py, ``lambda``).
    ``engine_parts=True``: the caller will sum per part (``amount_columns(by_part=True)``), so the
    engine's one pass groups by part too (without, a breakdown per part costs another pass)."""
    if (
        use_engine
        and checkpoint is None
        and max_rows is None
        and batch_size is None
        and engine.may_serve(profile, file_name)
        and not should_stop(0)  # no time for a whole-file pass: the batch path checkpoints as it goes
    ):
        spool = engine.Spool(stream)
        try:
            counts = RunCounts()
            with _fewer_collections():
                served = engine.ingest(
                    spool, profile, today=today, matcher=matcher, on_layout=on_layout,
                    on_accepted=on_accepted, on_rejects=on_rejects, should_stop=should_stop, counts=counts,
                    parts=engine_parts,
                )  # fmt: skip
            if served is not None:
                return SliceOutcome(served, counts, True, None)
            spool.file.seek(0)
            return ingest_file(
                spool.file, profile, file_name=file_name, today=today, matcher=matcher,
                on_accepted=on_accepted, on_inventory=on_inventory, on_rejects=on_rejects,
                on_layout=on_layout, should_stop=should_stop, max_rows=max_rows, default_as_of=default_as_of,
                batch_size=batch_size, repeats_across_batches=repeats_across_batches, use_engine=False,
            )  # fmt: skip
        finally:
            spool.close()
    with _fewer_collections():
        return _ingest(
            stream, profile, file_name=file_name, today=today, matcher=matcher, on_accepted=on_accepted,
            on_inventory=on_inventory, on_rejects=on_rejects, on_layout=on_layout, should_stop=should_stop,
            max_rows=max_rows, checkpoint=checkpoint, default_as_of=default_as_of, batch_size=batch_size,
            repeats_across_batches=repeats_across_batches,
        )  # fmt: skip


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Rows are short-lived containers made by the thousand: the default threshold (700) would run the
    young-generation collector every few rows' worth of allocations. Restored afterwards."""
    before = gc.get_threshold()
    gc.set_threshold(max(before[0], 50_000), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _ingest(
    stream: IO[bytes],
    profile: DistributorProfile,
    *,
    file_name: str,
    today: date,
    matcher: AccountMatcher | None,
    on_accepted: Callable[[AcceptedBatch], None] | None,
    on_inventory: Callable[[list[InventoryLine]], None] | None,
    on_rejects: Callable[[list[Reject]], None] | None,
    on_layout: Callable[[Layout], None] | None,
    should_stop: Callable[[int], bool],
    max_rows: int | None,
    checkpoint: Checkpoint | None,
    default_as_of: date | None,
    batch_size: int | None,
    repeats_across_batches: bool,
) -> SliceOutcome:
    source = open_source(
        stream,
        profile,
        file_name=file_name,
        layout=checkpoint.layout if checkpoint else None,
        start=checkpoint.position if checkpoint else None,
    )
    try:
        layout = source.layout
        if on_layout:
            on_layout(layout)
        counts = RunCounts.from_dict(checkpoint.counts.to_dict()) if checkpoint else RunCounts()
        state = checkpoint.state if checkpoint else ValidatorState()
        state.across_batches = repeats_across_batches
        if layout.kind == "inventory":
            inventory = InventoryValidator(layout, profile, today, default_as_of, state)
        else:
            sell = SellThroughValidator(layout, profile, matcher or AccountMatcher(), today, state)
        done_here = 0
        amounts = counts.amount_accepted
        batch_size = batch_size or BATCH_SIZE
        while True:
            limit = batch_size if max_rows is None else min(batch_size, max_rows - done_here)
            if limit <= 0:
                break
            batch = source.next_batch(limit)
            if not len(batch):
                counts.footer += source.footer_rows
                counts.rows_total += source.footer_rows
                return SliceOutcome(layout, counts, True, None)
            done_here += len(batch)
            counts.rows_total += len(batch)
            if layout.kind == "inventory":
                lines, result = inventory.validate(batch.numbers, batch.rows)
                counts.accepted += len(lines)
                if on_inventory and lines:
                    on_inventory(lines)
            else:
                result = sell.validate(batch)
                accepted = result.accepted
                counts.accepted += len(accepted)
                if len(accepted):
                    for _acc, _per, currencies, _parts, amounts_column, _qty in accepted.amount_columns():
                        if currencies.count(currencies[0]) == len(currencies):
                            currency = currencies[0]
                            amounts[currency] = amounts.get(currency, ZERO) + sum(amounts_column, ZERO)
                        else:
                            for currency, amount in zip(currencies, amounts_column, strict=True):
                                amounts[currency] = amounts.get(currency, ZERO) + amount
                    if on_accepted:
                        on_accepted(accepted)
            counts.rejected += len(result.rejects)
            counts.blank += result.blank_rows
            counts.footer += result.footer_rows
            if on_rejects and result.rejects:
                on_rejects(result.rejects)
            if should_stop(done_here):
                break
        counts.footer += source.footer_rows
        counts.rows_total += source.footer_rows
        return SliceOutcome(layout, counts, False, Checkpoint(layout, source.position(), counts, state))
    finally:
        source.close()
