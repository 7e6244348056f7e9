"""The plan table: plan figures, actuals and their breakdowns (and, later, the rollups).

Key patterns (the only place they are spelled; ``docs/data-model.md`` names the method of each
access pattern):

- a plan figure: ``PLAN#<NODE_TYPE>#<node_id>`` / ``<yyyy>#Q<n>``, entity ``PLAN``; gsi1
  ``PLAN#<yyyy>`` / ``<NODE_TYPE>#<node_id>#Q<n>`` (all figures of a year). Written only by a newer
  event (``put_plan_figure_if_newer``), ordered by (``occurred_at``, ``last_event_id``);
- an account's actuals per quarter and currency: ``ACTUAL#ACCOUNT#<account_id>`` /
  ``<yyyy>#Q<n>#<CUR>``, entity ``ACTUAL``, ``amount`` and ``quantity`` moved by ``ADD``; gsi1
  ``ACTUAL#<yyyy>`` / ``ACCOUNT#<account_id>#Q<n>#<CUR>`` (all actuals of a year);
- their breakdown by distributor and by part: same partition, ``<yyyy>#Q<n>#<CUR>#DIST#<distributor>``
  / ``...#PART#<part>``, entity ``ACTUAL_BREAKDOWN`` (not on the rollup's stream filter);
- a POS run's commit marker: ``POSCOMMIT#<run token>`` / ``COMMIT``, entity ``POS_COMMIT``: ``done``
  makes the run's staged contribution count (below); it lists the account-quarters the run moved,
  and its stream record is what tells the rollup (once, after the run is done).

Never half a result (issue 13): a POS commit too big for one transaction is written in chunks, each
item getting the run's contribution *staged*, beside what counts: on an account total (and an
unmatched customer, in the POS table) in the distributor's slot ``slot_<hash of distributor>``
(``slot_attribute``), on a distributor's slice in ``pending`` / ``pending_run``. A staged value
counts only once its run's marker says ``done`` (written in the commit's last transaction, with the
run record); every reader here resolves it (``CommittedRuns``), so a reader sees the whole run or
none of it. The distributor's next commit folds a counted slot into the item (one write an item).

Actuals are written by the POS ledger in the same transaction as the lines that make them
(``shared.store.pos`` uses ``actual_write``); ``add_actuals`` is the same change on its own.

``DynamoPlanStore`` serves the table with pynamodb; ``InMemoryPlanStore`` has the same semantics.
Readers get plain dataclasses (``PlanFigure``, ``Actual``, ``ActualBreakdown``), never item models.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, NamedTuple, Protocol

from pynamodb.attributes import DiscriminatorAttribute, NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from shared.settings import get_settings
from shared.store.errors import Conflict, translated
from shared.store.items import BoundedRetry, DecimalAttribute, Gsi1, batch_get_raw, now_text, utc_text

_settings = get_settings()
ZERO = Decimal(0)
CENT = Decimal("0.01")

PlanWrite = Literal["applied", "stale", "duplicate"]
"""What ``put_plan_figure_if_newer`` did: written; a newer event is stored; this very event is stored."""


# ------------------------------------------------------------------ keys
def plan_figure_key(node_type: str, node_id: str, year: int, quarter: int) -> tuple[str, str]:
    return f"PLAN#{node_type.upper()}#{node_id}", f"{year:04d}#Q{quarter}"


def plan_year_index(node_type: str, node_id: str, year: int, quarter: int) -> tuple[str, str]:
    return plan_year_pk(year), f"{node_type.upper()}#{node_id}#Q{quarter}"


def plan_year_pk(year: int) -> str:
    return f"PLAN#{year:04d}"


def distributor_breakdown(distributor: str) -> str:
    """The breakdown of an account-quarter's actuals that one distributor sold."""
    return f"DIST#{distributor}"


def part_breakdown(part_number: str) -> str:
    """The breakdown of an account-quarter's actuals by part."""
    return f"PART#{part_number}"


def actual_pk(account_id: str) -> str:
    return f"ACTUAL#ACCOUNT#{account_id}"


def actual_key(
    account_id: str, year: int, quarter: int, currency: str, breakdown: str = ""
) -> tuple[str, str]:
    """An account-quarter-currency's actuals; with ``breakdown`` (``distributor_breakdown``,
    ``part_breakdown``) one slice of them."""
    sk = f"{year:04d}#Q{quarter}#{currency}" + (f"#{breakdown}" if breakdown else "")
    return actual_pk(account_id), sk


def actual_year_index(account_id: str, year: int, quarter: int, currency: str) -> tuple[str, str]:
    return actual_year_pk(year), f"ACCOUNT#{account_id}#Q{quarter}#{currency}"


def actual_year_pk(year: int) -> str:
    return f"ACTUAL#{year:04d}"


_SLOT_PREFIX = "slot_"


def slot_attribute(distributor: str) -> str:
    """The attribute holding one distributor's staged contribution on an item many distributors move
    (an account total, an unmatched customer): ``slot_<hash>``, since an attribute name is limited."""
    return _SLOT_PREFIX + hashlib.blake2b(distributor.encode(), digest_size=8).hexdigest()


def is_slot_attribute(name: str) -> bool:
    return name.startswith(_SLOT_PREFIX)


def commit_marker_key(token: str) -> tuple[str, str]:
    """A POS run's commit marker (``token``: ``shared.store.pos.run_token``)."""
    return f"POSCOMMIT#{token}", "COMMIT"


_PAGE_PREFIX = "TOUCHED#"


def commit_page_key(token: str, chunk: int) -> tuple[str, str]:
    """The account-quarters one chunk of a POS run's commit moved (written with that chunk): beside the
    marker, ``POSCOMMIT#<token>`` / ``TOUCHED#<chunk>``."""
    return commit_marker_key(token)[0], f"{_PAGE_PREFIX}{chunk:05d}"


# ---- rollup keys (issue 11, branch plan-rollup) ----
def node_key(ref: NodeRef) -> dict[str, str]:
    """A mirrored tree node: ``NODE#<TYPE>#<id>`` / ``NODE``."""
    return {"pk": f"NODE#{ref.type}#{ref.id}", "sk": "NODE"}


def children_index(parent: NodeRef | None) -> str:
    """gsi1pk listing a node's children (``CHILDREN#ROOT`` for nodes without a parent)."""
    return f"CHILDREN#{parent.type}#{parent.id}" if parent else "CHILDREN#ROOT"


def node_id_index(node_id: str) -> str:
    """The nodes named by an id, whatever their type (an id naming two types answers 409)."""
    return f"NODEID#{node_id}"


def order_mirror_key(ref: NodeRef, period: Period, order_id: str) -> dict[str, str]:
    """An order counted in a node's actual: ``NODE#<TYPE>#<id>`` / ``ORDER#<yyyy>#Q<n>#<order_id>``."""
    return {"pk": f"NODE#{ref.type}#{ref.id}", "sk": f"ORDER#{period[0]:04d}#Q{period[1]}#{order_id}"}


def order_period_prefix(period: Period) -> str:
    return f"ORDER#{period[0]:04d}#Q{period[1]}#"


def rollup_key(ref: NodeRef, period: Period) -> dict[str, str]:
    """One rollup: ``ROLLUP#<TYPE>#<id>`` / ``<yyyy>#Q<n>``."""
    return {"pk": f"ROLLUP#{ref.type}#{ref.id}", "sk": f"{period[0]:04d}#Q{period[1]}"}


def order_ref_key(order_id: str) -> tuple[str, str]:
    """Where an order is mirrored, and its version: ``ORDERREF#<order_id>`` / ``ORDERREF``."""
    return f"ORDERREF#{order_id}", "ORDERREF"


def rollup_year_index(year: int) -> str:
    """gsi1pk of every rollup of a year (nightly comparison, board export)."""
    return f"ROLLUP#{year:04d}"


def parse_period(sk: str) -> Period:
    """``2026#Q3...`` → (2026, 3)."""
    year, quarter = sk.split("#", 2)[:2]
    return int(year), int(quarter.removeprefix("Q"))


def parse_ref(pk: str) -> NodeRef:
    """``NODE#ACCOUNT#a1`` / ``PLAN#ACCOUNT#a1`` / ``ROLLUP#...`` / ``ACTUAL#ACCOUNT#a1`` → the node."""
    _, node_type, node_id = pk.split("#", 2)
    return NodeRef(node_type, node_id)


# ------------------------------------------------------------------ what readers get
@dataclass(frozen=True)
class PlanFigure:
    """The plan for one node (territory, account, opportunity) in one quarter."""

    node_type: str  # territory | account | opportunity
    node_id: str
    year: int
    quarter: int
    amount: Decimal


@dataclass(frozen=True)
class ActualDelta:
    """A change to actuals: added to ``amount`` and ``quantity`` (negative takes back)."""

    account_id: str
    year: int
    quarter: int
    currency: str
    amount: Decimal
    quantity: Decimal
    breakdown: str = ""  # "" for the account-quarter total, else distributor_breakdown / part_breakdown


@dataclass(frozen=True)
class Actual:
    """Sell-through of one account in one quarter and currency."""

    account_id: str
    year: int
    quarter: int
    currency: str
    amount: Decimal
    quantity: Decimal


@dataclass(frozen=True)
class ActualBreakdown:
    """One slice of an account-quarter's actuals: ``dimension`` distributor or part."""

    account_id: str
    year: int
    quarter: int
    currency: str
    dimension: str  # distributor | part
    value: str
    amount: Decimal
    quantity: Decimal


_DIMENSIONS = {"DIST": "distributor", "PART": "part"}


# ------------------------------------------------------------------ item models
class PlanTableItem(Model):
    class Meta:
        table_name = _settings.plan_table
        region = _settings.region

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    gsi1pk = UnicodeAttribute(null=True)
    gsi1sk = UnicodeAttribute(null=True)
    entity = DiscriminatorAttribute(attr_name="entity")
    updated_at = UnicodeAttribute(null=True)
    by_gsi1 = Gsi1()


class PlanFigureItem(PlanTableItem, discriminator="PLAN"):
    node_type = UnicodeAttribute()
    node_id = UnicodeAttribute()
    year = NumberAttribute()
    quarter = NumberAttribute()
    amount = DecimalAttribute()
    source = UnicodeAttribute(null=True)
    occurred_at = UnicodeAttribute(null=True)  # the version of the event that wrote it
    last_event_id = UnicodeAttribute(null=True)


class ActualItem(PlanTableItem, discriminator="ACTUAL"):
    account_id = UnicodeAttribute()
    year = NumberAttribute()
    quarter = NumberAttribute()
    currency = UnicodeAttribute()
    amount = DecimalAttribute(null=True)
    quantity = DecimalAttribute(null=True)


class ActualBreakdownItem(PlanTableItem, discriminator="ACTUAL_BREAKDOWN"):
    account_id = UnicodeAttribute()
    year = NumberAttribute()
    quarter = NumberAttribute()
    currency = UnicodeAttribute()
    breakdown = UnicodeAttribute()
    amount = DecimalAttribute(null=True)
    quantity = DecimalAttribute(null=True)
    # On a distributor's slice written by a POS commit: that distributor's sales by part, as JSON
    # ``{part: [amount, quantity]}`` (decimal text), and a version the commit conditions on.
    parts = UnicodeAttribute(null=True)
    version = NumberAttribute(null=True)
    # A chunked POS commit's slice, staged: JSON ``{amount, quantity, parts, version}``, counting
    # once the run ``pending_run`` (its token) is done (``CommittedRuns``).
    pending = UnicodeAttribute(null=True)
    pending_run = UnicodeAttribute(null=True)


class PosCommitItem(PlanTableItem, discriminator="POS_COMMIT"):
    """A POS run's commit marker (``commit_marker_key``): ``done`` once its last transaction went."""

    run_id = UnicodeAttribute()
    distributor = UnicodeAttribute()
    status = UnicodeAttribute()  # done | failed (final either way)
    # JSON {account_id: [[year, quarter], ...]}: what the last chunk moved (the earlier chunks' are in
    # ``pages`` page items), so the marker stays far under 400 KB however much the run moved.
    touched = UnicodeAttribute(null=True)
    pages = NumberAttribute(null=True)


class PosCommitPageItem(PlanTableItem, discriminator="POS_COMMIT_PAGE"):
    """What one chunk of a POS run's commit moved (``commit_page_key``), written in that chunk's
    transaction: ``touched`` as on the marker. Not on the rollup's stream filter. Temporary: TTL
    ``expires_at`` (``commit_page_expiry``)."""

    touched = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)


POS_COMMIT_PAGE_RETENTION_DAYS = 30


def commit_page_expiry() -> datetime:
    """When a page item may go: plan_rollup reads the pages once, when the marker's stream record (kept 24
    hours by the stream) comes, and the nightly rebuild reads none; 30 days leaves weeks to spare. The marker
    itself never expires: the slots its run staged count by it for as long as they stay."""
    return datetime.now(UTC) + timedelta(days=POS_COMMIT_PAGE_RETENTION_DAYS)


def touched_json(touched: dict[str, list[list[int]]]) -> str:
    return json.dumps(touched, separators=(",", ":"))


def _moved(touched: str | None) -> dict[NodeRef, frozenset[Period]]:
    found = json.loads(touched or "{}")
    return {NodeRef(ACCOUNT, a): frozenset((int(y), int(q)) for y, q in ps) for a, ps in found.items()}


def merge_moved(*parts: dict[NodeRef, frozenset[Period]]) -> dict[NodeRef, frozenset[Period]]:
    out: dict[NodeRef, frozenset[Period]] = {}
    for part in parts:
        for ref, periods in part.items():
            out[ref] = out.get(ref, frozenset()) | periods
    return out


def pos_commit_pages(token: str) -> dict[NodeRef, frozenset[Period]]:
    """The account-quarters a POS run's earlier commit chunks moved (its page items; consistent Query)."""
    pk, _sk = commit_marker_key(token)
    found = _raw_query(pk, _PAGE_PREFIX)
    return merge_moved(*(_moved(item.touched) for item, _raw in found if isinstance(item, PosCommitPageItem)))


class CommittedRuns:
    """Which POS runs' staged contributions count: those whose commit marker says ``done``. A marker
    is final once written (``done`` or ``failed``), so what was found is kept; a run with no marker
    yet (still committing, or dead) is asked again next time."""

    def __init__(self) -> None:
        self._final: dict[str, bool] = {}

    def counted(self, tokens: Iterable[str | None]) -> set[str]:
        wanted = {t for t in tokens if t}
        unknown = [t for t in wanted if t not in self._final]
        if unknown:
            keys = [commit_marker_key(t) for t in unknown]
            for raw in batch_get_raw(PosCommitItem.Meta.table_name, keys, BoundedRetry()):
                item = PosCommitItem.from_raw_data(raw)
                self._final[item.pk.split("#", 1)[1]] = item.status == "done"
        return {t for t in wanted if self._final.get(t)}


def parse_slot(text: str) -> tuple[str, Decimal, Decimal]:
    """An account total's slot: ``<token> <amount> <quantity>``."""
    token, amount, quantity = text.split(" ")
    return token, Decimal(amount), Decimal(quantity)


def slot_text(token: str, amount: Decimal, quantity: Decimal) -> str:
    return f"{token} {amount} {quantity}"


def staged_cell(cell: DistributorCell) -> str:
    parts = {p: [str(a), str(q)] for p, (a, q) in sorted(cell.parts.items())}
    return json.dumps({"amount": str(cell.amount), "quantity": str(cell.quantity), "parts": parts,
                       "version": cell.version + 1}, separators=(",", ":"))  # fmt: skip


def resolve_cells(items: list[ActualBreakdownItem], runs: CommittedRuns) -> list[ActualBreakdownItem]:
    """Breakdown items as they count: a slice staged by a run that is done replaces what the item held;
    one staged by a run that is not (yet) done is left out, and so is an item with nothing else."""
    counted = runs.counted(i.pending_run for i in items)
    out = []
    for item in items:
        if item.pending_run and item.pending_run in counted and item.pending:
            staged = json.loads(item.pending)
            item.amount, item.quantity = Decimal(staged["amount"]), Decimal(staged["quantity"])
            item.parts = json.dumps(staged["parts"], separators=(",", ":"))
            item.version = int(staged["version"])
        elif item.amount is None and item.quantity is None:
            continue  # made by a staged write whose run does not count (yet)
        out.append(item)
    return out


def _raw_query(
    pk: str, sk_prefix: str, *, index: str | None = None, consistent: bool = True
) -> Iterator[tuple[PlanTableItem, dict[str, Any]]]:
    """Items with their raw attributes (pynamodb models drop the ``slot_`` attributes they do not declare)."""
    connection = PlanTableItem._get_connection()
    key = PlanTableItem.gsi1sk if index else PlanTableItem.sk
    start = None
    while True:
        with translated():
            page = connection.query(
                pk, range_key_condition=key.startswith(sk_prefix) if sk_prefix else None,
                consistent_read=consistent and not index, index_name=index, exclusive_start_key=start,
            )  # fmt: skip
        for raw in page.get("Items", []):
            yield PlanTableItem.from_raw_data(raw), raw
        start = page.get("LastEvaluatedKey")
        if not start:
            return


def resolve_actuals(
    found: list[tuple[PlanTableItem, dict[str, Any]]], runs: CommittedRuns
) -> list[ActualItem]:
    """Account totals as they count: what the item holds plus each slot whose run is done."""
    slots = [
        (item, [parse_slot(v["S"]) for k, v in raw.items() if is_slot_attribute(k)])
        for item, raw in found
        if isinstance(item, ActualItem)
    ]
    counted = runs.counted(token for _item, staged in slots for token, _a, _q in staged)
    out = []
    for item, staged in slots:
        mine = [(a, q) for token, a, q in staged if token in counted]
        if item.amount is None and item.quantity is None and not mine:
            continue  # made by a staged write whose run does not count (yet)
        item.amount = (item.amount or ZERO) + sum((a for a, _q in mine), ZERO)
        item.quantity = (item.quantity or ZERO) + sum((q for _a, q in mine), ZERO)
        out.append(item)
    return out


@dataclass(frozen=True)
class DistributorCell:
    """One distributor's slice of an account-quarter-currency, with its sales by part: written whole by
    the POS commit (under the distributor's ledger lock), conditioned on ``version`` as read."""

    account_id: str
    year: int
    quarter: int
    currency: str
    distributor: str
    amount: Decimal
    quantity: Decimal
    parts: dict[str, tuple[Decimal, Decimal]]
    version: int = 0  # as read (a staged slice of a run that is done counting); 0 when there is no item yet
    stored_version: int = 0  # the item as stored, which the commit's write is conditioned on
    stored_run: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id, "year": self.year, "quarter": self.quarter,
            "currency": self.currency, "distributor": self.distributor, "amount": str(self.amount),
            "quantity": str(self.quantity), "version": self.version,
            "parts": {p: [str(a), str(q)] for p, (a, q) in self.parts.items()},
            "stored_version": self.stored_version, "stored_run": self.stored_run,
        }  # fmt: skip

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DistributorCell:
        parts = {p: (Decimal(a), Decimal(q)) for p, (a, q) in data["parts"].items()}
        return cls(data["account_id"], int(data["year"]), int(data["quarter"]), data["currency"],
                   data["distributor"], Decimal(data["amount"]), Decimal(data["quantity"]), parts,
                   int(data["version"]), int(data.get("stored_version", 0)), data.get("stored_run", ""))  # fmt: skip


def distributor_cell_item(cell: DistributorCell, stamp: str) -> ActualBreakdownItem:
    """The item of a distributor's slice as a commit writes it (version moved on by one)."""
    pk, sk = actual_key(cell.account_id, cell.year, cell.quarter, cell.currency,
                        distributor_breakdown(cell.distributor))  # fmt: skip
    parts = {p: [str(a), str(q)] for p, (a, q) in sorted(cell.parts.items())}  # a part back at 0 stays, at 0
    return ActualBreakdownItem(
        pk, sk, account_id=cell.account_id, year=cell.year, quarter=cell.quarter, currency=cell.currency,
        breakdown=distributor_breakdown(cell.distributor), amount=cell.amount, quantity=cell.quantity,
        parts=json.dumps(parts, separators=(",", ":")), version=cell.version + 1, updated_at=stamp,
    )  # fmt: skip


def distributor_cell(
    item: ActualBreakdownItem, distributor: str, stored: tuple[int, str] = (0, "")
) -> DistributorCell:
    """The slice as it counts (``item`` resolved by ``resolve_cells``); ``stored``: the item's own
    version and staged run before resolving."""
    parts = {p: (Decimal(a), Decimal(q)) for p, (a, q) in json.loads(item.parts or "{}").items()}
    return DistributorCell(item.account_id, int(item.year), int(item.quarter), item.currency, distributor,
                           item.amount or ZERO, item.quantity or ZERO, parts, int(item.version or 0),
                           *stored)  # fmt: skip


def distributor_cell_write(
    after: DistributorCell, before: DistributorCell | None, token: str, *, staged: bool, stamp: str
) -> tuple[ActualBreakdownItem, Any]:
    """A distributor's slice as a commit writes it, whole, with the condition that the item is as
    read: ``after`` counting at once, or (``staged``) ``before`` counting and ``after`` staged for
    the run ``token``."""
    if staged:
        pk, sk = actual_key(after.account_id, after.year, after.quarter, after.currency,
                            distributor_breakdown(after.distributor))  # fmt: skip
        item = ActualBreakdownItem(
            pk, sk, account_id=after.account_id, year=after.year, quarter=after.quarter,
            currency=after.currency, breakdown=distributor_breakdown(after.distributor),
            pending=staged_cell(after), pending_run=token, updated_at=stamp,
        )  # fmt: skip
        if before is not None:
            item.amount, item.quantity, item.version = before.amount, before.quantity, before.version
            item.parts = json.dumps({p: [str(a), str(q)] for p, (a, q) in sorted(before.parts.items())},
                                    separators=(",", ":"))  # fmt: skip
    else:
        item = distributor_cell_item(after, stamp)
    version, run = ActualBreakdownItem.version, ActualBreakdownItem.pending_run
    condition = (version == after.stored_version) if after.stored_version else version.does_not_exist()
    condition &= (run == after.stored_run) if after.stored_run else run.does_not_exist()
    return item, condition


def total_write(
    delta: ActualDelta, distributor: str, token: str, before: str | None,
    folded: tuple[Decimal, Decimal], *, staged: bool, stamp: str,
) -> tuple[Model, list[Action], Any]:  # fmt: skip
    """An account total moved by a commit, conditioned on the distributor's slot as read (``before``):
    ``delta`` added at once, or (``staged``) put in the distributor's slot; either way the slot's
    earlier content, when its run is done (``folded``), is added to what counts."""
    slot = UnicodeAttribute(attr_name=slot_attribute(distributor))
    add = (folded[0], folded[1]) if staged else (folded[0] + delta.amount, folded[1] + delta.quantity)
    target, actions = actual_write(replace(delta, amount=add[0], quantity=add[1]), stamp)
    if staged:
        if not add[0] and not add[1]:
            actions = actions[2:]  # nothing counts yet: no amount on a new item (readers leave it out)
        actions.append(slot.set(slot_text(token, delta.amount, delta.quantity)))
    elif before is not None:
        actions.append(slot.remove())
    return target, actions, (slot == before) if before is not None else slot.does_not_exist()


def _with_parts(items: list[ActualBreakdownItem]) -> list[ActualBreakdown]:
    """Breakdown rows: each distributor's slice, then each part summed over the distributors' part maps
    (and any part item written on its own by ``add_actuals``), in key order."""
    out: list[ActualBreakdown] = []
    by_part: dict[str, list[Decimal]] = {}
    first: ActualBreakdownItem | None = None
    for item in items:
        first = first or item
        dimension, _, value = item.breakdown.partition("#")
        if dimension == "PART":
            slot = by_part.setdefault(value, [ZERO, ZERO])
            slot[0] += item.amount or ZERO
            slot[1] += item.quantity or ZERO
            continue
        out.append(_breakdown(item))
        for part, (amount, quantity) in json.loads(item.parts or "{}").items():
            slot = by_part.setdefault(part, [ZERO, ZERO])
            slot[0] += Decimal(amount)
            slot[1] += Decimal(quantity)
    if first is not None:
        for part in sorted(by_part, key=part_breakdown):
            amount, quantity = by_part[part]
            out.append(ActualBreakdown(first.account_id, int(first.year), int(first.quarter), first.currency,
                                       "part", part, amount, quantity))  # fmt: skip
    return out


# ---- rollup item models (issue 11, branch plan-rollup) ----


class NodeItem(PlanTableItem, discriminator="NODE"):
    """A territory, account or opportunity mirrored from the CRM table: ``NODE#<TYPE>#<id>`` / ``NODE``;
    gsi1 ``CHILDREN#<parent type>#<parent id>`` / ``<TYPE>#<id>``."""

    node_type = UnicodeAttribute()
    node_id = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    owner = UnicodeAttribute(null=True)
    parent_type = UnicodeAttribute(null=True)
    parent_id = UnicodeAttribute(null=True)
    stage = UnicodeAttribute(null=True)
    probability = UnicodeAttribute(null=True)  # decimal text
    amount = UnicodeAttribute(null=True)  # decimal text
    close_date = UnicodeAttribute(null=True)
    version = UnicodeAttribute(default="")


class NodeOrderItem(PlanTableItem, discriminator="NODE_ORDER"):
    """An order counted in a node's actual: ``NODE#<TYPE>#<id>`` / ``ORDER#<yyyy>#Q<n>#<order_id>``."""

    order_id = UnicodeAttribute()
    account_id = UnicodeAttribute()
    opportunity_id = UnicodeAttribute(null=True)
    amount = UnicodeAttribute()  # decimal text
    currency = UnicodeAttribute()
    booked_on = UnicodeAttribute()
    version = UnicodeAttribute(default="")


class OrderRefItem(PlanTableItem, discriminator="ORDER_REF"):
    """Where an order is mirrored, and its version: ``ORDERREF#<order_id>`` / ``ORDERREF``."""

    order = UnicodeAttribute()  # the order as JSON (shared.store.plan.order_item)


class RollupItem(PlanTableItem, discriminator="ROLLUP"):
    """One node's figures in one quarter: ``ROLLUP#<TYPE>#<id>`` / ``<yyyy>#Q<n>``; gsi1 ``ROLLUP#<yyyy>``."""

    node_type = UnicodeAttribute()
    node_id = UnicodeAttribute()
    year = NumberAttribute()
    quarter = NumberAttribute()
    figures = UnicodeAttribute()  # RollupCell.to_json(): money as exact decimal text


def actual_write(delta: ActualDelta, stamp: str) -> tuple[Model, list[Action]]:
    """The item and the update actions (``ADD`` amount and quantity) of one actuals change; for an
    update on its own or inside another store's transaction."""
    pk, sk = actual_key(delta.account_id, delta.year, delta.quarter, delta.currency, delta.breakdown)
    model: type[ActualItem] | type[ActualBreakdownItem]
    model = ActualBreakdownItem if delta.breakdown else ActualItem
    actions: list[Action] = [
        model.amount.add(delta.amount),
        model.quantity.add(delta.quantity),
        model.entity.set(model),
        model.account_id.set(delta.account_id),
        model.year.set(delta.year),
        model.quarter.set(delta.quarter),
        model.currency.set(delta.currency),
        model.updated_at.set(stamp),
    ]
    if delta.breakdown:
        actions.append(ActualBreakdownItem.breakdown.set(delta.breakdown))
    else:
        gsi1pk, gsi1sk = actual_year_index(delta.account_id, delta.year, delta.quarter, delta.currency)
        actions += [model.gsi1pk.set(gsi1pk), model.gsi1sk.set(gsi1sk)]
    return model(pk, sk), actions


def _figure(item: PlanFigureItem) -> PlanFigure:
    return PlanFigure(item.node_type, item.node_id, int(item.year), int(item.quarter), item.amount)


def _actual(item: ActualItem) -> Actual:
    return Actual(item.account_id, int(item.year), int(item.quarter), item.currency,
                  item.amount or ZERO, item.quantity or ZERO)  # fmt: skip


def _breakdown(item: ActualBreakdownItem) -> ActualBreakdown:
    dimension, _, value = item.breakdown.partition("#")
    return ActualBreakdown(item.account_id, int(item.year), int(item.quarter), item.currency,
                           _DIMENSIONS.get(dimension, dimension), value, item.amount or ZERO,
                           item.quantity or ZERO)  # fmt: skip


# ------------------------------------------------------------------ the protocol
class PlanStore(Protocol):
    """The plan table's access patterns."""

    def put_plan_figure_if_newer(
        self, figure: PlanFigure, *, occurred_at: datetime, event_id: str, source: str
    ) -> PlanWrite:
        """Write a plan figure from an event unless the stored one is as new or newer, ordered by
        (``occurred_at``, ``event_id``); a figure written by other means (no version) is older."""
        ...

    def plan_figures_of_year(self, year: int) -> list[PlanFigure]:
        """Every plan figure of a year (the rollup), in index order."""
        ...

    def add_actuals(self, deltas: Iterable[ActualDelta]) -> None:
        """Add each delta to its actuals item (``ADD``; the item is made on first use)."""
        ...

    def actuals_of_account(self, account_id: str, year: int, quarter: int | None = None) -> list[Actual]:
        """An account's actuals of a year (or one quarter), per quarter and currency."""
        ...

    def actuals_of_year(self, year: int) -> list[Actual]:
        """Every account's actuals of a year (the rollup)."""
        ...

    def actual_breakdown(
        self, account_id: str, year: int, quarter: int, currency: str
    ) -> list[ActualBreakdown]:
        """An account-quarter-currency's actuals by distributor and by part."""
        ...

    # ---- rollups (issue 11): see ``RollupStore`` / ``DynamoRollupStore`` / ``InMemoryRollupStore`` below ----


# ------------------------------------------------------------------ DynamoDB
class DynamoPlanStore:
    """``PlanStore`` on the plan table (pynamodb); POS contributions staged by a run that is not done
    are not read (``CommittedRuns``)."""

    def __init__(self) -> None:
        self.runs = CommittedRuns()

    def put_plan_figure_if_newer(
        self, figure: PlanFigure, *, occurred_at: datetime, event_id: str, source: str
    ) -> PlanWrite:
        pk, sk = plan_figure_key(figure.node_type, figure.node_id, figure.year, figure.quarter)
        gsi1pk, gsi1sk = plan_year_index(figure.node_type, figure.node_id, figure.year, figure.quarter)
        at = utc_text(occurred_at)
        item = PlanFigureItem(
            pk, sk, gsi1pk=gsi1pk, gsi1sk=gsi1sk, node_type=figure.node_type, node_id=figure.node_id,
            year=figure.year, quarter=figure.quarter, amount=figure.amount, source=source,
            occurred_at=at, last_event_id=event_id, updated_at=now_text(),
        )  # fmt: skip
        older = (
            PlanFigureItem.pk.does_not_exist()
            | PlanFigureItem.occurred_at.does_not_exist()
            | (PlanFigureItem.occurred_at < at)
            | ((PlanFigureItem.occurred_at == at) & (PlanFigureItem.last_event_id < event_id))
        )
        with translated():
            try:
                item.save(condition=older)
                return "applied"
            except PutError as exc:
                if exc.cause_response_code != "ConditionalCheckFailedException":
                    raise
            try:
                stored = PlanFigureItem.get(pk, sk, consistent_read=True)
            except DoesNotExist:  # deleted meanwhile: nothing newer is stored
                item.save(condition=PlanFigureItem.pk.does_not_exist())
                return "applied"
        same = stored.occurred_at == at and stored.last_event_id == event_id
        return "duplicate" if same else "stale"

    def plan_figures_of_year(self, year: int) -> list[PlanFigure]:
        with translated():
            items = list(PlanTableItem.by_gsi1.query(plan_year_pk(year)))
        return [_figure(i) for i in items if isinstance(i, PlanFigureItem)]

    def add_actuals(self, deltas: Iterable[ActualDelta]) -> None:
        stamp = now_text()
        with translated():
            for delta in deltas:
                item, actions = actual_write(delta, stamp)
                item.update(actions=actions)

    def _actual_items(self, account_id: str, sk_prefix: str) -> list[tuple[PlanTableItem, dict[str, Any]]]:
        return list(_raw_query(actual_pk(account_id), sk_prefix))

    def actuals_of_account(self, account_id: str, year: int, quarter: int | None = None) -> list[Actual]:
        prefix = f"{year:04d}#" + (f"Q{quarter}#" if quarter is not None else "")
        return [_actual(i) for i in resolve_actuals(self._actual_items(account_id, prefix), self.runs)]

    def actuals_of_year(self, year: int) -> list[Actual]:
        found = list(_raw_query(actual_year_pk(year), "", index="gsi1", consistent=False))
        return [_actual(i) for i in resolve_actuals(found, self.runs)]

    def actual_breakdown(
        self, account_id: str, year: int, quarter: int, currency: str
    ) -> list[ActualBreakdown]:
        prefix = actual_key(account_id, year, quarter, currency)[1] + "#"
        items = [
            i for i, _raw in self._actual_items(account_id, prefix) if isinstance(i, ActualBreakdownItem)
        ]
        return _with_parts(resolve_cells(items, self.runs))

    # ---- rollups (issue 11): see ``RollupStore`` / ``DynamoRollupStore`` / ``InMemoryRollupStore`` below ----


# ------------------------------------------------------------------ in memory
@dataclass
class _StoredFigure:
    figure: PlanFigure
    occurred_at: str | None
    event_id: str | None


class InMemoryPlanStore:
    """``PlanStore`` in dicts, with the same ordering and ``ADD`` semantics."""

    def __init__(self) -> None:
        self.figures: dict[tuple[str, str], _StoredFigure] = {}
        self.actuals: dict[tuple[str, str], ActualDelta] = {}  # the running totals, as deltas from zero
        # A chunked POS commit's marker and page items, by run token (``InMemoryPosStore.commit_run``).
        self.pos_commits: dict[str, list[PlanTableItem]] = {}

    def put_plan_figure_if_newer(
        self, figure: PlanFigure, *, occurred_at: datetime, event_id: str, source: str
    ) -> PlanWrite:
        key = plan_figure_key(figure.node_type, figure.node_id, figure.year, figure.quarter)
        at = utc_text(occurred_at)
        stored = self.figures.get(key)
        if stored is not None and stored.occurred_at is not None:
            if (stored.occurred_at, stored.event_id) == (at, event_id):
                return "duplicate"
            if (stored.occurred_at, stored.event_id or "") > (at, event_id):
                return "stale"
        self.figures[key] = _StoredFigure(figure, at, event_id)
        return "applied"

    def plan_figures_of_year(self, year: int) -> list[PlanFigure]:
        found = [s.figure for s in self.figures.values() if s.figure.year == year]
        return sorted(found, key=lambda f: plan_year_index(f.node_type, f.node_id, f.year, f.quarter)[1])

    def add_actuals(self, deltas: Iterable[ActualDelta]) -> None:
        for delta in deltas:
            key = actual_key(delta.account_id, delta.year, delta.quarter, delta.currency, delta.breakdown)
            current = self.actuals.get(key)
            if current is None:
                self.actuals[key] = delta
            else:
                self.actuals[key] = replace(
                    current, amount=current.amount + delta.amount, quantity=current.quantity + delta.quantity
                )

    def actuals_of_account(self, account_id: str, year: int, quarter: int | None = None) -> list[Actual]:
        return [
            _plain_actual(d)
            for k, d in sorted(self.actuals.items(), key=lambda kv: kv[0])
            if not d.breakdown and d.account_id == account_id and d.year == year
            and (quarter is None or d.quarter == quarter)
        ]  # fmt: skip

    def actuals_of_year(self, year: int) -> list[Actual]:
        found = [d for d in self.actuals.values() if not d.breakdown and d.year == year]
        found.sort(key=lambda d: actual_year_index(d.account_id, d.year, d.quarter, d.currency)[1])
        return [_plain_actual(d) for d in found]

    def actual_breakdown(
        self, account_id: str, year: int, quarter: int, currency: str
    ) -> list[ActualBreakdown]:
        found = [
            (k, d)
            for k, d in self.actuals.items()
            if d.breakdown
            and (d.account_id, d.year, d.quarter, d.currency) == (account_id, year, quarter, currency)
        ]
        out = []
        for _key, d in sorted(found, key=lambda kd: kd[0]):
            dimension, _, value = d.breakdown.partition("#")
            out.append(ActualBreakdown(d.account_id, d.year, d.quarter, d.currency,
                                       _DIMENSIONS.get(dimension, dimension), value, d.amount, d.quantity))  # fmt: skip
        return out

    # ---- rollups (issue 11): see ``RollupStore`` / ``DynamoRollupStore`` / ``InMemoryRollupStore`` below ----


def _plain_actual(delta: ActualDelta) -> Actual:
    return Actual(delta.account_id, delta.year, delta.quarter, delta.currency, delta.amount, delta.quantity)


def as_dict(value: Any) -> dict[str, Any]:
    """A reader's dataclass as JSON-ready values (money as exact decimal text)."""
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in value.__dict__.items()}


# ======================================================================================================
# Rollups (issue 11, owner: plan-rollup). The plan tree mirrored from the CRM table, orders mirrored
# per node and quarter, and one rollup item per node, year and quarter. Written by plan_rollup only;
# read by reports_api and the hub's plan commands.
# ======================================================================================================

TERRITORY = "TERRITORY"
ACCOUNT = "ACCOUNT"
OPPORTUNITY = "OPPORTUNITY"
NODE_TYPES = (TERRITORY, ACCOUNT, OPPORTUNITY)

Period = tuple[int, int]  # (year, quarter)


class NodeRef(NamedTuple):
    """A node of the plan tree: its type (TERRITORY, ACCOUNT, OPPORTUNITY) and id (a tuple: cheap to hash)."""

    type: str
    id: str

    def __str__(self) -> str:
        return f"{self.type}#{self.id}"


@dataclass(frozen=True)
class PlanNode:
    """A territory, account or opportunity as the rollup sees it; ``version`` orders its changes."""

    ref: NodeRef
    name: str = ""
    owner: str | None = None
    parent: NodeRef | None = None
    stage: str | None = None
    probability: Decimal | None = None
    amount: Decimal | None = None
    close_date: date | None = None
    version: str = ""


@dataclass(frozen=True)
class OrderFigure:
    """A booked order (``order.booked``): its account, optional opportunity, amount and currency."""

    order_id: str
    account_id: str
    amount: Decimal
    currency: str
    booked_on: date
    opportunity_id: str | None = None
    version: str = ""

    @property
    def period(self) -> Period:
        return self.booked_on.year, (self.booked_on.month - 1) // 3 + 1

    def refs(self) -> list[NodeRef]:
        """The nodes whose actual this order is part of: its account, and its opportunity if named."""
        refs = [NodeRef(ACCOUNT, self.account_id)]
        if self.opportunity_id:
            refs.append(NodeRef(OPPORTUNITY, self.opportunity_id))
        return refs


@dataclass(frozen=True)
class PosFigure:
    """Accepted POS sell-through of one account, quarter, currency and distributor."""

    account_id: str
    year: int
    quarter: int
    currency: str
    distributor: str
    amount: Decimal


@dataclass
class NodeFigures:
    """A node's own source figures of every quarter, read at once (plan, orders, POS per distributor)."""

    plans: dict[Period, Decimal] = field(default_factory=dict)
    orders: dict[Period, list[OrderFigure]] = field(default_factory=dict)
    pos: dict[Period, list[PosFigure]] = field(default_factory=dict)

    def pos_history(self) -> dict[Period, set[str]]:
        """Per quarter, the distributors that reported sell-through (a non-zero amount)."""
        history: dict[Period, set[str]] = {}
        for period, figures in self.pos.items():
            reported = {f.distributor for f in figures if f.amount}
            if reported:
                history[period] = reported
        return history

    def periods(self) -> set[Period]:
        return set(self.plans) | set(self.orders) | set(self.pos)


@dataclass(frozen=True, slots=True)
class StageFigure:
    count: int = 0
    amount: Decimal = ZERO
    weighted: Decimal = ZERO

    def __add__(self, other: StageFigure) -> StageFigure:
        return StageFigure(
            self.count + other.count, self.amount + other.amount, self.weighted + other.weighted
        )


# The shared, read-only empty map a new cell starts with (a cell copies it on its first write: most
# cells never get a POS, unconverted or pipeline entry, and the nightly recompute makes millions).
class _ReadOnlyEmpty(dict):  # type: ignore[type-arg]
    """An empty dict that refuses writes (hashable, so a dataclass takes it as a default)."""

    __slots__ = ()

    def __hash__(self) -> int:  # type: ignore[override]
        return 0

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("the shared empty map is read-only: RollupCell.add_to copies it first")

    __setitem__ = __delitem__ = update = setdefault = pop = popitem = clear = __ior__ = _refuse  # type: ignore[assignment]


_EMPTY: Any = _ReadOnlyEmpty()


def _added(into: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """``into`` plus ``other`` entry by entry (``into`` is copied first if it is the shared empty map)."""
    if not other:
        return into
    if into is _EMPTY:
        return dict(other)
    for key, value in other.items():
        into[key] = into[key] + value if key in into else value
    return into


@dataclass(slots=True)
class RollupCell:
    """The figures of one node in one quarter that add up the tree (money in the company currency).

    ``plan`` is the node's own figure; ``children_plan`` the sum of its direct children's plans.
    ``orders`` and ``pos`` (per distributor) make the actual; ``unconverted`` keeps, per currency,
    what had no exchange rate. ``pipeline`` is the funnel per stage of the opportunities closing in
    the quarter; ``weighted_pipeline`` sums the open ones. ``pos_expected`` / ``pos_reported`` count,
    per distributor, the accounts expected to report sell-through and those that did.
    """

    plan: Decimal = ZERO
    children_plan: Decimal = ZERO
    orders: Decimal = ZERO
    pos: dict[str, Decimal] = _EMPTY
    unconverted: dict[str, Decimal] = _EMPTY
    weighted_pipeline: Decimal = ZERO
    pipeline: dict[str, StageFigure] = _EMPTY
    pos_expected: dict[str, int] = _EMPTY
    pos_reported: dict[str, int] = _EMPTY

    @property
    def actual(self) -> Decimal:
        return self.orders + sum(self.pos.values(), ZERO)

    @property
    def incomplete(self) -> bool:
        return any(self.unconverted.values())

    def is_empty(self) -> bool:
        return (
            not self.plan
            and not self.children_plan
            and not self.orders
            and not any(self.pos.values())
            and not any(self.unconverted.values())
            and not self.weighted_pipeline
            and not self.pipeline
            and not self.pos_expected
        )

    def add_actuals(self, other: RollupCell) -> None:
        if other.orders:
            self.orders += other.orders
        if other.pos:
            self.pos = _added(self.pos, other.pos)
        if other.unconverted:
            self.unconverted = _added(self.unconverted, other.unconverted)
        if other.pos_expected:
            self.pos_expected = _added(self.pos_expected, other.pos_expected)
            self.pos_reported = _added(self.pos_reported, other.pos_reported)

    def add_pipeline(self, other: RollupCell) -> None:
        self.weighted_pipeline += other.weighted_pipeline
        self.pipeline = _added(self.pipeline, other.pipeline)

    def add_to(self, attribute: str, key: str, value: Any) -> None:
        """Add ``value`` to entry ``key`` of the map ``attribute`` (pos, unconverted, pipeline, pos_*)."""
        current = getattr(self, attribute)
        if current is _EMPTY:
            current = {}
            setattr(self, attribute, current)
        current[key] = current[key] + value if key in current else value

    def normalised(self) -> RollupCell:
        """The cell without zero entries (in place), so equal figures compare equal."""
        if self.pos and not all(self.pos.values()):
            self.pos = {k: v for k, v in self.pos.items() if v}
        if self.unconverted and not all(self.unconverted.values()):
            self.unconverted = {k: v for k, v in self.unconverted.items() if v}
        if self.pipeline and not all(v.count for v in self.pipeline.values()):
            self.pipeline = {k: v for k, v in self.pipeline.items() if v.count}
        if self.pos_expected and not all(self.pos_expected.values()):
            self.pos_expected = {k: v for k, v in self.pos_expected.items() if v}
        if self.pos_reported and not all(self.pos_reported.values()):
            self.pos_reported = {k: v for k, v in self.pos_reported.items() if v}
        return self

    # ---- storage form: one JSON document, money as exact decimal text ----
    def to_json(self) -> str:
        return json.dumps(
            {
                "plan": str(self.plan),
                "children_plan": str(self.children_plan),
                "orders": str(self.orders),
                "pos": {k: str(v) for k, v in self.pos.items()},
                "unconverted": {k: str(v) for k, v in self.unconverted.items()},
                "weighted_pipeline": str(self.weighted_pipeline),
                "pipeline": {k: [v.count, str(v.amount), str(v.weighted)] for k, v in self.pipeline.items()},
                "pos_expected": self.pos_expected,
                "pos_reported": self.pos_reported,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> RollupCell:
        raw = json.loads(text)
        return cls(
            plan=Decimal(raw["plan"]),
            children_plan=Decimal(raw["children_plan"]),
            orders=Decimal(raw["orders"]),
            pos={k: Decimal(v) for k, v in raw["pos"].items()},
            unconverted={k: Decimal(v) for k, v in raw["unconverted"].items()},
            weighted_pipeline=Decimal(raw["weighted_pipeline"]),
            pipeline={
                k: StageFigure(int(c), Decimal(a), Decimal(w)) for k, (c, a, w) in raw["pipeline"].items()
            },
            pos_expected={k: int(v) for k, v in raw["pos_expected"].items()},
            pos_reported={k: int(v) for k, v in raw["pos_reported"].items()},
        )


# ---- keys (the only place these patterns are spelled) ----
class RollupStore(Protocol):
    """What the rollup reads and writes (plan_rollup); reports read the ``get_*`` / ``cells*`` part."""

    # tree mirror
    def get_node(self, ref: NodeRef) -> PlanNode | None: ...
    def nodes_with_id(self, node_id: str) -> list[PlanNode]: ...
    def child_nodes(self, ref: NodeRef) -> list[PlanNode]: ...
    def root_nodes(self) -> list[PlanNode]: ...
    def all_nodes(self) -> Iterator[PlanNode]: ...
    def put_node(self, node: PlanNode, *, force: bool = False) -> tuple[bool, PlanNode | None]:
        """Store the node unless as new a version is stored (``force``: the nightly repair stores it
        whatever is there): (applied, the node it replaced)."""
        ...

    def delete_node(self, ref: NodeRef) -> PlanNode | None: ...

    # sources
    def put_order(self, order: OrderFigure, *, force: bool = False) -> tuple[bool, OrderFigure | None]:
        """Mirror an order under its nodes unless as new a version is stored: (applied, the one replaced)."""
        ...

    def orders_of(self, ref: NodeRef, period: Period) -> list[OrderFigure]: ...
    def plan_figure(self, ref: NodeRef, period: Period) -> Decimal | None: ...
    def pos_of(self, account_id: str, period: Period) -> list[PosFigure]: ...
    def pos_history(self, account_id: str) -> dict[Period, set[str]]:
        """Per quarter, the distributors that reported sell-through for the account."""
        ...

    def source_periods(self, ref: NodeRef) -> set[Period]: ...
    def node_figures(self, ref: NodeRef) -> NodeFigures:
        """The node's plans, orders (account, opportunity) and POS (account) of every quarter."""
        ...

    def pos_commit_pages(self, token: str) -> dict[NodeRef, frozenset[Period]]:
        """What a chunked POS commit's earlier chunks moved (its marker lists the last chunk's)."""
        ...

    # rollups
    def get_cell(self, ref: NodeRef, period: Period) -> RollupCell | None: ...
    def get_cells(self, refs: Iterable[NodeRef], period: Period) -> dict[NodeRef, RollupCell]: ...
    def cells_of(self, ref: NodeRef) -> dict[Period, RollupCell]: ...
    def put_cell(self, ref: NodeRef, period: Period, cell: RollupCell) -> None: ...
    def delete_cell(self, ref: NodeRef, period: Period) -> None: ...
    def all_cells(self) -> Iterator[tuple[NodeRef, Period, RollupCell]]: ...


@dataclass
class RollupSnapshot:
    """Every source figure at once (nightly recompute, benchmarks, property tests)."""

    nodes: dict[NodeRef, PlanNode] = field(default_factory=dict)
    plans: dict[tuple[NodeRef, Period], Decimal] = field(default_factory=dict)
    orders: dict[str, OrderFigure] = field(default_factory=dict)
    pos: dict[tuple[str, Period, str, str], Decimal] = field(default_factory=dict)

    def pos_figures(self) -> Iterator[PosFigure]:
        for (account, (year, quarter), currency, distributor), amount in self.pos.items():
            yield PosFigure(account, year, quarter, currency, distributor, amount)


class InMemoryRollupStore:
    """``RollupStore`` over dictionaries, with the same semantics (unit tests, benchmarks)."""

    def __init__(self, snapshot: RollupSnapshot | None = None) -> None:
        self.sources = snapshot or RollupSnapshot()
        self.cells: dict[tuple[NodeRef, Period], RollupCell] = {}
        self.writes = 0
        self.pos_pages: dict[str, dict[NodeRef, frozenset[Period]]] = {}  # a chunked POS commit's pages
        self._children: dict[NodeRef | None, set[NodeRef]] = {}
        for node in self.sources.nodes.values():
            self._children.setdefault(node.parent, set()).add(node.ref)

    # ---- source writes (what crm_events and pos_ingest do in the real tables) ----
    def put_plan(self, ref: NodeRef, period: Period, amount: Decimal) -> None:
        self.sources.plans[(ref, period)] = amount

    def set_pos(self, figure: PosFigure) -> None:
        key = (figure.account_id, (figure.year, figure.quarter), figure.currency, figure.distributor)
        if figure.amount:
            self.sources.pos[key] = figure.amount
        else:
            self.sources.pos.pop(key, None)

    # ---- tree ----
    def get_node(self, ref: NodeRef) -> PlanNode | None:
        return self.sources.nodes.get(ref)

    def nodes_with_id(self, node_id: str) -> list[PlanNode]:
        return [n for t in NODE_TYPES if (n := self.sources.nodes.get(NodeRef(t, node_id)))]

    def child_nodes(self, ref: NodeRef) -> list[PlanNode]:
        return [self.sources.nodes[r] for r in sorted(self._children.get(ref, ()))]

    def root_nodes(self) -> list[PlanNode]:
        return [self.sources.nodes[r] for r in sorted(self._children.get(None, ()))]

    def all_nodes(self) -> Iterator[PlanNode]:
        yield from list(self.sources.nodes.values())

    def put_node(self, node: PlanNode, *, force: bool = False) -> tuple[bool, PlanNode | None]:
        current = self.sources.nodes.get(node.ref)
        if current is not None and current.version >= node.version and not force:
            return False, current
        if current is not None:
            self._children.get(current.parent, set()).discard(node.ref)
        self.sources.nodes[node.ref] = node
        self._children.setdefault(node.parent, set()).add(node.ref)
        return True, current

    def delete_node(self, ref: NodeRef) -> PlanNode | None:
        current = self.sources.nodes.pop(ref, None)
        if current is not None:
            self._children.get(current.parent, set()).discard(ref)
        return current

    # ---- sources ----
    def put_order(self, order: OrderFigure, *, force: bool = False) -> tuple[bool, OrderFigure | None]:
        current = self.sources.orders.get(order.order_id)
        if current is not None and current.version >= order.version and not force:
            return False, current
        self.sources.orders[order.order_id] = order
        return True, current

    def orders_of(self, ref: NodeRef, period: Period) -> list[OrderFigure]:
        return sorted(
            (o for o in self.sources.orders.values() if o.period == period and ref in o.refs()),
            key=lambda o: o.order_id,
        )

    def plan_figure(self, ref: NodeRef, period: Period) -> Decimal | None:
        return self.sources.plans.get((ref, period))

    def pos_of(self, account_id: str, period: Period) -> list[PosFigure]:
        return [
            f
            for f in self.sources.pos_figures()
            if f.account_id == account_id and (f.year, f.quarter) == period
        ]

    def pos_history(self, account_id: str) -> dict[Period, set[str]]:
        history: dict[Period, set[str]] = {}
        for (account, period, _currency, distributor), amount in self.sources.pos.items():
            if account == account_id and amount:
                history.setdefault(period, set()).add(distributor)
        return history

    def source_periods(self, ref: NodeRef) -> set[Period]:
        periods = {p for (r, p) in self.sources.plans if r == ref}
        periods |= {o.period for o in self.sources.orders.values() if ref in o.refs()}
        if ref.type == ACCOUNT:
            periods |= {p for (a, p, _c, _d) in self.sources.pos if a == ref.id}
        return periods

    def node_figures(self, ref: NodeRef) -> NodeFigures:
        figures = NodeFigures(plans={p: a for (r, p), a in self.sources.plans.items() if r == ref})
        for order in sorted(self.sources.orders.values(), key=lambda o: o.order_id):
            if ref in order.refs():
                figures.orders.setdefault(order.period, []).append(order)
        if ref.type == ACCOUNT:
            for figure in self.sources.pos_figures():
                if figure.account_id == ref.id:
                    figures.pos.setdefault((figure.year, figure.quarter), []).append(figure)
        return figures

    def pos_commit_pages(self, token: str) -> dict[NodeRef, frozenset[Period]]:
        return dict(self.pos_pages.get(token, {}))

    # ---- rollups ----
    def get_cell(self, ref: NodeRef, period: Period) -> RollupCell | None:
        return self.cells.get((ref, period))

    def get_cells(self, refs: Iterable[NodeRef], period: Period) -> dict[NodeRef, RollupCell]:
        return {r: c for r in refs if (c := self.cells.get((r, period))) is not None}

    def cells_of(self, ref: NodeRef) -> dict[Period, RollupCell]:
        return {p: c for (r, p), c in self.cells.items() if r == ref}

    def put_cell(self, ref: NodeRef, period: Period, cell: RollupCell) -> None:
        self.writes += 1
        self.cells[(ref, period)] = cell

    def delete_cell(self, ref: NodeRef, period: Period) -> None:
        self.writes += 1
        self.cells.pop((ref, period), None)

    def all_cells(self) -> Iterator[tuple[NodeRef, Period, RollupCell]]:
        for (ref, period), cell in list(self.cells.items()):
            yield ref, period, cell


# ---- storage form of the tree mirror and orders (plain dicts as the stream images carry them) ----
def _cents(amount: Decimal) -> Decimal:
    """A DynamoDB number comes back without its trailing zeros (``50.00`` is stored as ``50``): money is
    shown to the cent again, never rounded (an amount with more places keeps them)."""
    exponent = amount.as_tuple().exponent
    return amount.quantize(CENT) if isinstance(exponent, int) and exponent > -2 else amount


def _text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:f}"


def node_item(node: PlanNode) -> dict[str, Any]:
    """The attributes of a mirrored node item (besides its keys)."""
    return {
        "entity": "NODE",
        "node_type": node.ref.type,
        "node_id": node.ref.id,
        "name": node.name,
        "owner": node.owner,
        "parent_type": node.parent.type if node.parent else None,
        "parent_id": node.parent.id if node.parent else None,
        "stage": node.stage,
        "probability": _text(node.probability),
        "amount": _text(node.amount),
        "close_date": node.close_date.isoformat() if node.close_date else None,
        "version": node.version,
        "gsi1pk": children_index(node.parent),
        "gsi1sk": str(node.ref),
    }


def decode_node(image: dict[str, Any]) -> PlanNode:
    """A node from its item or a stream image of it."""

    def dec(name: str) -> Decimal | None:
        raw = image.get(name)
        return None if raw in (None, "") else Decimal(str(raw))

    parent = (
        NodeRef(image["parent_type"], image["parent_id"])
        if image.get("parent_type") and image.get("parent_id")
        else None
    )
    close = image.get("close_date")
    return PlanNode(
        ref=NodeRef(image["node_type"], image["node_id"]),
        name=image.get("name") or "",
        owner=image.get("owner"),
        parent=parent,
        stage=image.get("stage"),
        probability=dec("probability"),
        amount=dec("amount"),
        close_date=date.fromisoformat(close) if close else None,
        version=image.get("version") or "",
    )


def order_item(order: OrderFigure) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "account_id": order.account_id,
        "opportunity_id": order.opportunity_id,
        "amount": _text(order.amount),
        "currency": order.currency,
        "booked_on": order.booked_on.isoformat(),
        "version": order.version,
    }


def decode_order(image: dict[str, Any]) -> OrderFigure:
    return OrderFigure(
        order_id=image["order_id"],
        account_id=image["account_id"],
        amount=Decimal(str(image["amount"])),
        currency=image["currency"],
        booked_on=date.fromisoformat(image["booked_on"]),
        opportunity_id=image.get("opportunity_id") or None,
        version=image.get("version") or "",
    )


@dataclass(frozen=True)
class PlanTableChange:
    """What one plan-table stream record means to the rollup."""

    kind: str  # "node" | "figure"
    ref: NodeRef
    periods: frozenset[Period] = frozenset()
    old_node: PlanNode | None = None
    new_node: PlanNode | None = None


def change_of(
    keys: dict[str, Any], new: dict[str, Any] | None, old: dict[str, Any] | None
) -> PlanTableChange | None:
    """Read a plan-table stream record (keys and images as plain values); None when not the rollup's."""
    image = new or old or {}
    entity = image.get("entity")
    pk, sk = str(keys.get("pk") or image.get("pk")), str(keys.get("sk") or image.get("sk"))
    if entity == "NODE":
        old_node = decode_node(old) if old else None
        new_node = decode_node(new) if new else None
        return PlanTableChange("node", parse_ref(pk), old_node=old_node, new_node=new_node)
    if entity == "NODE_ORDER":
        return PlanTableChange("figure", parse_ref(pk), frozenset({parse_period(sk.removeprefix("ORDER#"))}))
    if entity == "PLAN":
        return PlanTableChange("figure", parse_ref(pk), frozenset({parse_period(sk)}))
    if entity == "ACTUAL":
        if only_stages(new, old):
            return None
        return PlanTableChange("figure", NodeRef(ACCOUNT, pk.split("#", 2)[2]), frozenset({parse_period(sk)}))
    return None


def only_stages(new: dict[str, Any] | None, old: dict[str, Any] | None) -> bool:
    """Whether an account total's stream record is a chunked POS commit *staging* (``total_write`` with
    ``staged``): it sets one distributor's slot and moves ``amount`` / ``quantity`` by nothing or by
    exactly that slot's earlier content (folded in because its run is done), so what counts is what
    counted before. The run's commit marker tells the rollup about it, once, after ``done``. Told from
    the images alone (no read); anything else (a slot removed, another amount) is a change."""
    if not new:
        return False
    before = old or {}
    slots = {k for k in (*new, *before) if is_slot_attribute(k)}
    moved = [k for k in slots if new.get(k) != before.get(k)]
    if len(moved) != 1 or not new.get(moved[0]):
        return False
    delta = (
        _number(new, "amount") - _number(before, "amount"),
        _number(new, "quantity") - _number(before, "quantity"),
    )
    if delta == (ZERO, ZERO):
        return True
    earlier = before.get(moved[0])
    return bool(earlier) and delta == parse_slot(str(earlier))[1:]


def _number(image: dict[str, Any], name: str) -> Decimal:
    raw = image.get(name)
    return ZERO if raw in (None, "") else Decimal(str(raw))


@dataclass(frozen=True)
class PosCommitNews:
    """A POS commit marker's stream record, once the run is done (its staged contribution counts from
    there): the account-quarters its last chunk moved, and how many page items list the others."""

    token: str
    moved: dict[NodeRef, frozenset[Period]]
    pages: int


def pos_commit_of(keys: dict[str, Any], new: dict[str, Any] | None) -> PosCommitNews | None:
    """Read a POS commit marker's stream record; None unless it says ``done``."""
    if not new or new.get("entity") != "POS_COMMIT" or new.get("status") != "done":
        return None
    token = str(keys.get("pk") or new.get("pk")).split("#", 1)[1]
    return PosCommitNews(token, _moved(str(new.get("touched") or "")), int(new.get("pages") or 0))


class DynamoRollupStore:
    """``RollupStore`` on the plan table (pynamodb): the tree mirror, the order mirror and the rollups,
    and the plan figures and POS breakdowns the rollup reads."""

    def __init__(self) -> None:
        self.writes = 0
        self.runs = CommittedRuns()

    # ---- tree ----
    def get_node(self, ref: NodeRef) -> PlanNode | None:
        key = node_key(ref)
        with translated():
            try:
                return decode_node(NodeItem.get(key["pk"], key["sk"]).attribute_values)
            except DoesNotExist:
                return None

    def nodes_with_id(self, node_id: str) -> list[PlanNode]:
        return [n for t in NODE_TYPES if (n := self.get_node(NodeRef(t, node_id))) is not None]

    def _children(self, index: str) -> list[PlanNode]:
        with translated():
            items = list(PlanTableItem.by_gsi1.query(index))
        return sorted(
            (decode_node(i.attribute_values) for i in items if isinstance(i, NodeItem)), key=lambda n: n.ref
        )

    def child_nodes(self, ref: NodeRef) -> list[PlanNode]:
        return self._children(children_index(ref))

    def root_nodes(self) -> list[PlanNode]:
        return self._children(children_index(None))

    def all_nodes(self) -> Iterator[PlanNode]:
        with translated():
            for item in NodeItem.scan():
                yield decode_node(item.attribute_values)

    def put_node(self, node: PlanNode, *, force: bool = False) -> tuple[bool, PlanNode | None]:
        current = self.get_node(node.ref)
        if current is not None and current.version >= node.version and not force:
            return False, current
        key = node_key(node.ref)
        item = NodeItem(key["pk"], key["sk"], **{k: v for k, v in node_item(node).items() if k != "entity"})
        item.updated_at = now_text()
        condition = None if force else NodeItem.pk.does_not_exist() | (NodeItem.version < node.version)
        try:
            with translated():
                item.save(condition=condition)
        except Conflict:
            return False, self.get_node(node.ref)
        self.writes += 1
        return True, current

    def delete_node(self, ref: NodeRef) -> PlanNode | None:
        current = self.get_node(ref)
        if current is not None:
            key = node_key(ref)
            with translated():
                NodeItem(key["pk"], key["sk"]).delete()
            self.writes += 1
        return current

    # ---- sources ----
    def put_order(self, order: OrderFigure, *, force: bool = False) -> tuple[bool, OrderFigure | None]:
        pointer_pk, pointer_sk = order_ref_key(order.order_id)
        with translated():
            try:
                previous: OrderFigure | None = decode_order(
                    json.loads(OrderRefItem.get(pointer_pk, pointer_sk, consistent_read=True).order)
                )
            except DoesNotExist:
                previous = None
            if previous is not None and previous.version >= order.version and not force:
                return False, previous
            # the old entries go first, then the new ones, then the pointer: a retry redoes what is missing
            if previous is not None:
                for ref in previous.refs():
                    if ref not in order.refs() or previous.period != order.period:
                        key = order_mirror_key(ref, previous.period, previous.order_id)
                        NodeOrderItem(key["pk"], key["sk"]).delete()
            for ref in order.refs():
                key = order_mirror_key(ref, order.period, order.order_id)
                NodeOrderItem(key["pk"], key["sk"], updated_at=now_text(), **order_item(order)).save()
            OrderRefItem(
                pointer_pk, pointer_sk, order=json.dumps(order_item(order)), updated_at=now_text()
            ).save()
        self.writes += 1
        return True, previous

    def orders_of(self, ref: NodeRef, period: Period) -> list[OrderFigure]:
        key = node_key(ref)
        with translated():
            items = NodeOrderItem.query(key["pk"], NodeOrderItem.sk.startswith(order_period_prefix(period)))
            return [decode_order(i.attribute_values) for i in items]

    def all_orders(self) -> Iterator[OrderFigure]:
        with translated():
            for item in OrderRefItem.scan():
                yield decode_order(json.loads(item.order))

    def plan_figure(self, ref: NodeRef, period: Period) -> Decimal | None:
        pk, sk = plan_figure_key(ref.type, ref.id, period[0], period[1])
        with translated():
            try:
                return PlanFigureItem.get(pk, sk).amount
            except DoesNotExist:
                return None

    def _pos_items(self, account_id: str, sk_prefix: str = "") -> Iterator[PosFigure]:
        condition = ActualBreakdownItem.sk.startswith(sk_prefix) if sk_prefix else None
        with translated():
            items = list(ActualBreakdownItem.query(actual_pk(account_id), condition))
        for item in resolve_cells(items, self.runs):
            if item.breakdown.startswith("DIST#"):
                yield PosFigure(account_id, int(item.year), int(item.quarter), item.currency,
                                item.breakdown[5:], _cents(item.amount or ZERO))  # fmt: skip

    def pos_of(self, account_id: str, period: Period) -> list[PosFigure]:
        return list(self._pos_items(account_id, f"{period[0]:04d}#Q{period[1]}#"))

    def pos_history(self, account_id: str) -> dict[Period, set[str]]:
        history: dict[Period, set[str]] = {}
        for figure in self._pos_items(account_id):
            if figure.amount:
                history.setdefault((figure.year, figure.quarter), set()).add(figure.distributor)
        return history

    def source_periods(self, ref: NodeRef) -> set[Period]:
        pk = plan_figure_key(ref.type, ref.id, 0, 1)[0]
        with translated():
            periods = {parse_period(i.sk) for i in PlanFigureItem.query(pk)}
            periods |= {
                parse_period(i.sk.removeprefix("ORDER#"))
                for i in NodeOrderItem.query(node_key(ref)["pk"], NodeOrderItem.sk.startswith("ORDER#"))
            }
        if ref.type == ACCOUNT:
            periods |= {(f.year, f.quarter) for f in self._pos_items(ref.id)}
        return periods

    def node_figures(self, ref: NodeRef) -> NodeFigures:
        pk = plan_figure_key(ref.type, ref.id, 0, 1)[0]
        with translated():
            figures = NodeFigures(
                plans={(int(i.year), int(i.quarter)): i.amount for i in PlanFigureItem.query(pk)}
            )
            for item in NodeOrderItem.query(node_key(ref)["pk"], NodeOrderItem.sk.startswith("ORDER#")):
                order = decode_order(item.attribute_values)
                figures.orders.setdefault(order.period, []).append(order)
        if ref.type == ACCOUNT:
            for pos in self._pos_items(ref.id):
                figures.pos.setdefault((pos.year, pos.quarter), []).append(pos)
        return figures

    def pos_commit_pages(self, token: str) -> dict[NodeRef, frozenset[Period]]:
        return pos_commit_pages(token)

    def snapshot(self) -> RollupSnapshot:
        """Every node, plan figure, mirrored order and POS figure of the table in one scan (nightly)."""
        snapshot = RollupSnapshot()
        breakdowns: list[ActualBreakdownItem] = []
        with translated():
            for item in PlanTableItem.scan(
                PlanTableItem.entity.is_in(NodeItem, PlanFigureItem, ActualBreakdownItem, OrderRefItem)  # type: ignore[arg-type]
            ):
                if isinstance(item, NodeItem):
                    node = decode_node(item.attribute_values)
                    snapshot.nodes[node.ref] = node
                elif isinstance(item, PlanFigureItem):
                    ref = NodeRef(item.node_type.upper(), item.node_id)
                    snapshot.plans[(ref, (int(item.year), int(item.quarter)))] = item.amount
                elif isinstance(item, OrderRefItem):
                    order = decode_order(json.loads(item.order))
                    snapshot.orders[order.order_id] = order
                elif isinstance(item, ActualBreakdownItem) and item.breakdown.startswith("DIST#"):
                    breakdowns.append(item)
        for item in resolve_cells(breakdowns, self.runs):
            key = (item.account_id, (int(item.year), int(item.quarter)), item.currency, item.breakdown[5:])
            snapshot.pos[key] = item.amount or ZERO
        return snapshot

    # ---- rollups ----
    def get_cell(self, ref: NodeRef, period: Period) -> RollupCell | None:
        key = rollup_key(ref, period)
        with translated():
            try:
                return RollupCell.from_json(RollupItem.get(key["pk"], key["sk"]).figures)
            except DoesNotExist:
                return None

    def get_cells(self, refs: Iterable[NodeRef], period: Period) -> dict[NodeRef, RollupCell]:
        keys = [(k["pk"], k["sk"]) for k in (rollup_key(r, period) for r in refs)]
        found: dict[NodeRef, RollupCell] = {}
        if not keys:
            return found
        with translated():
            for item in RollupItem.batch_get(keys):
                found[parse_ref(item.pk)] = RollupCell.from_json(item.figures)
        return found

    def cells_of(self, ref: NodeRef, years: tuple[int, int] | None = None) -> dict[Period, RollupCell]:
        """A node's cells: all of them, or those of years ``years[0]`` to ``years[1]``."""
        pk = rollup_key(ref, (0, 1))["pk"]
        condition = RollupItem.sk.between(f"{years[0]:04d}#", f"{years[1]:04d}#Z") if years else None
        with translated():
            return {
                parse_period(i.sk): RollupCell.from_json(i.figures) for i in RollupItem.query(pk, condition)
            }

    def put_cell(self, ref: NodeRef, period: Period, cell: RollupCell) -> None:
        key = rollup_key(ref, period)
        item = RollupItem(
            key["pk"], key["sk"], node_type=ref.type, node_id=ref.id, year=period[0], quarter=period[1],
            figures=cell.to_json(), gsi1pk=rollup_year_index(period[0]), gsi1sk=f"{ref}#Q{period[1]}",
            updated_at=now_text(),
        )  # fmt: skip
        with translated():
            item.save()
        self.writes += 1

    def delete_cell(self, ref: NodeRef, period: Period) -> None:
        key = rollup_key(ref, period)
        with translated():
            RollupItem(key["pk"], key["sk"]).delete()
        self.writes += 1

    def all_cells(self) -> Iterator[tuple[NodeRef, Period, RollupCell]]:
        with translated():
            for item in RollupItem.scan():
                yield parse_ref(item.pk), parse_period(item.sk), RollupCell.from_json(item.figures)

    def cells_of_year(self, year: int) -> Iterator[tuple[NodeRef, Period, RollupCell]]:
        """Every rollup of a year (the board report)."""
        with translated():
            items = list(PlanTableItem.by_gsi1.query(rollup_year_index(year)))
        for item in items:
            if isinstance(item, RollupItem):
                yield parse_ref(item.pk), parse_period(item.sk), RollupCell.from_json(item.figures)

    def last_computed(self, ref: NodeRef, years: tuple[int, int]) -> str | None:
        """When the newest of a node's rollups of those years was written (an answer's ``as_of``)."""
        pk = rollup_key(ref, (0, 1))["pk"]
        condition = RollupItem.sk.between(f"{years[0]:04d}#", f"{years[1]:04d}#Z")
        with translated():
            stamps = [i.updated_at for i in RollupItem.query(pk, condition) if i.updated_at]
        return max(stamps) if stamps else None
