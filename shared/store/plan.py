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
  / ``...#PART#<part>``, entity ``ACTUAL_BREAKDOWN`` (not on the rollup's stream filter).

Actuals are written by the POS ledger in the same transaction as the lines that make them
(``shared.store.pos`` uses ``actual_write``); ``add_actuals`` is the same change on its own.

``DynamoPlanStore`` serves the table with pynamodb; ``InMemoryPlanStore`` has the same semantics.
Readers get plain dataclasses (``PlanFigure``, ``Actual``, ``ActualBreakdown``), never item models.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal, Protocol

from pynamodb.attributes import DiscriminatorAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DoesNotExist, PutError
from pynamodb.expressions.update import Action
from pynamodb.models import Model

from shared.settings import get_settings
from shared.store.errors import translated
from shared.store.items import DecimalAttribute, Gsi1, now_text, utc_text

_settings = get_settings()
ZERO = Decimal(0)

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


# ---- rollup keys (issue 11, branch plan-rollup): the rollup items' key functions go here ----


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


# ---- rollup item models (issue 11, branch plan-rollup) go here ----


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

    # ---- rollups (issue 11, branch plan-rollup): methods go here ----


# ------------------------------------------------------------------ DynamoDB
class DynamoPlanStore:
    """``PlanStore`` on the plan table (pynamodb)."""

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

    def _actual_items(self, account_id: str, sk_prefix: str) -> list[PlanTableItem]:
        with translated():
            return list(
                PlanTableItem.query(
                    actual_pk(account_id), PlanTableItem.sk.startswith(sk_prefix), consistent_read=True
                )
            )

    def actuals_of_account(self, account_id: str, year: int, quarter: int | None = None) -> list[Actual]:
        prefix = f"{year:04d}#" + (f"Q{quarter}#" if quarter is not None else "")
        return [_actual(i) for i in self._actual_items(account_id, prefix) if isinstance(i, ActualItem)]

    def actuals_of_year(self, year: int) -> list[Actual]:
        with translated():
            items = list(PlanTableItem.by_gsi1.query(actual_year_pk(year)))
        return [_actual(i) for i in items if isinstance(i, ActualItem)]

    def actual_breakdown(
        self, account_id: str, year: int, quarter: int, currency: str
    ) -> list[ActualBreakdown]:
        prefix = actual_key(account_id, year, quarter, currency)[1] + "#"
        items = self._actual_items(account_id, prefix)
        return [_breakdown(i) for i in items if isinstance(i, ActualBreakdownItem)]

    # ---- rollups (issue 11, branch plan-rollup): methods go here ----


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

    # ---- rollups (issue 11, branch plan-rollup): methods go here ----


def _plain_actual(delta: ActualDelta) -> Actual:
    return Actual(delta.account_id, delta.year, delta.quarter, delta.currency, delta.amount, delta.quantity)


def as_dict(value: Any) -> dict[str, Any]:
    """A reader's dataclass as JSON-ready values (money as exact decimal text)."""
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in value.__dict__.items()}
