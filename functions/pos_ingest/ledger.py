"""Exactly once at the file level: a run's lines staged while the file is read, then one commit.

While a file is read nothing is counted: each accepted line is staged (compact text, grouped by ledger
shard; a file read in several invocations keeps each slice's staged lines in S3). When the whole file
is read, the run takes its distributor's ledger lock and computes its commit in one pass, shard by shard:

- the ledger is a distributor's line set, in ``LEDGER_SHARDS`` S3 objects (an invoice's lines always in
  one), each line with the run that counts it and what it counted; the ledger head (DynamoDB) names
  the current object of each shard;
- a line another file counted before is taken back from that file's contribution and counted here
  (overlapping files, restatements by invoice and line);
- the key's previous version's lines that this version no longer has stop counting (a restatement
  that drops lines);
- a line twice in this file is a reject (the later row).

The result is the run's contribution per account x quarter x currency (with its distributor slice and
parts) and the ledger's new shard objects, written under new names; ``PosStore.commit_run`` then moves
the actuals, the ledger head and the run record together. DynamoDB writes grow with account-quarters,
not lines.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pos_ingest.validate import AcceptedBatch
from shared.store.plan import ActualDelta, DistributorCell
from shared.store.pos import (
    LEDGER_SHARDS,
    CommitPlan,
    LedgerHead,
    PosStore,
    UnmatchedDelta,
    is_unmatched,
    ledger_shard_object,
    ledger_shards_of,
    staged_lines_object,
    unmatched_name,
)

ZERO = Decimal(0)
_FIELD = "\x1f"
_RECORD = "\x1e"
STAGE_LEVEL = 1  # staged text lives until the commit: the fastest compression

# A staged line: invoice, line, row, amount, quantity, account, period, currency, part, end customer.
Staged = list[str]
# A ledger entry: run token, amount, quantity, account, period, currency, part, end customer.
Entry = list[str]


def _clean(text: str) -> str:
    return text.replace(_FIELD, " ").replace(_RECORD, " ") if (_FIELD in text or _RECORD in text) else text


class StagedLines:
    """The accepted lines of one slice, as compact text per ledger shard: each batch's lines of a shard
    joined into one text (a line is ``_FIELD``-separated, lines ``_RECORD``-separated), so the texts of
    a shard join into its staged body and few objects are held however long the slice. Each text is
    kept compressed (``STAGE_LEVEL``, raw deflate): a million lines hold about 25 MiB instead of about
    90 MiB, so a slice's memory hardly grows with its lines (the local hub runs it in its own process)."""

    def __init__(self) -> None:
        self.shards: dict[int, list[bytes]] = {}
        self.count = 0

    def add(self, batch: AcceptedBatch) -> None:
        for c in batch.column_sets:  # column-wise: no line object per row
            customers = list(map(str.strip, c.batch.column(c.extra[3])))
            self._add(
                c.inv, c.line, c.numbers, c.amount_texts(), c.quantity_texts(), c.account, c.periods,
                c.currency, c.part, customers,
            )  # fmt: skip
        if batch.singles:
            s = batch.singles
            self._add(
                [x.invoice_number for x in s], [x.line for x in s], [x.row for x in s],
                [str(x.extended_amount) for x in s], [str(x.quantity) for x in s], [x.account for x in s],
                [x.period for x in s], [x.currency for x in s], [x.part_number for x in s],
                [x.end_customer for x in s],
            )  # fmt: skip
        self.count += len(batch)

    def _add(self, invoices: list[str], lines: list[str], rows: Iterable[int], *texts: list[str]) -> None:
        """One batch's lines (the amount and quantity already as text), by shard."""
        columns = (invoices, lines, map(str, rows), *texts)
        records = list(map(_FIELD.join, zip(*columns, strict=True)))
        buckets: list[list[str]] = [[] for _ in range(LEDGER_SHARDS)]
        shards = ledger_shards_of(invoices)
        deque(map(list.append, map(buckets.__getitem__, shards), records), maxlen=0)
        for shard, bucket in enumerate(buckets):
            if not bucket:
                continue
            text = _RECORD.join(bucket)
            if text.count(_FIELD) != 9 * len(bucket) or text.count(_RECORD) != len(bucket) - 1:
                # a separator inside a cell: made again with it blanked (rare)
                fields = zip(invoices, lines, map(str, rows), *texts, strict=True)
                text = _RECORD.join(
                    _FIELD.join(map(_clean, f)) for f, s in zip(fields, shards, strict=True) if s == shard
                )
            self.shards.setdefault(shard, []).append(zlib.compress(text.encode(), STAGE_LEVEL, wbits=-15))

    def text(self, shard: int) -> str:
        """The shard's staged lines, one text (what ``records`` reads)."""
        return _RECORD.join(zlib.decompress(part, wbits=-15).decode() for part in self.shards.get(shard, []))

    def body(self, shard: int) -> bytes:
        return gzip.compress(self.text(shard).encode(), compresslevel=3)

    @staticmethod
    def records(text: str) -> list[Staged]:
        return [record.split(_FIELD) for record in text.split(_RECORD)] if text else []


@dataclass
class Repeat:
    """A line twice in the file, found at the commit (the two copies were read in different slices)."""

    row: int
    invoice: str
    line: str
    amount: Decimal
    currency: str
    earlier_row: int


@dataclass
class _Contribution:
    totals: dict[tuple[str, int, int, str], list[Decimal]] = field(default_factory=dict)
    cells: dict[tuple[str, int, int, str], list[Any]] = field(default_factory=dict)  # amount, qty, parts
    unmatched: dict[tuple[str, str], UnmatchedDelta] = field(default_factory=dict)

    def add(self, fields: list[str], sign: int) -> None:
        """Count one line (its amount, quantity, account, period, currency, part, end customer), or
        take it back (``sign=-1``)."""
        amount_text, quantity_text, account, period, currency, part, customer = fields
        amount, quantity = Decimal(amount_text), Decimal(quantity_text)
        if sign < 0:
            amount, quantity = -amount, -quantity
        if is_unmatched(account):
            name = unmatched_name(account)
            slot = self.unmatched.get((name, currency))
            if slot is None:
                slot = self.unmatched[(name, currency)] = UnmatchedDelta(name, currency)
            slot.amount += amount
            slot.lines += sign
            if customer:
                slot.customers.add(customer)
            return
        key = (account, int(period[:4]), int(period[-1]), currency)
        total = self.totals.get(key)
        if total is None:
            self.totals[key] = [amount, quantity]
            cell: list[Any] = [amount, quantity, {part: [amount, quantity]}]
            self.cells[key] = cell
            return
        total[0] += amount
        total[1] += quantity
        cell = self.cells[key]
        cell[0] += amount
        cell[1] += quantity
        parts = cell[2]
        slot_p = parts.get(part)
        if slot_p is None:
            parts[part] = [amount, quantity]
        else:
            slot_p[0] += amount
            slot_p[1] += quantity


@dataclass
class CommitWork:
    plan: CommitPlan
    repeats: list[Repeat]
    shard_bodies: dict[int, bytes]  # new shard objects to write before the commit
    old_objects: list[str]  # shard objects the commit replaces (deleted after it)
    shards_with_lines: list[int]


def load_shard(body: bytes | None) -> dict[str, Entry]:
    return json.loads(gzip.decompress(body)) if body else {}


def plan_commit(
    *,
    distributor: str,
    run_id: str,
    token: str,
    head: LedgerHead,
    staged: Callable[[int], Iterable[str]],
    staged_shards: set[int],
    previous: tuple[str, list[int]] | None,
    read_object: Callable[[str], bytes | None],
    store: PosStore,
) -> CommitWork:
    """The run's commit against the ledger as the head names it. ``staged(shard)`` yields the staged
    text of each slice for a shard, in slice order; ``previous`` is the token and ledger shards of the
    key's previous version (its lines this version drops stop counting)."""
    contribution = _Contribution()
    repeats: list[Repeat] = []
    bodies: dict[int, bytes] = {}
    old: list[str] = []
    shards = dict(head.shards)
    dropping = set(previous[1]) if previous else set()
    with_lines = []
    for shard in sorted(staged_shards | dropping):
        current = head.shards.get(shard)
        ledger = load_shard(read_object(current) if current else None)
        seen: dict[str, int] = {}
        for text in staged(shard):
            for record in StagedLines.records(text):
                invoice, line, row = record[0], record[1], int(record[2])
                key = invoice + _FIELD + line
                earlier = seen.get(key)
                if earlier is not None:
                    repeats.append(Repeat(row, invoice, line, Decimal(record[3]), record[7], earlier))
                    continue
                seen[key] = row
                before = ledger.get(key)
                if before is not None:
                    if before[0] == token:
                        continue
                    contribution.add(before[1:], sign=-1)
                contribution.add(record[3:], sign=1)
                ledger[key] = [token, *record[3:]]
        if previous and shard in dropping:
            gone = [k for k, e in ledger.items() if e[0] == previous[0] and k not in seen]
            for key in gone:
                contribution.add(ledger.pop(key)[1:], sign=-1)
        if seen:
            with_lines.append(shard)
        body = gzip.compress(json.dumps(ledger, separators=(",", ":")).encode(), compresslevel=3)
        bodies[shard] = body
        shards[shard] = ledger_shard_object(distributor, shard, token)
        if current and current != shards[shard]:
            old.append(current)
    plan = CommitPlan(distributor, run_id, head.version, shards)
    plan.totals = [
        ActualDelta(*key, amount, quantity)
        for key, (amount, quantity) in sorted(contribution.totals.items())
        if amount or quantity
    ]
    stored = store.distributor_cells(distributor, contribution.cells)
    for cell_key, (amount, quantity, parts) in sorted(contribution.cells.items()):
        if not amount and not quantity and not any(a or q for a, q in parts.values()):
            continue
        now = stored.get(cell_key)
        merged = dict(now.parts) if now else {}
        for part, (a, q) in parts.items():
            old_a, old_q = merged.get(part, (ZERO, ZERO))
            merged[part] = (old_a + a, old_q + q)
        account, year, quarter, currency = cell_key
        plan.cells.append(
            DistributorCell(
                account, year, quarter, currency, distributor, (now.amount if now else ZERO) + amount,
                (now.quantity if now else ZERO) + quantity, merged, now.version if now else 0,
                now.stored_version if now else 0, now.stored_run if now else "",
            )
        )  # fmt: skip
        if now is not None and now.version:
            plan.before[cell_key] = now
    plan.unmatched = [u for _k, u in sorted(contribution.unmatched.items()) if u.amount or u.lines]
    plan.slots, plan.unmatched_slots = store.commit_slots(
        distributor,
        [(d.account_id, d.year, d.quarter, d.currency) for d in plan.totals],
        sorted({u.normalised_name for u in plan.unmatched}),
    )
    return CommitWork(plan, repeats, bodies, old, with_lines)


def staged_keys(token: str, slices: int) -> dict[int, list[str]]:
    """The S3 keys of the staged lines earlier slices kept, per shard."""
    return {
        shard: [staged_lines_object(token, n, shard) for n in range(1, slices + 1)]
        for shard in range(LEDGER_SHARDS)
    }
