"""Top-down planning: a node's plan split among its direct children, to the cent, summing exactly.

``equal`` gives each child the same share; ``last-year-actual`` weights each child by its actual in
the same quarter last year (a year with no actual anywhere falls back to equal, and says so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal
from typing import Any, Literal

from shared.config_schemas.fx import CENT
from shared.store.plan import ZERO, NodeRef, PlanNode

Method = Literal["equal", "last-year-actual"]
METHODS: tuple[Method, ...] = ("last-year-actual", "equal")


def split(total: Decimal, weights: Sequence[Decimal]) -> list[Decimal]:
    """``total`` in shares proportional to ``weights`` (≥ 0, not all 0), to the cent, summing exactly
    (largest remainder; ties to the earlier share)."""
    weight_sum = sum(weights, ZERO)
    if not weights or weight_sum <= 0:
        raise ValueError("weights must be non-negative and not all zero")
    cents = int((total / CENT).to_integral_value())
    raw = [Decimal(cents) * w / weight_sum for w in weights]
    floors = [int(r.to_integral_value(rounding=ROUND_FLOOR)) for r in raw]
    left = cents - sum(floors)
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [Decimal(c) * CENT for c in floors]


@dataclass
class Allocation:
    node: PlanNode
    year: int
    method: Method
    plan: dict[int, Decimal]  # the node's own plan per quarter
    children: list[PlanNode]
    proposals: dict[NodeRef, dict[int, Decimal]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for child in self.children:
            quarters = self.proposals.get(child.ref, {})
            out.append(
                {
                    "id": child.ref.id,
                    "type": child.ref.type.lower(),
                    "name": child.name,
                    **{f"Q{q}": quarters.get(q) for q in (1, 2, 3, 4)},
                    "year": sum(quarters.values(), ZERO),
                }
            )
        return out

    def events_data(self) -> list[dict[str, Any]]:
        """The ``plan.upserted`` data of each proposed figure."""
        return [
            {
                "node_type": ref.type.lower(),
                "node_id": ref.id,
                "year": self.year,
                "quarter": q,
                "amount": str(amount),
            }
            for ref, quarters in self.proposals.items()
            for q, amount in sorted(quarters.items())
        ]


def allocate(
    node: PlanNode,
    year: int,
    method: Method,
    plan: Mapping[int, Decimal],
    children: Sequence[PlanNode],
    last_year_actual: Mapping[NodeRef, Mapping[int, Decimal]],
) -> Allocation:
    """Propose the children's plans of each quarter the node has a plan for."""
    result = Allocation(node, year, method, dict(plan), list(children))
    if not children:
        result.notes.append(f"{node.ref.id} has no children to allocate to")
        return result
    for quarter, total in sorted(plan.items()):
        weights = [Decimal(1)] * len(children)
        if method == "last-year-actual":
            actuals = [max(last_year_actual.get(c.ref, {}).get(quarter, ZERO), ZERO) for c in children]
            if sum(actuals, ZERO) > 0:
                weights = actuals
            else:
                result.notes.append(f"Q{quarter}: no actual in {year - 1}, split equally")
        for child, amount in zip(children, split(total, weights), strict=True):
            result.proposals.setdefault(child.ref, {})[quarter] = amount
    return result
