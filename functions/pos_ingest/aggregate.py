"""Sell-through to actuals: amounts per (account, period, currency, part), and restatement by line key."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from pos_ingest.validate import ZERO, AcceptedBatch, PosLine
from shared.store.pos import is_unmatched

Key = tuple[str, str, str, str]  # account, period ("2026-Q1"), currency, part


def restatement_key(distributor_id: str, invoice_number: str, line: str) -> str:
    """The identity of a sell-through line across files: a later file with the same key replaces it."""
    return f"{distributor_id}#{invoice_number}#{line}"


@dataclass
class ActualsAggregator:
    """Running totals of accepted lines per (account, period, currency) and, with ``by_part``, per part
    under them. ``subtract`` takes a replaced line's old contribution back."""

    by_part: bool = True
    totals: dict[tuple[str, str, str], Decimal] = field(default_factory=dict)
    parts: dict[Key, list[Decimal]] = field(default_factory=dict)

    def add(self, batch: AcceptedBatch) -> None:
        totals = self.totals
        get = totals.get
        for accounts, periods, currencies, parts, amounts, quantities in batch.amount_columns(self.by_part):
            for account, period, currency, amount in zip(accounts, periods, currencies, amounts):  # noqa: B905
                key = (account, period, currency)  # one zip: a nested one would make a tuple each row
                totals[key] = get(key, ZERO) + amount
            if self.by_part:
                self._add_parts(zip(accounts, periods, currencies, parts, strict=True), amounts, quantities)

    def _add_parts(self, keys: Iterable[Key], amounts: list[Decimal], quantities: list[Decimal]) -> None:
        slots = self.parts
        get = slots.get
        for key, amount, quantity in zip(keys, amounts, quantities):  # noqa: B905 - same length
            slot = get(key)
            if slot is None:
                slots[key] = [amount, quantity]
            else:
                slot[0] += amount
                slot[1] += quantity

    def add_lines(self, lines: Iterable[PosLine], sign: int = 1) -> None:
        for line in lines:
            key = (line.account, line.period, line.currency)
            self.totals[key] = self.totals.get(key, ZERO) + sign * line.extended_amount
            if self.by_part:
                slot = self.parts.setdefault((*key, line.part_number), [ZERO, ZERO])
                slot[0] += sign * line.extended_amount
                slot[1] += sign * line.quantity

    def subtract(self, lines: Iterable[PosLine]) -> None:
        self.add_lines(lines, sign=-1)

    def merge(self, other: ActualsAggregator) -> None:
        for key, amount in other.totals.items():
            self.totals[key] = self.totals.get(key, ZERO) + amount
        for part_key, (amount, quantity) in other.parts.items():
            slot = self.parts.setdefault(part_key, [ZERO, ZERO])
            slot[0] += amount
            slot[1] += quantity

    def snapshot(self) -> tuple[dict, dict]:
        """Totals and part breakdown without zero entries (a restated line can cancel out to zero)."""
        totals = {k: v for k, v in self.totals.items() if v}
        parts = {k: (v[0], v[1]) for k, v in self.parts.items() if v[0] or v[1]}
        return totals, parts

    def by_account_quarter(self) -> dict[tuple[str, int, int, str], dict[str, object]]:
        """{(account, year, quarter, currency): {"amount", "by_part": {part: (amount, quantity)}}};
        unmatched customers appear under their ``unmatched:<name>`` key."""
        out: dict[tuple[str, int, int, str], dict[str, object]] = {}
        for (account, period, currency), amount in sorted(self.totals.items()):
            out[(account, int(period[:4]), int(period[-1]), currency)] = {"amount": amount, "by_part": {}}
        for (account, period, currency, part), (amount, quantity) in sorted(self.parts.items()):
            entry = out.get((account, int(period[:4]), int(period[-1]), currency))
            if entry is not None:
                entry["by_part"][part] = (amount, quantity)  # type: ignore[index]
        return out

    def matched_total(self) -> dict[str, Decimal]:
        """Total amount per currency over matched accounts only."""
        out: dict[str, Decimal] = {}
        for (account, _period, currency), amount in self.totals.items():
            if not is_unmatched(account):
                out[currency] = out.get(currency, ZERO) + amount
        return out


@dataclass
class InMemoryLedger:
    """The lines counted so far, by restatement key. A fake of the storage ledger with the same rule:
    a line already counted from another object is replaced, and totals move by the difference."""

    lines: dict[str, tuple[str, PosLine]] = field(default_factory=dict)

    def apply(
        self, distributor_id: str, source: str, batch: AcceptedBatch, totals: ActualsAggregator
    ) -> tuple[int, int]:
        """Record the batch's lines from ``source`` (the object key and version). Returns (new, replaced).
        The same source applied twice changes nothing (a redelivered object counts once)."""
        new = replaced = 0
        for line in batch.lines():
            key = restatement_key(distributor_id, line.invoice_number, line.line)
            previous = self.lines.get(key)
            if previous is not None:
                if previous[0] == source:
                    continue
                totals.subtract([previous[1]])
                replaced += 1
            else:
                new += 1
            self.lines[key] = (source, line)
            totals.add_lines([line])
        return new, replaced
