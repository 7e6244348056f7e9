"""Exactly once at the file level: a run's lines staged while the file is read, then one commit.

While a file is read nothing is counted: each accepted line is staged (compact text, grouped by ledger
shard; a file read in several invocations keeps each slice's staged lines in S3), and summed as it is
staged, per shard and (account, period, currency, part), exact in ``Decimal``. When the whole file is
read, the run takes its distributor's ledger lock and computes its commit shard by shard:

- the ledger is a distributor's line set, in ``LEDGER_SHARDS`` S3 objects (an invoice's lines always in
  one), each line with the run that counts it and what it counted; the ledger head (DynamoDB) names
  the current object of each shard;
- the run's contribution starts as the sums made while staging (one step per distinct key, not per
  line); then only the lines whose key the ledger or the run itself already holds are handled one by
  one: a line another file counted before is taken back from that file's contribution and counted here
  (overlapping files, restatements by invoice and line); a line twice in this file is a reject (the
  later row) and leaves the sums; the key's previous version's lines that this version no longer has
  stop counting (a restatement that drops lines);
- the shard's new line set is the old one updated with the run's lines in bulk (dictionaries of text,
  no object per line).

The result is the run's contribution per account x quarter x currency (with its distributor slice and
parts) and the ledger's new shard objects, written under new names; ``PosStore.commit_run`` then moves
the actuals, the ledger head and the run record together. DynamoDB writes grow with account-quarters,
not lines.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import compress
from operator import methodcaller
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
    unmatched_account,
    unmatched_name,
)

ZERO = Decimal(0)
_FIELD = "\x1f"
_RECORD = "\x1e"
STAGE_LEVEL = 1  # staged text lives until the commit: the fastest compression
_CHUNK_LINES = 4096  # a shard's staged lines are compressed this many at a time
_FORMAT = 2  # staged shard texts and ledger objects as columns of text (version 1: a record per line)

# A staged line: invoice, line, row, amount, quantity, account, period, currency, part, end customer.
Staged = list[str]
# What a line counts, as text: amount, quantity, account, period, currency, part, end customer; a ledger
# entry is the run token before it.
Entry = list[str]
SumKey = str  # account, period, currency, part joined by \x1f (a str hashes once: faster than a tuple)
Sums = dict[SumKey, Decimal]  # amounts or quantities by key
CustomerKey = tuple[str, str, str]  # unmatched account, currency, end customer (-> lines)
_UNMATCHED = unmatched_account("")


def _clean(text: str) -> str:
    return text.replace(_FIELD, " ").replace(_RECORD, " ") if (_FIELD in text or _RECORD in text) else text


def _plain(texts: list[str], fields: int) -> bool:
    """No separator inside a cell of these joined texts (each ``fields`` fields)."""
    joined = _RECORD.join(texts)
    return joined.count(_FIELD) == (fields - 1) * len(texts) and joined.count(_RECORD) == len(texts) - 1


@dataclass
class StagedSums:
    """What a slice's staged lines count, summed as they were staged: amount and quantity per
    (account, period, currency, part), lines per (account, currency), and the lines of each unmatched
    end customer. ``lines``: how many lines in all."""

    lines: int = 0
    amounts: Sums = field(default_factory=dict)
    quantities: Sums = field(default_factory=dict)
    line_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    customers: dict[CustomerKey, int] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        q = self.quantities
        document = {
            "v": _FORMAT, "lines": self.lines,
            "sums": [[*k.split(_FIELD), str(a), str(q[k])] for k, a in self.amounts.items()],
            "line_counts": [[*k, n] for k, n in self.line_counts.items()],
            "customers": [[*k, n] for k, n in self.customers.items()],
        }  # fmt: skip
        return gzip.compress(json.dumps(document, separators=(",", ":")).encode(), compresslevel=3)

    @classmethod
    def from_bytes(cls, body: bytes) -> StagedSums:
        data = json.loads(gzip.decompress(body))
        amounts = {_FIELD.join((a, p, c, t)): Decimal(x) for a, p, c, t, x, _q in data["sums"]}
        quantities = {_FIELD.join((a, p, c, t)): Decimal(q) for a, p, c, t, _x, q in data["sums"]}
        return cls(
            data["lines"], amounts, quantities, {(a, c): n for a, c, n in data["line_counts"]},
            {(a, c, name): n for a, c, name, n in data["customers"]},
        )  # fmt: skip


@dataclass
class StagedShard:
    """A shard's staged lines of one slice, as columns of text: keys (``invoice<US>line``), rows, and
    what each line counts (amount, quantity, account, period, currency, part, end customer). ``summed``:
    the slice's ``StagedSums`` hold them (not so for a slice staged before the sums were)."""

    keys: list[str] = field(default_factory=list)
    rows: list[str] = field(default_factory=list)
    rests: list[str] = field(default_factory=list)
    summed: bool = True

    def to_text(self) -> str:
        """One text: a small JSON header (the columns' lengths), then the columns."""
        keys, rows, rests = (_RECORD.join(c) for c in (self.keys, self.rows, self.rests))
        head = json.dumps({"v": _FORMAT, "n": len(self.keys), "k": len(keys), "r": len(rows)})
        return f"{head}\n{keys}{rows}{rests}"

    @classmethod
    def from_text(cls, text: str, *, summed: bool = True) -> StagedShard:
        """``to_text`` read back; a text staged one record per line (before the columns) too."""
        if not text:
            return cls(summed=summed)
        if not text.startswith('{"v":'):
            piece = cls(summed=False)
            for record in text.split(_RECORD):
                invoice, line, row, rest = record.split(_FIELD, 3)
                piece.keys.append(invoice + _FIELD + line)
                piece.rows.append(row)
                piece.rests.append(rest)
            return piece
        end = text.index("\n")
        head = json.loads(text[:end])
        k, r = end + 1 + head["k"], end + 1 + head["k"] + head["r"]
        if not head["n"]:
            return cls(summed=summed)
        keys, rows, rests = (t.split(_RECORD) for t in (text[end + 1 : k], text[k:r], text[r:]))
        return cls(keys, rows, rests, summed)


class StagedLines:
    """The accepted lines of one slice, as compact text per ledger shard: each batch's lines of a shard
    as three columns of text (keys, rows, what each counts), kept compressed ``_CHUNK_LINES`` at a time
    (``STAGE_LEVEL``, raw deflate: a million lines hold about 25 MiB instead of about 90 MiB, so a
    slice's memory hardly grows with its lines); and their sums per (account, period, currency, part), added up as they are
    staged (``StagedSums``), so the commit starts from the sums instead of from each line."""

    def __init__(self) -> None:
        self.shards: dict[int, list[bytes]] = {}
        self.count = 0
        self._amounts: Sums = {}
        self._quantities: Sums = {}
        self._customers: Counter[CustomerKey] = Counter()  # lines per account, currency, end customer
        self._pending: list[tuple[list[str], list[str], list[str]]] = [
            ([], [], []) for _ in range(LEDGER_SHARDS)
        ]

    def add(self, batch: AcceptedBatch) -> None:
        for c in batch.column_sets:  # column-wise: no line object per row
            customers = list(map(str.strip, c.batch.column(c.extra[3])))
            self._add(
                c.inv, c.line, c.numbers, c.amount_texts(), c.quantity_texts(), c.account, c.periods,
                c.currency, c.part, customers, c.ext, c.qty,
            )  # fmt: skip
        if batch.singles:
            s = batch.singles
            self._add(
                [x.invoice_number for x in s], [x.line for x in s], [x.row for x in s],
                [str(x.extended_amount) for x in s], [str(x.quantity) for x in s], [x.account for x in s],
                [x.period for x in s], [x.currency for x in s], [x.part_number for x in s],
                [x.end_customer for x in s], [x.extended_amount for x in s], [x.quantity for x in s],
            )  # fmt: skip

    def _add(
        self, invoices: list[str], lines: list[str], rows: Iterable[int], amount_texts: list[str],
        quantity_texts: list[str], accounts: list[str], periods: list[str], currencies: list[str],
        parts: list[str], customers: list[str], amounts: list[Decimal], quantities: list[Decimal],
    ) -> None:  # fmt: skip
        """One batch's lines (the amount and quantity also as text), by shard, and into the sums."""
        texts = [amount_texts, quantity_texts, accounts, periods, currencies, parts, customers]
        keys = list(map(_FIELD.join, zip(invoices, lines, strict=True)))
        rests = list(map(_FIELD.join, zip(*texts, strict=True)))
        if not (_plain(keys, 2) and _plain(rests, 7)):  # a separator inside a cell: blanked (rare)
            invoices, lines = list(map(_clean, invoices)), list(map(_clean, lines))
            texts = [list(map(_clean, column)) for column in texts]
            amount_texts, quantity_texts, accounts, periods, currencies, parts, customers = texts
            keys = list(map(_FIELD.join, zip(invoices, lines, strict=True)))
            rests = list(map(_FIELD.join, zip(*texts, strict=True)))
        unmatched = list(map(methodcaller("startswith", _UNMATCHED), accounts))
        if any(unmatched):  # an unmatched customer's sums need no period nor part: fewer keys
            periods = ["" if u else p for u, p in zip(unmatched, periods, strict=True)]
            parts = ["" if u else p for u, p in zip(unmatched, parts, strict=True)]
        keys_of = map(_FIELD.join, zip(accounts, periods, currencies, parts, strict=True))
        _sum(self._amounts, self._quantities, keys_of, amounts, quantities)
        self._customers.update(zip(accounts, currencies, customers, strict=True))
        self.count += len(keys)
        shards = ledger_shards_of(invoices)
        columns: list[list[list[str]]] = []
        for column in (keys, list(map(str, rows)), rests):
            buckets: list[list[str]] = [[] for _ in range(LEDGER_SHARDS)]
            deque(map(list.append, map(buckets.__getitem__, shards), column), maxlen=0)
            columns.append(buckets)
        pending = self._pending
        for shard, (key_bucket, row_bucket, rest_bucket) in enumerate(zip(*columns, strict=True)):
            if key_bucket:
                self.shards.setdefault(shard, [])
                held = pending[shard]
                held[0].extend(key_bucket)
                held[1].extend(row_bucket)
                held[2].extend(rest_bucket)
                if len(held[0]) >= _CHUNK_LINES:
                    self._compress(shard)

    def _compress(self, shard: int) -> None:
        """The shard's pending lines into one compressed chunk (a chunk of many lines: compressing a
        batch's few lines of a shard at a time cost more than the rest of the staging)."""
        keys, rows, rests = self._pending[shard]
        if keys:
            text = StagedShard(keys, rows, rests).to_text()
            self.shards[shard].append(zlib.compress(text.encode(), STAGE_LEVEL, wbits=-15))
            self._pending[shard] = ([], [], [])

    def sums(self) -> StagedSums:
        """The slice's sums (the lines of unmatched end customers only)."""
        customers = {k: n for k, n in self._customers.items() if is_unmatched(k[0])}
        lines: Counter[tuple[str, str]] = Counter()
        for (account, currency, _customer), n in customers.items():
            lines[(account, currency)] += n
        named = {k: n for k, n in customers.items() if k[2]}
        return StagedSums(self.count, self._amounts, self._quantities, dict(lines), named)

    def shard(self, shard: int) -> StagedShard:
        """The shard's staged lines (what the commit reads)."""
        piece = StagedShard()
        if shard in self.shards:
            self._compress(shard)
        for part in self.shards.get(shard, []):
            chunk = StagedShard.from_text(zlib.decompress(part, wbits=-15).decode())
            piece.keys += chunk.keys
            piece.rows += chunk.rows
            piece.rests += chunk.rests
        return piece

    def text(self, shard: int) -> str:
        """The shard's staged lines as one text (``StagedShard.from_text`` reads it)."""
        return self.shard(shard).to_text()

    def body(self, shard: int) -> bytes:
        return gzip.compress(self.text(shard).encode(), compresslevel=3)

    def records(self, shard: int) -> list[Staged]:
        """The shard's staged lines, each as its fields (invoice, line, row, amount, ... end customer)."""
        piece = self.shard(shard)
        return [
            [*key.split(_FIELD), row, *rest.split(_FIELD)]
            for key, row, rest in zip(piece.keys, piece.rows, piece.rests, strict=True)
        ]


def _sum(
    amounts: Sums, quantities: Sums, keys: Iterable[SumKey], line_amounts: Iterable[Decimal],
    line_quantities: Iterable[Decimal],
) -> None:  # fmt: skip
    """Add each line's amount and quantity to the sums of its key (exact: ``Decimal``; values that the
    cyclic collector never walks, however many keys). Line by line: merging a batch as a dict, only
    the keys already summed one by one, measured slower (a million keys: 1.2 s against 0.9 s)."""
    get = amounts.get
    for key, amount, quantity in zip(keys, line_amounts, line_quantities, strict=True):
        total = get(key)
        if total is None:
            amounts[key] = amount
            quantities[key] = quantity
        else:
            amounts[key] = total + amount
            quantities[key] += quantity


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
    # by `account<US>period<US>currency`: amount, quantity, {part: [amount, quantity]}
    cells: dict[str, list[Any]] = field(default_factory=dict)
    unmatched: dict[tuple[str, str], UnmatchedDelta] = field(default_factory=dict)
    customer_lines: Counter[CustomerKey] = field(default_factory=Counter)

    def add_sums(self, staged: StagedSums) -> None:
        """Count a slice's staged lines from their sums: one step per distinct key, not per line (what
        ``_count`` does, written out: a million lines may have half a million keys). The sums are
        taken out of ``staged`` as they are counted, so the two are not held whole at once."""
        cells, amounts, quantities = self.cells, staged.amounts, staged.quantities
        while amounts:
            key, amount = amounts.popitem()
            quantity = quantities.pop(key)
            if key.startswith(_UNMATCHED):  # few keys: summed without period nor part
                account, _period, currency, _part = key.split(_FIELD)
                self._slot(account, currency).amount += amount
                continue
            cell_key, part = key.rsplit(_FIELD, 1)
            cell = cells.get(cell_key)
            if cell is None:
                cells[cell_key] = [amount, quantity, {part: [amount, quantity]}]
                continue
            cell[0] += amount
            cell[1] += quantity
            slot_p = cell[2].get(part)
            if slot_p is None:
                cell[2][part] = [amount, quantity]
            else:
                slot_p[0] += amount
                slot_p[1] += quantity
        for (account, currency), lines in staged.line_counts.items():
            self._slot(account, currency).lines += lines
        self.customer_lines.update(staged.customers)

    def count_line(self, fields: list[str]) -> None:
        """Count one staged line that no sums hold (a slice staged before the sums were)."""
        amount_text, quantity_text, account, period, currency, part, customer = fields
        self._count(account, period, currency, part, Decimal(amount_text), Decimal(quantity_text), 1)
        if customer and is_unmatched(account):
            self.customer_lines[(account, currency, customer)] += 1

    def take_back(self, fields: list[str]) -> None:
        """Take back a line another run counted (what its ledger entry counted)."""
        amount_text, quantity_text, account, period, currency, part, customer = fields
        self._count(account, period, currency, part, -Decimal(amount_text), -Decimal(quantity_text), -1)
        if customer and is_unmatched(account):
            self._slot(account, currency).customers.add(customer)

    def uncount(self, fields: list[str]) -> None:
        """A staged line that does not count after all (a repeat, or a line this run counts already):
        out of the sums it was added to."""
        amount_text, quantity_text, account, period, currency, part, customer = fields
        self._count(account, period, currency, part, -Decimal(amount_text), -Decimal(quantity_text), -1)
        if customer and is_unmatched(account):
            self.customer_lines[(account, currency, customer)] -= 1

    def finish(self) -> None:
        """The unmatched end customers of the lines that count, on their customers' deltas."""
        for (account, currency, customer), lines in self.customer_lines.items():
            if lines > 0:
                self._slot(account, currency).customers.add(customer)

    def _slot(self, account: str, currency: str) -> UnmatchedDelta:
        name = unmatched_name(account)
        slot = self.unmatched.get((name, currency))
        if slot is None:
            slot = self.unmatched[(name, currency)] = UnmatchedDelta(name, currency)
        return slot

    def _count(
        self, account: str, period: str, currency: str, part: str, amount: Decimal, quantity: Decimal,
        lines: int,
    ) -> None:  # fmt: skip
        if account.startswith(_UNMATCHED):
            slot = self._slot(account, currency)
            slot.amount += amount
            slot.lines += lines
            return
        key = _FIELD.join((account, period, currency))
        cell = self.cells.get(key)
        if cell is None:
            self.cells[key] = [amount, quantity, {part: [amount, quantity]}]
            return
        cell[0] += amount
        cell[1] += quantity
        parts = cell[2]
        slot_p = parts.get(part)
        if slot_p is None:
            parts[part] = [amount, quantity]
        else:
            slot_p[0] += amount
            slot_p[1] += quantity

    def by_quarter(self) -> dict[tuple[str, int, int, str], list[Any]]:
        """The cells by (account, year, quarter, currency)."""
        return {
            (account, int(period[:4]), int(period[-1]), currency): cell
            for (account, period, currency), cell in zip(
                map(methodcaller("split", _FIELD), self.cells), self.cells.values(), strict=True
            )
        }


@dataclass
class CommitWork:
    plan: CommitPlan
    repeats: list[Repeat]
    shard_bodies: dict[int, bytes]  # new shard objects to write before the commit
    old_objects: list[str]  # shard objects the commit replaces (deleted after it)
    shards_with_lines: list[int]


def load_shard(body: bytes | None) -> dict[str, str]:
    """A shard's line set: entry text (``run token<US>amount<US>...``) by key (``invoice<US>line``);
    a line set written as JSON lists (before the columns) is read too."""
    if not body:
        return {}
    data = json.loads(gzip.decompress(body))
    if data.get("v") == _FORMAT:  # a key always holds a separator: never "v"
        keys = data["keys"]
        return dict(zip(keys.split(_RECORD), data["entries"].split(_RECORD), strict=True)) if keys else {}
    return {key: _FIELD.join(entry) for key, entry in data.items()}


def shard_body(ledger: dict[str, str]) -> bytes:
    """A shard's line set as its S3 object: two texts in a small JSON document, gzipped."""
    document = {"v": _FORMAT, "keys": _RECORD.join(ledger), "entries": _RECORD.join(ledger.values())}
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return gzip.compress(text.encode(), compresslevel=1)  # read once, by the next commit: the fastest


def _apply_shard(
    ledger: dict[str, str],
    pieces: list[StagedShard],
    contribution: _Contribution,
    repeats: list[Repeat],
    token: str,
) -> int:
    """The shard's staged lines into its line set and the contribution (which holds their sums):
    one by one only the lines whose key the ledger or the run already holds. The lines it had."""
    keys = [key for piece in pieces for key in piece.keys]
    if not keys:
        return 0
    rests = [rest for piece in pieces for rest in piece.rests]
    for piece in pieces:
        if not piece.summed:
            deque(map(contribution.count_line, map(methodcaller("split", _FIELD), piece.rests)), maxlen=0)
    new = dict(zip(keys, rests, strict=True))
    if len(new) != len(keys):  # a key twice in the run: the first copy counts, a later one is a reject
        rows = [row for piece in pieces for row in piece.rows]
        new = {}
        first: dict[str, int] = {}
        for key, row, rest in zip(keys, rows, rests, strict=True):
            earlier = first.get(key)
            if earlier is None:
                first[key], new[key] = int(row), rest
                continue
            fields = rest.split(_FIELD)
            invoice, line = key.split(_FIELD, 1)
            repeats.append(Repeat(int(row), invoice, line, Decimal(fields[0]), fields[4], earlier))
            contribution.uncount(fields)
    prefix = token + _FIELD
    for key in new.keys() & ledger.keys():  # counted before: by another file, or by this run
        before = ledger[key]
        if before.startswith(prefix):
            contribution.uncount(new.pop(key).split(_FIELD))
        else:
            contribution.take_back(before.split(_FIELD)[1:])
    ledger.update(zip(new, map(prefix.__add__, new.values()), strict=True))
    return len(keys)


def plan_commit(
    *,
    distributor: str,
    run_id: str,
    token: str,
    head: LedgerHead,
    staged: Callable[[int], Iterable[StagedShard]],
    staged_shards: set[int],
    sums: Iterable[StagedSums],
    previous: tuple[str, list[int]] | None,
    read_object: Callable[[str], bytes | None],
    store: PosStore,
) -> CommitWork:
    """The run's commit against the ledger as the head names it. ``staged(shard)`` yields the staged
    lines of each slice for a shard, in slice order; ``sums`` what the slices' summed lines count;
    ``previous`` is the token and ledger shards of the
    key's previous version (its lines this version drops stop counting)."""
    contribution = _Contribution()
    repeats: list[Repeat] = []
    bodies: dict[int, bytes] = {}
    old: list[str] = []
    shards = dict(head.shards)
    dropping = set(previous[1]) if previous else set()
    with_lines = []
    summed = 0
    for staged_sums in sums:
        contribution.add_sums(staged_sums)
        summed += staged_sums.lines
    for shard in sorted(staged_shards | dropping):
        current = head.shards.get(shard)
        ledger = load_shard(read_object(current) if current else None)
        pieces = list(staged(shard))
        if _apply_shard(ledger, pieces, contribution, repeats, token):
            with_lines.append(shard)
        summed -= sum(len(piece.keys) for piece in pieces if piece.summed)
        if previous and shard in dropping:  # the previous version's lines this one no longer has
            gone = list(
                compress(ledger, map(methodcaller("startswith", previous[0] + _FIELD), ledger.values()))
            )
            for key in gone:
                contribution.take_back(ledger.pop(key).split(_FIELD)[1:])
        bodies[shard] = shard_body(ledger)
        shards[shard] = ledger_shard_object(distributor, shard, token)
        if current and current != shards[shard]:
            old.append(current)
    if summed:  # the slices' objects were written together, before each checkpoint: never so
        raise RuntimeError(f"the staged lines and their sums disagree by {summed} lines: read the file again")
    contribution.finish()
    plan = CommitPlan(distributor, run_id, head.version, shards)
    cells = contribution.by_quarter()
    plan.totals = [
        ActualDelta(*key, amount, quantity) for key, (amount, quantity, _parts) in sorted(cells.items())
        if amount or quantity
    ]  # fmt: skip
    stored = store.distributor_cells(distributor, cells)
    for cell_key, (amount, quantity, parts) in sorted(cells.items()):
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
