"""The POS table: run records, the line ledger, unmatched end customers, inventory.

Key patterns (the only place they are spelled; ``docs/data-model.md`` names the method of each
access pattern):

- the run record of one object version: ``RUN#<s3 key>`` / ``VERSION#<version id, else ETag>``,
  entity ``POS_RUN``; gsi1 ``RUNS#<distributor>`` / ``<started_at>#<s3 key>``. Created once, moved on
  only by the invocation holding the expected ``slice``; its ``checkpoint`` carries a file too big
  for one invocation. The table's stream brings finished runs to the alerts function (the channel
  manager's email), so the record carries what that email says (counts, ``rejects_key``,
  ``reject_sample``, ``error``);
- a distributor's ledger head: ``LEDGER#<distributor>`` / ``HEAD``, entity ``POS_LEDGER``: the S3 object
  holding each shard's line set (``ledger_shard_object``), a version, and the commit lock;
- S3 keys of the ledger's line sets (``pos-ledger/...``) and of a run's work objects (``pos-work/...``);
- a sell-through line by restatement key (the earlier per-line ledger, ``apply_lines``):
  ``LINE#<distributor>#<invoice>`` / ``LINE#<line>``;
- an unmatched end customer: ``UNMATCHED`` / ``NAME#<normalised name>``, ``amount_<CUR>`` per currency;
- a distributor's latest inventory per part: ``INVENTORY#<distributor>`` / ``PART#<part>``.

Counting is exact at the file level (issue 13). ``pos_ingest`` reads a whole file before counting
anything, then, holding its distributor's ledger lock (``lock_ledger``), computes the run's
contribution against the ledger (line sets in S3, by shard) and hands it to ``commit_run`` as a
``CommitPlan``: account-quarter-currency totals by ``ADD``, the distributor's slices with their parts
written whole (conditioned on their version), unmatched customers by ``ADD``, with the run record
(``done``) and the ledger head (new shard objects, version + 1, lock released) in the same
transaction; a plan larger than one transaction goes in chunks, each moving the run record's
``applied`` on by one, so a retry carries on and nothing is applied twice. Those chunks only *stage*
the run's contribution (the distributor's slot on a total or unmatched customer, ``pending`` on its
slices; ``shared.store.plan``), which counts from the last transaction on, where the run's commit
marker is written with the run record: no reader ever sees part of a run. A run whose invocations
all fail ends ``failed`` (``fail_run``) and what it staged never counts. DynamoDB writes grow with
account-quarters, not lines.

``DynamoPosStore`` serves it with pynamodb; ``InMemoryPosStore`` has the same semantics.
"""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import operator
import random
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from itertools import repeat
from typing import Any, Protocol

from pynamodb.attributes import (
    DiscriminatorAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from shared.settings import get_settings
from shared.store.errors import Conflict, classify, translated
from shared.store.items import BoundedRetry, DecimalAttribute, Gsi1, batch_get_raw, now_text, refuse_oversized
from shared.store.plan import (
    ActualBreakdownItem,
    ActualDelta,
    CommittedRuns,
    DistributorCell,
    InMemoryPlanStore,
    PlanTableItem,
    PosCommitItem,
    PosCommitPageItem,
    actual_key,
    actual_write,
    commit_marker_key,
    commit_page_expiry,
    commit_page_key,
    distributor_breakdown,
    distributor_cell,
    distributor_cell_write,
    is_slot_attribute,
    parse_slot,
    part_breakdown,
    resolve_cells,
    slot_attribute,
    total_write,
    touched_json,
)
from shared.store.pos_keys import run_key

_settings = get_settings()
ZERO = Decimal(0)

LINES_PER_TRANSACTION = 40  # a group whose writes exceed DynamoDB's 100 per transaction is halved
MAX_TRANSACTION_ITEMS = 100
LEDGER_TRIES = 4
REJECT_SAMPLE_SIZE = 20  # rejected rows (row, reason) kept on the run record for the email


# ------------------------------------------------------------------ keys
_RUN_VERSION_PREFIX = run_key("", "")[1]


def distributor_runs_index(distributor: str, started_at: str, object_key: str) -> tuple[str, str]:
    return distributor_runs_pk(distributor), f"{started_at}#{object_key}"


def distributor_runs_pk(distributor: str) -> str:
    return f"RUNS#{distributor}"


def line_key(distributor: str, invoice: str, line: str) -> tuple[str, str]:
    return f"LINE#{distributor}#{invoice}", f"LINE#{line}"


UNMATCHED_PK = "UNMATCHED"


def unmatched_key(normalised: str) -> tuple[str, str]:
    return UNMATCHED_PK, f"NAME#{normalised}"


def inventory_key(distributor: str, part: str) -> tuple[str, str]:
    return f"INVENTORY#{distributor}", f"PART#{part}"


def unmatched_amount_attribute(currency: str) -> str:
    return f"amount_{currency}"


def ledger_head_key(distributor: str) -> tuple[str, str]:
    """A distributor's ledger head: which S3 object holds each shard's lines, and the commit lock."""
    return f"LEDGER#{distributor}", "HEAD"


LEDGER_SHARDS = 16


def ledger_shard_of(invoice: str) -> int:
    """The ledger shard of an invoice's lines: an invoice's lines are always found in one shard."""
    return ledger_shards_of([invoice])[0]


def ledger_shards_of(invoices: Iterable[str]) -> list[int]:
    """``ledger_shard_of`` of each invoice (a column of them at C speed)."""
    return list(map(operator.mod, map(zlib.crc32, map(str.encode, invoices)), repeat(LEDGER_SHARDS)))


def ledger_shard_object(distributor: str, shard: int, token: str) -> str:
    """S3 key of one shard's line set as a commit wrote it (new object per commit; the head points)."""
    return f"pos-ledger/{distributor}/{shard:02d}/{token}.json.gz"


def staged_lines_object(token: str, slice_number: int, shard: int) -> str:
    """S3 key of the accepted lines one slice of a run read, for one shard (kept until the commit)."""
    return f"pos-work/{token}/lines/{slice_number:05d}-{shard:02d}.tsv.gz"


def staged_sums_object(token: str, slice_number: int) -> str:
    """S3 key of the sums of the accepted lines one slice of a run read (kept until the commit)."""
    return f"pos-work/{token}/lines/{slice_number:05d}-sums.json.gz"


def commit_plan_object(token: str) -> str:
    """S3 key of a run's commit plan, kept while a commit too big for one transaction is applied."""
    return f"pos-work/{token}/commit.json.gz"


def run_token(run_id: str) -> str:
    """A short, stable name of a run for ledger entries and work objects."""
    return hashlib.blake2b(run_id.encode(), digest_size=8).hexdigest()


# An accepted line's ``account`` is an account id, or this prefix and the end customer's normalised
# name when no account matched: such lines count towards the unmatched customer, not towards actuals.
_UNMATCHED_ACCOUNT = "unmatched:"


def unmatched_account(normalised_name: str) -> str:
    return _UNMATCHED_ACCOUNT + normalised_name


def is_unmatched(account: str) -> bool:
    return account.startswith(_UNMATCHED_ACCOUNT)


def unmatched_name(account: str) -> str:
    return account[len(_UNMATCHED_ACCOUNT) :]


# ------------------------------------------------------------------ what callers pass and get
class LedgerLine(Protocol):
    """An accepted sell-through line (``pos_ingest.validate.PosLine`` is one)."""

    @property
    def row(self) -> int: ...
    @property
    def invoice_number(self) -> str: ...
    @property
    def line(self) -> str: ...
    @property
    def invoice_date(self) -> str: ...
    @property
    def period(self) -> str: ...  # "2026-Q4"
    @property
    def part_number(self) -> str: ...
    @property
    def quantity(self) -> Decimal: ...
    @property
    def unit_price(self) -> Decimal | None: ...
    @property
    def extended_amount(self) -> Decimal: ...
    @property
    def currency(self) -> str: ...
    @property
    def end_customer(self) -> str: ...
    @property
    def account(self) -> str: ...  # an account id, or unmatched_account(name)
    @property
    def country(self) -> str: ...


class InventoryEntry(Protocol):
    """One part of an inventory snapshot (``pos_ingest.validate.InventoryLine`` is one)."""

    @property
    def row(self) -> int: ...
    @property
    def part_number(self) -> str: ...
    @property
    def as_of_date(self) -> str: ...
    @property
    def on_hand(self) -> Decimal: ...
    @property
    def on_order(self) -> Decimal | None: ...


@dataclass(frozen=True)
class StoredLine:
    """A ledger entry as stored: the line and the run (and row) that wrote it."""

    run_id: str
    row: int
    invoice_number: str
    line: str
    invoice_date: str
    period: str
    part_number: str
    quantity: Decimal
    unit_price: Decimal | None
    extended_amount: Decimal
    currency: str
    end_customer: str
    account: str
    country: str


@dataclass
class RunRecord:
    """One object's ingestion: what the run record holds (and GET /pos/runs shows)."""

    key: str
    version: str
    distributor: str
    kind: str
    status: str = "running"  # running | continuing | done | failed
    rows_total: int = 0
    accepted: int = 0
    rejected: int = 0
    blank: int = 0
    footer: int = 0
    amount_accepted: dict[str, str] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str | None = None
    slice: int = 0
    rejects_key: str | None = None
    error: str | None = None
    checkpoint: str | None = None
    reject_sample: list[dict[str, Any]] = field(default_factory=list)  # [{"row", "reason"}], at most 20
    applied: int = 0  # write-set chunks of the commit applied (a commit too big for one transaction)
    ledger_shards: list[int] = field(default_factory=list)  # the ledger shards holding this run's lines

    @property
    def run_id(self) -> str:
        return f"{self.key}@{self.version}"

    @property
    def token(self) -> str:
        return run_token(self.run_id)

    def view(self) -> dict[str, Any]:
        """The record as GET /pos/runs shows it."""
        hidden = ("checkpoint", "reject_sample", "applied", "ledger_shards")
        data = {k: v for k, v in self.__dict__.items() if k not in hidden}
        data["run_id"] = self.run_id
        return data


@dataclass(frozen=True)
class Repeat:
    """A line this very run had written before from another row: the same line twice in one file."""

    line: LedgerLine
    earlier_row: int


@dataclass
class LedgerOutcome:
    applied: int = 0  # lines new or restating another file's line
    restated: int = 0
    already: int = 0  # lines this very run had written before (a retried slice)
    repeats: list[Repeat] = field(default_factory=list)


@dataclass(frozen=True)
class InventoryPart:
    distributor: str
    part_number: str
    as_of_date: str
    on_hand: Decimal
    on_order: Decimal | None
    run_id: str | None


@dataclass(frozen=True)
class UnmatchedCustomer:
    """Sell-through no account matched, per normalised end-customer name."""

    normalised_name: str
    end_customer: str | None
    amounts: dict[str, Decimal]  # per currency
    line_count: int
    distributors: list[str]


# ------------------------------------------------------------------ item models
class PosTableItem(Model):
    class Meta:
        table_name = _settings.pos_table
        region = _settings.region

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    entity = DiscriminatorAttribute(attr_name="entity")
    updated_at = UnicodeAttribute(null=True)
    by_gsi1 = Gsi1()


class RejectNote(MapAttribute[str, Any]):
    row = NumberAttribute()
    reason = UnicodeAttribute()


class PosRunItem(PosTableItem, discriminator="POS_RUN"):
    key = UnicodeAttribute()
    version = UnicodeAttribute()
    distributor = UnicodeAttribute()
    kind = UnicodeAttribute()
    status = UnicodeAttribute()
    rows_total = NumberAttribute(default=0)
    accepted = NumberAttribute(default=0)
    rejected = NumberAttribute(default=0)
    blank = NumberAttribute(default=0)
    footer = NumberAttribute(default=0)
    amount_accepted = MapAttribute[str, str](null=True)
    started_at = UnicodeAttribute(null=True)
    finished_at = UnicodeAttribute(null=True)
    slice = NumberAttribute(default=0)
    rejects_key = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    checkpoint = UnicodeAttribute(null=True)
    reject_sample = ListAttribute[RejectNote](of=RejectNote, null=True)
    applied = NumberAttribute(default=0)
    ledger_shards = ListAttribute[Any](of=NumberAttribute, null=True)  # type: ignore[arg-type]


class PosLedgerHeadItem(PosTableItem, discriminator="POS_LEDGER"):
    distributor = UnicodeAttribute()
    shards = MapAttribute[str, str](null=True)  # shard number (text) -> S3 key of its line set
    version = NumberAttribute(default=0)
    lock_run = UnicodeAttribute(null=True)
    lock_until = UnicodeAttribute(null=True)


class PosLineItem(PosTableItem, discriminator="POS_LINE"):
    distributor = UnicodeAttribute()
    run_id = UnicodeAttribute()
    row = NumberAttribute()
    invoice_number = UnicodeAttribute()
    line = UnicodeAttribute()
    invoice_date = UnicodeAttribute()
    period = UnicodeAttribute()
    part_number = UnicodeAttribute()
    quantity = DecimalAttribute()
    unit_price = UnicodeAttribute(null=True)  # decimal text, as the file gave it
    amount = DecimalAttribute()
    currency = UnicodeAttribute()
    end_customer = UnicodeAttribute(null=True)
    account = UnicodeAttribute()
    country = UnicodeAttribute(null=True)


class PosInventoryItem(PosTableItem, discriminator="POS_INVENTORY"):
    distributor = UnicodeAttribute()
    part_number = UnicodeAttribute()
    as_of_date = UnicodeAttribute()
    on_hand = DecimalAttribute()
    on_order = DecimalAttribute(null=True)
    run_id = UnicodeAttribute(null=True)
    row = NumberAttribute(null=True)


class PosUnmatchedItem(PosTableItem, discriminator="POS_UNMATCHED"):
    """Also one ``amount_<CUR>`` number per currency (``unmatched_amount_attribute``)."""

    normalised_name = UnicodeAttribute()
    end_customer = UnicodeAttribute(null=True)
    line_count = NumberAttribute(default=0)
    distributors = UnicodeSetAttribute(null=True)


_RUN_FIELDS = [f.name for f in fields(RunRecord)]


def _run_item(run: RunRecord) -> PosRunItem:
    pk, sk = run_key(run.key, run.version)
    gsi1pk, gsi1sk = distributor_runs_index(run.distributor, run.started_at, run.key)
    values = {name: getattr(run, name) for name in _RUN_FIELDS}
    values["reject_sample"] = [RejectNote(row=n["row"], reason=n["reason"]) for n in run.reject_sample]
    return PosRunItem(pk, sk, gsi1pk=gsi1pk, gsi1sk=gsi1sk, updated_at=now_text(), **values)


def _run(item: PosRunItem) -> RunRecord:
    values: dict[str, Any] = {name: getattr(item, name) for name in _RUN_FIELDS}
    for name in ("rows_total", "accepted", "rejected", "blank", "footer", "slice"):
        values[name] = int(values[name] or 0)
    values["amount_accepted"] = dict(item.amount_accepted.as_dict()) if item.amount_accepted else {}
    values["reject_sample"] = [{"row": int(n.row), "reason": n.reason} for n in item.reject_sample or []]
    values["applied"] = int(item.applied or 0)
    values["ledger_shards"] = [int(n) for n in item.ledger_shards or []]
    return RunRecord(**values)


def _stored_line(item: PosLineItem) -> StoredLine:
    return StoredLine(
        item.run_id, int(item.row), item.invoice_number, item.line, item.invoice_date, item.period,
        item.part_number, item.quantity, Decimal(item.unit_price) if item.unit_price else None, item.amount,
        item.currency, item.end_customer or "", item.account, item.country or "",
    )  # fmt: skip


def _line_item(distributor: str, run_id: str, line: LedgerLine, stamp: str) -> PosLineItem:
    pk, sk = line_key(distributor, line.invoice_number, line.line)
    return PosLineItem(
        pk, sk, distributor=distributor, run_id=run_id, row=line.row, invoice_number=line.invoice_number,
        line=line.line, invoice_date=line.invoice_date, period=line.period, part_number=line.part_number,
        quantity=line.quantity, unit_price=str(line.unit_price) if line.unit_price is not None else None,
        amount=line.extended_amount, currency=line.currency, end_customer=line.end_customer or None,
        account=line.account, country=line.country or None, updated_at=stamp,
    )  # fmt: skip


def _as_stored(run_id: str, line: LedgerLine) -> StoredLine:
    return StoredLine(
        run_id, line.row, line.invoice_number, line.line, line.invoice_date, line.period, line.part_number,
        line.quantity, line.unit_price, line.extended_amount, line.currency, line.end_customer, line.account,
        line.country,
    )  # fmt: skip


# ------------------------------------------------------------------ the ledger's arithmetic
@dataclass
class UnmatchedDelta:
    normalised_name: str
    currency: str
    amount: Decimal = ZERO
    lines: int = 0
    customers: set[str] = field(default_factory=set)


@dataclass
class _GroupPlan:
    """What one group of lines writes: line puts (with the entry read), and the totals' changes."""

    puts: list[tuple[LedgerLine, StoredLine | None]] = field(default_factory=list)
    actuals: dict[tuple[str, int, int, str, str], list[Decimal]] = field(default_factory=dict)
    unmatched: dict[tuple[str, str], UnmatchedDelta] = field(default_factory=dict)
    outcome: LedgerOutcome = field(default_factory=LedgerOutcome)

    def writes(self) -> int:
        return len(self.puts) + len(self.actual_deltas()) + len(self.unmatched)

    def add(self, distributor: str, line: LedgerLine | StoredLine, sign: int) -> None:
        amount, quantity = sign * line.extended_amount, sign * line.quantity
        if is_unmatched(line.account):
            name = unmatched_name(line.account)
            slot = self.unmatched.setdefault((name, line.currency), UnmatchedDelta(name, line.currency))
            slot.amount += amount
            slot.lines += sign
            slot.customers.add(line.end_customer)
            return
        year, quarter = line.period.split("-Q")
        for breakdown in ("", distributor_breakdown(distributor), part_breakdown(line.part_number)):
            key = (line.account, int(year), int(quarter), line.currency, breakdown)
            totals = self.actuals.setdefault(key, [ZERO, ZERO])
            totals[0] += amount
            totals[1] += quantity

    def actual_deltas(self) -> list[ActualDelta]:
        return [
            ActualDelta(account, year, quarter, currency, amount, quantity, breakdown)
            for (account, year, quarter, currency, breakdown), (amount, quantity) in self.actuals.items()
            if amount or quantity
        ]


def _plan_group(
    distributor: str, run_id: str, lines: Sequence[LedgerLine], current: dict[tuple[str, str], StoredLine]
) -> _GroupPlan:
    plan = _GroupPlan()
    for line in lines:
        previous = current.get(line_key(distributor, line.invoice_number, line.line))
        if previous is not None and previous.run_id == run_id:
            if previous.row == line.row:
                plan.outcome.already += 1
            else:
                plan.outcome.repeats.append(Repeat(line, previous.row))
            continue
        plan.puts.append((line, previous))
        plan.add(distributor, line, 1)
        if previous is not None:
            plan.add(distributor, previous, -1)
            plan.outcome.restated += 1
        plan.outcome.applied += 1
    return plan


def _merge(total: LedgerOutcome, group: LedgerOutcome) -> None:
    total.applied += group.applied
    total.restated += group.restated
    total.already += group.already
    total.repeats.extend(group.repeats)


# ------------------------------------------------------------------ a run's commit
# Room in each transaction for the run record, the ledger head (checked; moved in the last) and, in
# the last, the commit marker.
COMMIT_CHUNK = MAX_TRANSACTION_ITEMS - 3
LOCK_SECONDS = 900  # a Lambda invocation's longest life


@dataclass
class LedgerHead:
    """A distributor's ledger: the S3 object of each shard's line set, and who holds the commit lock."""

    distributor: str
    shards: dict[int, str] = field(default_factory=dict)
    version: int = 0
    lock_run: str | None = None


Slot = tuple[str | None, Any]  # a distributor's slot on an item as read, and what of it counts (folded)
TotalKey = tuple[str, int, int, str]


@dataclass
class CommitPlan:
    """Everything one run's commit writes, computed in one pass over its lines against the ledger:
    the account-quarter-currency totals (``ADD``), the distributor's slices with their parts (whole,
    conditioned on the item as read), the unmatched customers (``ADD``), and the ledger head's new
    shard pointers. Applied by ``PosStore.commit_run`` as one transaction with the run record, or,
    when larger, in chunks that stage the contribution (``shared.store.plan``: it counts once the
    last transaction writes the run's commit marker), each moving the run record's ``applied`` on by
    one (resumable, exactly once).

    ``slots`` / ``unmatched_slots``: the distributor's slot on each total and unmatched customer as
    read, with what of it counts (an earlier commit's staged contribution, folded in by this one);
    ``before``: each slice as it counted when read (what a staged write leaves counting)."""

    distributor: str
    run_id: str
    head_version: int
    shards: dict[int, str]
    totals: list[ActualDelta] = field(default_factory=list)
    cells: list[DistributorCell] = field(default_factory=list)
    unmatched: list[UnmatchedDelta] = field(default_factory=list)
    slots: dict[TotalKey, Slot] = field(default_factory=dict)
    unmatched_slots: dict[str, Slot] = field(default_factory=dict)
    before: dict[TotalKey, DistributorCell] = field(default_factory=dict)

    @property
    def token(self) -> str:
        return run_token(self.run_id)

    def size(self) -> int:
        return len(self.totals) + len(self.cells) + len({u.normalised_name for u in self.unmatched})

    def chunk_count(self) -> int:
        return max(1, -(-self.size() // COMMIT_CHUNK))

    def writes(self) -> list[ActualDelta | DistributorCell | list[UnmatchedDelta]]:
        by_name: dict[str, list[UnmatchedDelta]] = {}
        for change in self.unmatched:
            by_name.setdefault(change.normalised_name, []).append(change)
        return [*self.totals, *self.cells, *by_name.values()]

    def touched(self, chunk: int | None = None) -> dict[str, list[list[int]]]:
        """The account-quarters the commit moves (the rollup's part, told by the commit marker), or
        those that chunk ``chunk`` of it moves (at most ``COMMIT_CHUNK``: one page item's worth)."""
        writes = self.writes()
        if chunk is not None:
            writes = writes[chunk * COMMIT_CHUNK : (chunk + 1) * COMMIT_CHUNK]
        out: dict[str, set[tuple[int, int]]] = {}
        for write in writes:
            if isinstance(write, ActualDelta | DistributorCell):
                out.setdefault(write.account_id, set()).add((write.year, write.quarter))
        return {a: [list(p) for p in sorted(ps)] for a, ps in sorted(out.items())}

    def marker_items(self, stamp: str) -> tuple[PosCommitItem, list[PosCommitPageItem]]:
        """A chunked commit's marker (``done``, written by its last transaction) and the page item each
        earlier chunk writes with its own writes: the marker lists what the last chunk moved, the pages
        the rest, so no item comes near DynamoDB's 400 KB however many account-quarters the run moves."""
        last, expires = self.chunk_count() - 1, commit_page_expiry()
        pages = [
            PosCommitPageItem(*commit_page_key(self.token, n), touched=touched_json(t), updated_at=stamp,
                              expires_at=expires)
            for n in range(last)
            if (t := self.touched(n))
        ]  # fmt: skip
        marker = PosCommitItem(
            *commit_marker_key(self.token), run_id=self.run_id, distributor=self.distributor, status="done",
            touched=touched_json(self.touched(last)), pages=len(pages), updated_at=stamp,
        )  # fmt: skip
        return marker, pages

    def to_bytes(self) -> bytes:
        data = {
            "distributor": self.distributor, "run_id": self.run_id, "head_version": self.head_version,
            "shards": {str(k): v for k, v in self.shards.items()},
            "totals": [[d.account_id, d.year, d.quarter, d.currency, str(d.amount), str(d.quantity)]
                       for d in self.totals],
            "cells": [c.to_json() for c in self.cells],
            "unmatched": [[u.normalised_name, u.currency, str(u.amount), u.lines, sorted(u.customers)]
                          for u in self.unmatched],
            "slots": [[*k, b, [str(f[0]), str(f[1])]] for k, (b, f) in self.slots.items()],
            "unmatched_slots": [[k, b, f] for k, (b, f) in self.unmatched_slots.items()],
            "before": [c.to_json() for c in self.before.values()],
        }  # fmt: skip
        return gzip.compress(json.dumps(data).encode(), compresslevel=5)

    @classmethod
    def from_bytes(cls, body: bytes) -> CommitPlan:
        data = json.loads(gzip.decompress(body))
        before = [DistributorCell.from_json(c) for c in data.get("before", [])]
        return cls(
            data["distributor"], data["run_id"], int(data["head_version"]),
            {int(k): v for k, v in data["shards"].items()},
            [ActualDelta(a, int(y), int(q), c, Decimal(m), Decimal(n)) for a, y, q, c, m, n in data["totals"]],
            [DistributorCell.from_json(c) for c in data["cells"]],
            [UnmatchedDelta(n, c, Decimal(a), int(k), set(cs)) for n, c, a, k, cs in data["unmatched"]],
            {(a, int(y), int(q), c): (b, (Decimal(f[0]), Decimal(f[1])))
             for a, y, q, c, b, f in data.get("slots", [])},
            {k: (b, f) for k, b, f in data.get("unmatched_slots", [])},
            {(c.account_id, c.year, c.quarter, c.currency): c for c in before},
        )  # fmt: skip


# ------------------------------------------------------------------ the protocol
class PosStore(Protocol):
    """The POS table's access patterns (and the actuals the ledger moves in the plan table)."""

    def get_run(self, object_key: str, version: str) -> RunRecord | None: ...

    def runs_of_key(self, object_key: str) -> list[RunRecord]:
        """Every version's run record of an S3 key, newest first."""
        ...

    def runs_of_distributor(self, distributor: str) -> list[RunRecord]:
        """A distributor's runs, newest first."""
        ...

    def create_run(self, run: RunRecord) -> RunRecord | None:
        """Store a new run record; None when this object version already has one."""
        ...

    def save_run(self, run: RunRecord, *, expected_slice: int) -> bool:
        """Write the run's progress if no other invocation moved it on (``slice`` unchanged, not done)."""
        ...

    def apply_lines(self, distributor: str, run_id: str, lines: Sequence[LedgerLine]) -> LedgerOutcome:
        """Count accepted lines into the ledger, the actuals and the unmatched customers."""
        ...

    def lock_ledger(self, distributor: str, run_id: str) -> LedgerHead | None:
        """Take (or keep) the distributor's commit lock for ``LOCK_SECONDS``; None while another run
        holds it. The head read with it is what the run's commit plan is computed against."""
        ...

    def distributor_cells(
        self, distributor: str, keys: Iterable[tuple[str, int, int, str]]
    ) -> dict[tuple[str, int, int, str], DistributorCell]:
        """The distributor's slices of these account-quarter-currencies as stored (with their version)."""
        ...

    def commit_slots(
        self, distributor: str, totals: Iterable[TotalKey], names: Iterable[str]
    ) -> tuple[dict[TotalKey, Slot], dict[str, Slot]]:
        """The distributor's slot on these account totals and unmatched customers (what an earlier
        chunked commit staged there), each with what of it counts (its run is done): for totals
        ``(amount, quantity)``, for customers the slot's content. Slots never written are left out."""
        ...

    def fail_run(self, run: RunRecord, reason: str) -> bool:
        """End a run that will not finish (its invocations dead-lettered): ``failed`` with the reason,
        unless it is already done, failed or refused; its ledger lock is released and its commit
        marker says failed, so whatever it staged never counts. False when it had ended already."""
        ...

    def commit_run(self, plan: CommitPlan, run: RunRecord, *, expected_slice: int) -> bool:
        """Apply a run's commit plan and finish its record (``run`` as it will be stored, status done)
        with the ledger head moved and the lock released, from chunk ``run.applied`` on. False when
        the run record or the head moved meanwhile (another invocation finished it)."""
        ...

    def put_inventory(
        self, distributor: str, run_id: str, lines: Iterable[InventoryEntry]
    ) -> tuple[int, int]:
        """Latest snapshot per part: an older as-of date never overwrites a newer one. (written, stale)"""
        ...

    def inventory_of(self, distributor: str) -> list[InventoryPart]:
        """A distributor's latest inventory, by part number."""
        ...

    def unmatched_customers(self) -> list[UnmatchedCustomer]:
        """Every end customer no account matched, by normalised name."""
        ...


# ------------------------------------------------------------------ DynamoDB
class DynamoPosStore:
    """``PosStore`` on the POS table, actuals in the plan table (pynamodb).

    ``remaining_ms`` (the invocation's ``get_remaining_time_in_millis``) bounds the retries of keys
    DynamoDB leaves unprocessed; ``bounded_by`` gives the store of one invocation."""

    def __init__(
        self,
        remaining_ms: Callable[[], int] | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.remaining_ms = remaining_ms
        self.sleep = sleep
        self.jitter = jitter
        self.runs = CommittedRuns()
        # One connection (one botocore client) per table for every item class, made on first use:
        # pynamodb keeps one per class, and each new client costs a second on a busy machine.
        PosTableItem._get_connection()
        PlanTableItem._get_connection()

    def bounded_by(self, remaining_ms: Callable[[], int]) -> DynamoPosStore:
        return DynamoPosStore(remaining_ms, sleep=self.sleep, jitter=self.jitter)

    # ---- runs --------------------------------------------------------------------------------------
    def get_run(self, object_key: str, version: str) -> RunRecord | None:
        with translated():
            try:
                item = PosRunItem.get(*run_key(object_key, version), consistent_read=True)
            except DoesNotExist:
                return None
        return _run(item)

    def runs_of_key(self, object_key: str) -> list[RunRecord]:
        pk = run_key(object_key, "")[0]
        with translated():
            items = list(
                PosTableItem.query(pk, PosTableItem.sk.startswith(_RUN_VERSION_PREFIX), consistent_read=True)
            )
        runs = [_run(i) for i in items if isinstance(i, PosRunItem)]
        return sorted(runs, key=lambda r: r.started_at, reverse=True)

    def runs_of_distributor(self, distributor: str) -> list[RunRecord]:
        with translated():
            items = list(
                PosTableItem.by_gsi1.query(distributor_runs_pk(distributor), scan_index_forward=False)
            )
        return [_run(i) for i in items if isinstance(i, PosRunItem)]

    def create_run(self, run: RunRecord) -> RunRecord | None:
        with translated():
            try:
                _run_item(run).save(condition=PosRunItem.pk.does_not_exist())
            except PutError as exc:
                if exc.cause_response_code == "ConditionalCheckFailedException":
                    return None
                raise
        return run

    def save_run(self, run: RunRecord, *, expected_slice: int) -> bool:
        with translated():
            try:
                _run_item(run).save(
                    condition=(PosRunItem.slice == expected_slice)
                    & PosRunItem.status.is_in("running", "continuing", "applying")
                )
            except PutError as exc:
                if exc.cause_response_code == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    # ---- a run's commit ----------------------------------------------------------------------------
    def lock_ledger(self, distributor: str, run_id: str) -> LedgerHead | None:
        now = time.time()
        item = PosLedgerHeadItem(*ledger_head_key(distributor))
        free = (
            PosLedgerHeadItem.lock_run.does_not_exist()
            | (PosLedgerHeadItem.lock_until < _lease_text(now))
            | (PosLedgerHeadItem.lock_run == run_id)
        )
        actions: list[Action] = [
            PosLedgerHeadItem.entity.set(PosLedgerHeadItem),
            PosLedgerHeadItem.distributor.set(distributor),
            PosLedgerHeadItem.version.set(PosLedgerHeadItem.version | 0),
            PosLedgerHeadItem.lock_run.set(run_id),
            PosLedgerHeadItem.lock_until.set(_lease_text(now + LOCK_SECONDS)),
            PosLedgerHeadItem.updated_at.set(now_text()),
        ]
        with translated():
            try:
                item.update(actions=actions, condition=free)
            except UpdateError as exc:
                if exc.cause_response_code == "ConditionalCheckFailedException":
                    return None
                raise
        shards = {int(k): str(v) for k, v in (item.shards.as_dict() if item.shards else {}).items()}
        return LedgerHead(distributor, shards, int(item.version or 0), item.lock_run)

    def distributor_cells(
        self, distributor: str, keys: Iterable[tuple[str, int, int, str]]
    ) -> dict[tuple[str, int, int, str], DistributorCell]:
        wanted = {
            actual_key(a, y, q, c, distributor_breakdown(distributor)): (a, y, q, c) for a, y, q, c in keys
        }
        items = [
            i for i in self._batch_get(list(wanted), PlanTableItem) if isinstance(i, ActualBreakdownItem)
        ]
        stored = {(i.pk, i.sk): (int(i.version or 0), i.pending_run or "") for i in items}
        found: dict[tuple[str, int, int, str], DistributorCell] = {}
        for item in resolve_cells(items, self.runs):
            found[wanted[(item.pk, item.sk)]] = distributor_cell(
                item, distributor, stored[(item.pk, item.sk)]
            )
        for item in items:  # staged by a run that does not count, over no counted slice: as if new
            key = wanted[(item.pk, item.sk)]
            if key not in found:
                found[key] = replace(_empty_cell(distributor, key), stored_version=stored[(item.pk, item.sk)][0],
                                     stored_run=stored[(item.pk, item.sk)][1])  # fmt: skip
        return found

    def commit_slots(
        self, distributor: str, totals: Iterable[TotalKey], names: Iterable[str]
    ) -> tuple[dict[TotalKey, Slot], dict[str, Slot]]:
        attribute = slot_attribute(distributor)
        wanted = {actual_key(*k): k for k in totals}
        raw_totals = {
            wanted[(r["pk"]["S"], r["sk"]["S"])]: r[attribute]["S"]
            for r in self._batch_get_raw(list(wanted), PlanTableItem)
            if attribute in r
        }
        named = {unmatched_key(n): n for n in names}
        raw_names = {
            named[(r["pk"]["S"], r["sk"]["S"])]: r[attribute]["S"]
            for r in self._batch_get_raw(list(named), PosTableItem)
            if attribute in r
        }
        slots = {k: parse_slot(v) for k, v in raw_totals.items()}
        customers = {k: json.loads(v) for k, v in raw_names.items()}
        counted = self.runs.counted(
            [t for t, _a, _q in slots.values()] + [c["t"] for c in customers.values()]
        )
        return (
            {k: (raw_totals[k], (a, q) if t in counted else (ZERO, ZERO)) for k, (t, a, q) in slots.items()},
            {k: (raw_names[k], c if c["t"] in counted else None) for k, c in customers.items()},
        )

    def fail_run(self, run: RunRecord, reason: str) -> bool:
        stamp = now_text()
        pk, sk = run_key(run.key, run.version)
        open_run = PosRunItem.status.is_in("running", "continuing", "applying")
        try:
            with translated(), TransactWrite(connection=PosTableItem._get_connection().connection) as tx:
                tx.update(
                    PosRunItem(pk, sk),
                    actions=[PosRunItem.status.set("failed"), PosRunItem.error.set(reason),
                             PosRunItem.finished_at.set(stamp), PosRunItem.checkpoint.remove(),
                             PosRunItem.updated_at.set(stamp)],
                    condition=open_run,
                )  # fmt: skip
                if run.distributor and run.kind == "sell_through":
                    marker = PosCommitItem(*commit_marker_key(run.token), run_id=run.run_id,
                                           distributor=run.distributor, status="failed", updated_at=stamp)  # fmt: skip
                    tx.save(marker, condition=PosCommitItem.pk.does_not_exist())
        except Conflict:
            return False
        if run.distributor:
            self._release_lock(run.distributor, run.run_id)
        return True

    def _release_lock(self, distributor: str, run_id: str) -> None:
        item = PosLedgerHeadItem(*ledger_head_key(distributor))
        with translated():
            try:
                item.update(
                    actions=[PosLedgerHeadItem.lock_run.remove(), PosLedgerHeadItem.lock_until.remove()],
                    condition=PosLedgerHeadItem.lock_run == run_id,
                )
            except UpdateError as exc:
                if exc.cause_response_code != "ConditionalCheckFailedException":
                    raise

    def commit_run(self, plan: CommitPlan, run: RunRecord, *, expected_slice: int) -> bool:
        """Chunks of at most ``COMMIT_CHUNK`` writes, each a transaction with the run record's step and
        a check that the run still holds the ledger; a plan of more than one chunk stages what it
        writes, which counts from the last transaction on (it writes the commit marker)."""
        writes = plan.writes()
        chunks = plan.chunk_count()
        staged = chunks > 1
        if run.applied >= chunks:
            return False  # every chunk was applied already: the run is done
        connection = PosTableItem._get_connection().connection
        marker, page_items = plan.marker_items(now_text()) if staged else (None, [])
        pages = {p.sk: p for p in page_items}
        number = run.applied
        while number < chunks:
            stamp = now_text()
            mine = (
                (PosRunItem.slice == expected_slice)
                & PosRunItem.status.is_in("running", "continuing", "applying")
                & (PosRunItem.applied == number)
            )
            head = PosLedgerHeadItem(*ledger_head_key(plan.distributor))
            holds = (PosLedgerHeadItem.version == plan.head_version) & (
                PosLedgerHeadItem.lock_run == plan.run_id
            )
            page = pages.get(commit_page_key(plan.token, number)[1])
            try:
                with translated(), TransactWrite(connection=connection) as tx:
                    for write in writes[number * COMMIT_CHUNK : (number + 1) * COMMIT_CHUNK]:
                        _commit_write(tx, plan, write, stamp, staged=staged)
                    if number + 1 < chunks:
                        tx.condition_check(
                            PosLedgerHeadItem, *ledger_head_key(plan.distributor), condition=holds
                        )
                        if page is not None:  # the transaction's hundredth item
                            tx.save(page)
                        tx.update(
                            PosRunItem(*run_key(run.key, run.version)),
                            actions=[
                                PosRunItem.applied.set(number + 1),
                                PosRunItem.status.set("applying"),
                                PosRunItem.updated_at.set(stamp),
                            ],
                            condition=mine,
                        )
                    else:
                        run.applied = chunks
                        tx.save(_run_item(run), condition=mine)
                        tx.update(
                            head,
                            actions=[
                                PosLedgerHeadItem.shards.set(
                                    {str(k): v for k, v in sorted(plan.shards.items())}
                                ),
                                PosLedgerHeadItem.version.set(plan.head_version + 1),
                                PosLedgerHeadItem.lock_run.remove(),
                                PosLedgerHeadItem.lock_until.remove(),
                                PosLedgerHeadItem.updated_at.set(stamp),
                            ],
                            condition=holds,
                        )
                        if marker is not None:
                            marker.updated_at = stamp
                            tx.save(marker, condition=PosCommitItem.pk.does_not_exist())
            except Conflict:
                stored = self.get_run(run.key, run.version)
                if stored is not None and stored.applied > number and stored.status == "applying":
                    number = stored.applied  # an earlier try of this very chunk went through
                    continue
                return False
            number += 1
        return True

    # ---- the line ledger ---------------------------------------------------------------------------
    def apply_lines(self, distributor: str, run_id: str, lines: Sequence[LedgerLine]) -> LedgerOutcome:
        outcome = LedgerOutcome()
        for start in range(0, len(lines), LINES_PER_TRANSACTION):
            self._apply_group(distributor, run_id, lines[start : start + LINES_PER_TRANSACTION], outcome)
        return outcome

    def _apply_group(
        self, distributor: str, run_id: str, lines: Sequence[LedgerLine], outcome: LedgerOutcome
    ) -> None:
        for _attempt in range(LEDGER_TRIES):
            current = self._lines_as_stored(distributor, lines)
            plan = _plan_group(distributor, run_id, lines, current)
            if plan.writes() > MAX_TRANSACTION_ITEMS and len(lines) > 1:
                half = len(lines) // 2  # lines and their totals stay in one transaction: fewer lines
                self._apply_group(distributor, run_id, lines[:half], outcome)
                self._apply_group(distributor, run_id, lines[half:], outcome)
                return
            try:
                if plan.puts:
                    self._write(distributor, run_id, plan)
            except TransactWriteError as exc:
                if exc.cause_response_code != "TransactionCanceledException":
                    raise classify(exc) from exc
                continue  # a concurrent writer changed a line: read again
            _merge(outcome, plan.outcome)
            return
        raise Conflict("ledger lines kept changing under concurrent writers")

    def _write(self, distributor: str, run_id: str, plan: _GroupPlan) -> None:
        stamp = now_text()
        with TransactWrite(connection=PosTableItem._get_connection().connection) as tx:
            for line, previous in plan.puts:
                item = _line_item(distributor, run_id, line, stamp)
                if previous is None:
                    tx.save(item, condition=PosLineItem.pk.does_not_exist())
                else:
                    tx.save(
                        item,
                        condition=(PosLineItem.run_id == previous.run_id) & (PosLineItem.row == previous.row),
                    )
            for delta in plan.actual_deltas():
                target, actions = actual_write(delta, stamp)
                tx.update(target, actions=actions)
            for change in plan.unmatched.values():
                bare = CommitPlan(distributor, run_id, 0, {})
                target, actions, _slot = _unmatched_write(bare, [change], None, None, stamp, staged=False)
                tx.update(target, actions=actions)

    def _lines_as_stored(
        self, distributor: str, lines: Sequence[LedgerLine]
    ) -> dict[tuple[str, str], StoredLine]:
        keys = [line_key(distributor, line.invoice_number, line.line) for line in lines]
        found = {}
        for item in self._batch_get(keys):
            if isinstance(item, PosLineItem):
                found[(item.pk, item.sk)] = _stored_line(item)
        return found

    def _batch_get(self, keys: list[tuple[str, str]], model: type[Model] = PosTableItem) -> Iterator[Model]:
        for raw in self._batch_get_raw(keys, model):
            yield model.from_raw_data(raw)

    def _batch_get_raw(
        self, keys: list[tuple[str, str]], model: type[Model] = PosTableItem
    ) -> Iterator[dict[str, Any]]:
        """Consistent BatchGetItem, unprocessed keys retried with backoff and jitter for as long as the
        invocation's remaining time allows (else ``Throttled``)."""
        retry = BoundedRetry(self.remaining_ms, self.sleep, self.jitter)
        yield from batch_get_raw(model.Meta.table_name, keys, retry)

    # ---- inventory ---------------------------------------------------------------------------------
    def put_inventory(
        self, distributor: str, run_id: str, lines: Iterable[InventoryEntry]
    ) -> tuple[int, int]:
        written = stale = 0
        stamp = now_text()
        for line in lines:
            pk, sk = inventory_key(distributor, line.part_number)
            item = PosInventoryItem(
                pk, sk, distributor=distributor, part_number=line.part_number, as_of_date=line.as_of_date,
                on_hand=line.on_hand, on_order=line.on_order, run_id=run_id, row=line.row, updated_at=stamp,
            )  # fmt: skip
            newer = PosInventoryItem.pk.does_not_exist() | (PosInventoryItem.as_of_date <= line.as_of_date)
            with translated():
                try:
                    item.save(condition=newer)
                    written += 1
                except PutError as exc:
                    if exc.cause_response_code != "ConditionalCheckFailedException":
                        raise
                    stale += 1
        return written, stale

    # ---- reads -------------------------------------------------------------------------------------
    def inventory_of(self, distributor: str) -> list[InventoryPart]:
        pk, prefix = inventory_key(distributor, "")
        with translated():
            items = list(PosTableItem.query(pk, PosTableItem.sk.startswith(prefix), consistent_read=True))
        return [
            InventoryPart(i.distributor, i.part_number, i.as_of_date, i.on_hand, i.on_order, i.run_id)
            for i in items
            if isinstance(i, PosInventoryItem)
        ]

    def unmatched_customers(self) -> list[UnmatchedCustomer]:
        # Low-level client: ``amount_<CUR>`` is one attribute per currency, and pynamodb models load
        # only the attributes they declare.
        from boto3.dynamodb.types import TypeDeserializer

        from shared.aws import client

        deserialise = TypeDeserializer().deserialize
        pk, prefix = unmatched_key("")
        kwargs: dict[str, Any] = {
            "TableName": PosTableItem.Meta.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :sk)",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":sk": {"S": prefix}},
            "ConsistentRead": True,
        }
        items = []
        while True:
            with translated():
                answer = client("dynamodb").query(**kwargs)
            items += [{k: deserialise(v) for k, v in raw.items()} for raw in answer.get("Items", [])]
            if "LastEvaluatedKey" not in answer:
                break
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
        slots = [[json.loads(v) for k, v in item.items() if is_slot_attribute(k)] for item in items]
        counted = self.runs.counted(slot["t"] for staged in slots for slot in staged)
        found = [
            _unmatched(i, [s for s in staged if s["t"] in counted])
            for i, staged in zip(items, slots, strict=True)
        ]
        return [c for c in found if c is not None]


def _unmatched(item: dict[str, Any], counted: list[dict[str, Any]]) -> UnmatchedCustomer | None:
    """A customer as it counts: what the item holds and the slots of runs that are done (None when the
    item holds only what a run that is not done staged)."""
    prefix = unmatched_amount_attribute("")
    amounts = {k.removeprefix(prefix): Decimal(v) for k, v in item.items() if k.startswith(prefix)}
    if not amounts and "line_count" not in item and not counted:
        return None
    lines = int(item.get("line_count", 0))
    distributors = set(item.get("distributors") or ())
    for slot in counted:
        for currency, amount in slot["a"].items():
            amounts[currency] = amounts.get(currency, ZERO) + Decimal(amount)
        lines += int(slot["n"])
        distributors.add(slot["d"])
    return UnmatchedCustomer(
        item["normalised_name"], item.get("end_customer"), amounts, lines, sorted(distributors)
    )


def _unmatched_write(
    plan: CommitPlan, changes: list[UnmatchedDelta], before: str | None, folded: dict[str, Any] | None,
    stamp: str, *, staged: bool,
) -> tuple[Model, list[Action], Any]:  # fmt: skip
    """An unmatched customer moved by a commit (its changes in each currency), conditioned on the
    distributor's slot as read: added at once, or (``staged``) put in the slot; the slot's earlier
    content, when its run is done (``folded``), is added to what counts either way."""
    name = changes[0].normalised_name
    slot = UnicodeAttribute(attr_name=slot_attribute(plan.distributor))
    amounts: dict[str, Decimal] = {}
    lines = 0
    if folded:
        amounts = {c: Decimal(a) for c, a in folded["a"].items()}
        lines = int(folded["n"])
    if not staged:
        for change in changes:
            amounts[change.currency] = amounts.get(change.currency, ZERO) + change.amount
        lines += sum(change.lines for change in changes)
    actions: list[Action] = [
        PosUnmatchedItem.entity.set(PosUnmatchedItem),
        PosUnmatchedItem.normalised_name.set(name),
        PosUnmatchedItem.updated_at.set(stamp),
    ]
    if amounts or lines or not staged:
        actions += [
            DecimalAttribute(attr_name=unmatched_amount_attribute(c)).add(a)
            for c, a in sorted(amounts.items())
        ]
        actions += [
            PosUnmatchedItem.line_count.add(lines),
            PosUnmatchedItem.distributors.add({plan.distributor}),
        ]
    customers = sorted(c for change in changes for c in change.customers if c)
    if customers:
        actions.append(PosUnmatchedItem.end_customer.set(customers[0]))
    if staged:
        mine = {"t": plan.token, "d": plan.distributor, "n": sum(c.lines for c in changes),
                "a": {c.currency: str(c.amount) for c in changes}}  # fmt: skip
        actions.append(slot.set(json.dumps(mine, separators=(",", ":"))))
    elif before is not None:
        actions.append(slot.remove())
    condition = (slot == before) if before is not None else slot.does_not_exist()
    return PosUnmatchedItem(*unmatched_key(name)), actions, condition


def _cell_deltas(
    distributor: str, before: DistributorCell | None, after: DistributorCell
) -> list[ActualDelta]:
    """A distributor slice's change as the in-memory plan store's deltas (slice, then each part)."""
    head = (after.account_id, after.year, after.quarter, after.currency)
    old_amount, old_quantity = (before.amount, before.quantity) if before else (ZERO, ZERO)
    out = [ActualDelta(*head, after.amount - old_amount, after.quantity - old_quantity,
                       distributor_breakdown(distributor))]  # fmt: skip
    old_parts = before.parts if before else {}
    for part in sorted({*old_parts, *after.parts}):
        new_a, new_q = after.parts.get(part, (ZERO, ZERO))
        old_a, old_q = old_parts.get(part, (ZERO, ZERO))
        if new_a != old_a or new_q != old_q:
            out.append(ActualDelta(*head, new_a - old_a, new_q - old_q, part_breakdown(part)))
    return out


def _lease_text(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def _commit_write(
    tx: TransactWrite, plan: CommitPlan, write: ActualDelta | DistributorCell | list[UnmatchedDelta],
    stamp: str, *, staged: bool,
) -> None:  # fmt: skip
    if isinstance(write, ActualDelta):
        key = (write.account_id, write.year, write.quarter, write.currency)
        before, folded = plan.slots.get(key, (None, (ZERO, ZERO)))
        target, actions, condition = total_write(write, plan.distributor, plan.token, before, folded,
                                                 staged=staged, stamp=stamp)  # fmt: skip
        tx.update(target, actions=actions, condition=condition)
    elif isinstance(write, DistributorCell):
        key = (write.account_id, write.year, write.quarter, write.currency)
        item, condition = distributor_cell_write(write, plan.before.get(key), plan.token, staged=staged,
                                                 stamp=stamp)  # fmt: skip
        tx.save(item, condition=condition)
    else:
        before, folded = plan.unmatched_slots.get(write[0].normalised_name, (None, None))
        target, actions, condition = _unmatched_write(plan, write, before, folded, stamp, staged=staged)
        tx.update(target, actions=actions, condition=condition)


def _empty_cell(distributor: str, key: TotalKey) -> DistributorCell:
    return DistributorCell(*key, distributor, ZERO, ZERO, {})


# ------------------------------------------------------------------ in memory
class InMemoryPosStore:
    """``PosStore`` in dicts, with the same ledger, condition and ordering semantics; actuals go to
    an ``InMemoryPlanStore`` (``self.plan``)."""

    def __init__(self, plan: InMemoryPlanStore | None = None) -> None:
        self.plan = plan or InMemoryPlanStore()
        self.runs: dict[tuple[str, str], RunRecord] = {}
        self.lines: dict[tuple[str, str], StoredLine] = {}
        self.unmatched: dict[str, UnmatchedCustomer] = {}
        self.inventory: dict[tuple[str, str], InventoryPart] = {}
        self.heads: dict[str, LedgerHead] = {}
        self.cells: dict[tuple[str, str, int, int, str], DistributorCell] = {}

    def get_run(self, object_key: str, version: str) -> RunRecord | None:
        found = self.runs.get(run_key(object_key, version))
        return copy.deepcopy(found) if found is not None else None

    def runs_of_key(self, object_key: str) -> list[RunRecord]:
        found = [copy.deepcopy(r) for r in self.runs.values() if r.key == object_key]
        return sorted(found, key=lambda r: r.started_at, reverse=True)

    def runs_of_distributor(self, distributor: str) -> list[RunRecord]:
        found = [copy.deepcopy(r) for r in self.runs.values() if r.distributor == distributor]
        return sorted(found, key=lambda r: (r.started_at, r.key), reverse=True)

    def create_run(self, run: RunRecord) -> RunRecord | None:
        key = run_key(run.key, run.version)
        if key in self.runs:
            return None
        refuse_oversized(_run_item(run).serialize())
        self.runs[key] = copy.deepcopy(run)
        return run

    def save_run(self, run: RunRecord, *, expected_slice: int) -> bool:
        key = run_key(run.key, run.version)
        stored = self.runs.get(key)
        if stored is None or stored.slice != expected_slice or stored.status in ("done", "failed", "refused"):
            return False
        refuse_oversized(_run_item(run).serialize())
        self.runs[key] = copy.deepcopy(run)
        return True

    def apply_lines(self, distributor: str, run_id: str, lines: Sequence[LedgerLine]) -> LedgerOutcome:
        outcome = LedgerOutcome()
        for start in range(0, len(lines), LINES_PER_TRANSACTION):
            group = lines[start : start + LINES_PER_TRANSACTION]
            plan = _plan_group(distributor, run_id, group, self.lines)
            for line, _previous in plan.puts:
                self.lines[line_key(distributor, line.invoice_number, line.line)] = _as_stored(run_id, line)
            self.plan.add_actuals(plan.actual_deltas())
            for change in plan.unmatched.values():
                self._add_unmatched(distributor, change)
            _merge(outcome, plan.outcome)
        return outcome

    def lock_ledger(self, distributor: str, run_id: str) -> LedgerHead | None:
        head = self.heads.setdefault(distributor, LedgerHead(distributor))
        if head.lock_run not in (None, run_id):
            return None
        head.lock_run = run_id
        return copy.deepcopy(head)

    def distributor_cells(
        self, distributor: str, keys: Iterable[tuple[str, int, int, str]]
    ) -> dict[tuple[str, int, int, str], DistributorCell]:
        return {k: self.cells[(distributor, *k)] for k in keys if (distributor, *k) in self.cells}

    def commit_slots(
        self, distributor: str, totals: Iterable[TotalKey], names: Iterable[str]
    ) -> tuple[dict[TotalKey, Slot], dict[str, Slot]]:
        return {}, {}  # a commit here is one step: nothing is ever staged

    def fail_run(self, run: RunRecord, reason: str) -> bool:
        stored = self.runs.get(run_key(run.key, run.version))
        if stored is None or stored.status not in ("running", "continuing", "applying"):
            return False
        stored.status, stored.error, stored.finished_at, stored.checkpoint = (
            "failed",
            reason,
            now_text(),
            None,
        )
        head = self.heads.get(run.distributor)
        if head is not None and head.lock_run == run.run_id:
            head.lock_run = None
        return True

    def commit_run(self, plan: CommitPlan, run: RunRecord, *, expected_slice: int) -> bool:
        """All at once (the chunks of the DynamoDB store are one step here)."""
        stored = self.runs.get(run_key(run.key, run.version))
        head = self.heads.get(plan.distributor)
        if stored is None or stored.slice != expected_slice or stored.status in ("done", "failed", "refused"):
            return False
        if run.applied >= plan.chunk_count():
            return False
        if head is None or head.version != plan.head_version or head.lock_run != plan.run_id:
            return False
        if plan.chunk_count() > 1:  # the marker and pages the DynamoDB store writes, refused as it would be
            marker, pages = plan.marker_items(now_text())
            for item in (marker, *pages):
                refuse_oversized(item.serialize())
            self.plan.pos_commits[plan.token] = [marker, *pages]
        for cell in plan.cells:
            key = (plan.distributor, cell.account_id, cell.year, cell.quarter, cell.currency)
            if self.cells.get(key, None) is not None and self.cells[key].version != cell.version:
                return False
        deltas = list(plan.totals)
        for cell in plan.cells:
            key = (plan.distributor, cell.account_id, cell.year, cell.quarter, cell.currency)
            before = self.cells.get(key)
            self.cells[key] = replace(cell, version=cell.version + 1)
            deltas.extend(_cell_deltas(plan.distributor, before, cell))
        self.plan.add_actuals(deltas)
        for change in plan.unmatched:
            self._add_unmatched(plan.distributor, change)
        run.applied = plan.chunk_count()
        self.runs[run_key(run.key, run.version)] = copy.deepcopy(run)
        self.heads[plan.distributor] = LedgerHead(plan.distributor, dict(plan.shards), head.version + 1)
        return True

    def _add_unmatched(self, distributor: str, change: UnmatchedDelta) -> None:
        current = self.unmatched.get(change.normalised_name) or UnmatchedCustomer(
            change.normalised_name, None, {}, 0, []
        )
        amounts = dict(current.amounts)
        amounts[change.currency] = amounts.get(change.currency, ZERO) + change.amount
        customers = sorted(c for c in change.customers if c)
        self.unmatched[change.normalised_name] = UnmatchedCustomer(
            change.normalised_name,
            customers[0] if customers else current.end_customer,
            amounts,
            current.line_count + change.lines,
            sorted({*current.distributors, distributor}),
        )

    def put_inventory(
        self, distributor: str, run_id: str, lines: Iterable[InventoryEntry]
    ) -> tuple[int, int]:
        written = stale = 0
        for line in lines:
            key = inventory_key(distributor, line.part_number)
            stored = self.inventory.get(key)
            if stored is not None and stored.as_of_date > line.as_of_date:
                stale += 1
                continue
            self.inventory[key] = InventoryPart(
                distributor, line.part_number, line.as_of_date, line.on_hand, line.on_order, run_id
            )
            written += 1
        return written, stale

    def inventory_of(self, distributor: str) -> list[InventoryPart]:
        return [p for k, p in sorted(self.inventory.items()) if p.distributor == distributor]

    def unmatched_customers(self) -> list[UnmatchedCustomer]:
        return [self.unmatched[name] for name in sorted(self.unmatched)]
