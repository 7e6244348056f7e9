"""Row validation: every data record becomes an accepted line, a reject with its reasons, or a skipped
blank or totals row.

Speed matters (a file can hold millions of rows), so no model is built per row. A batch of rows is
checked column by column with C-level ``map`` calls (the fast path); when anything in the batch is
off, the batch is split in halves until the failing rows are alone, and those go through the per-row
path, which explains each problem. Both paths share the same parsing rules, so a row gets the same
verdict wherever batch boundaries fall (a resumed run gives the same result as one pass).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, getcontext
from functools import partial
from itertools import compress, repeat
from operator import contains, itemgetter, methodcaller, mul, ne, sub
from typing import Any, NamedTuple

from pos_ingest.currencies import canonical_currency
from pos_ingest.layout import Layout
from pos_ingest.profile import DistributorProfile
from pos_ingest.reader import Batch
from shared.accounts import AccountMatcher, normalise_name
from shared.store.pos import unmatched_account

CENT = Decimal("0.01")
ZERO = Decimal(0)
_MISS = object()
_INVALID = object()
_TOTAL_WORDS = ("total", "grand total", "sum", "summe", "gesamt", "totaal", "totaux", "subtotal", "sub total")
_DOT_GROUPED = re.compile(r"^[+-]?\d{1,3}(?:[,']\d{3})+(?:\.\d+)?$")
_COMMA_GROUPED = re.compile(r"^[+-]?\d{1,3}(?:[.' ]\d{3})+(?:,\d+)?$")
_SYMBOLS = "$€£¥"
_SUB_CENT = re.compile(r"\.\d{2}\d*[1-9]")
_NOT_PLAIN = re.compile(r"[^0-9.+\- \n]")


class PosLine(NamedTuple):
    """One accepted sell-through line. ``account`` is an account id or ``unmatched:<normalised name>``."""

    row: int
    invoice_number: str
    line: str
    invoice_date: str  # ISO date
    period: str  # "2026-Q1"
    part_number: str
    quantity: Decimal
    unit_price: Decimal | None
    extended_amount: Decimal  # exact to the cent
    currency: str
    end_customer: str
    account: str
    country: str
    state: str
    postal_code: str


class InventoryLine(NamedTuple):
    row: int
    part_number: str
    as_of_date: str
    on_hand: Decimal
    on_order: Decimal | None


@dataclass
class Reject:
    row: int
    cells: list[str]
    reason: str


@dataclass(slots=True)
class _Columns:
    """Lines accepted by the fast path, column-wise. Columns only storage needs are built on demand."""

    numbers: Sequence[int]
    batch: Batch
    inv: list[str]
    line: list[str]
    date_cells: list[str]
    part: list[str]
    qty: list[Decimal]
    unit: list[Any]
    ext: list[Decimal]
    currency: list[str]
    account: list[str]
    extra: tuple[int | None, int | None, int | None, int]  # country, state, postal, customer indexes
    periods: list[str]  # the quarter of each date ("2026-Q1")
    good_dates: dict[str, tuple[str, str]]  # (ISO date, quarter) by date cell: see lines()
    ext_texts: list[str] | None = None  # str of each amount, when the check made them

    def amount_texts(self) -> list[str]:
        """``str`` of each amount (the check has them: mostly the cells themselves)."""
        if self.ext_texts is not None:
            return self.ext_texts
        return list(map(getcontext().to_sci_string, self.ext))  # str() without a context look-up each

    def quantity_texts(self) -> list[str]:
        """``str`` of each quantity."""
        return list(map(getcontext().to_sci_string, self.qty))

    def lines(self) -> Iterator[PosLine]:
        country, state, postal, customer = self.extra
        empty = [""] * len(self.numbers)

        def stripped(index: int | None) -> list[str]:
            return list(map(str.strip, self.batch.column(index))) if index is not None else empty

        iso_dates = map(itemgetter(0), map(self.good_dates.__getitem__, self.date_cells))
        return map(
            PosLine._make,
            zip(
                self.numbers, self.inv, self.line, iso_dates, self.periods,
                self.part, self.qty, self.unit, self.ext, self.currency, stripped(customer), self.account,
                stripped(country), stripped(state), stripped(postal),
                strict=True,
            ),
        )  # fmt: skip


class AcceptedBatch:
    """The accepted lines of one batch: fast-path column sets plus lines accepted one by one."""

    def __init__(self) -> None:
        self.column_sets: list[_Columns] = []
        self.singles: list[PosLine] = []
        self.single_cells: list[list[str]] = []

    def __len__(self) -> int:
        return sum(len(c.numbers) for c in self.column_sets) + len(self.singles)

    def lines(self) -> list[PosLine]:
        """All lines in file order."""
        out = [line for columns in self.column_sets for line in columns.lines()]
        out.extend(self.singles)
        out.sort(key=itemgetter(0))
        return out

    def amount_columns(
        self, by_part: bool = True
    ) -> Iterator[tuple[list[str], list[str], list[str], list[str], list[Decimal], list[Decimal]]]:
        """(accounts, periods, currencies, parts, amounts, quantities) per column set, for summing. The
        columns may be pre-summed groups (the engine's; without ``by_part`` its parts are blank)."""
        for c in self.column_sets:
            yield c.account, c.periods, c.currency, c.part, c.ext, c.qty
        yield from self._single_columns()

    def _single_columns(
        self,
    ) -> Iterator[tuple[list[str], list[str], list[str], list[str], list[Decimal], list[Decimal]]]:
        if self.singles:
            s = self.singles
            yield (
                [x.account for x in s],
                [x.period for x in s],
                [x.currency for x in s],
                [x.part_number for x in s],
                [x.extended_amount for x in s],
                [x.quantity for x in s],
            )

    def lines_with_cells(self) -> list[tuple[PosLine, list[str]]]:
        """Each line with the cells it came from (for a reject decided later, by the ledger)."""
        out = [
            pair
            for columns in self.column_sets
            for pair in zip(columns.lines(), columns.batch.rows, strict=True)
        ]
        out.extend(zip(self.singles, self.single_cells, strict=True))
        out.sort(key=lambda pair: pair[0].row)
        return out

    @classmethod
    def from_lines(cls, lines: list[PosLine]) -> AcceptedBatch:
        batch = cls()
        batch.singles.extend(lines)
        batch.single_cells.extend([] for _ in lines)
        return batch


@dataclass
class BatchResult:
    accepted: AcceptedBatch
    rejects: list[Reject] = field(default_factory=list)
    blank_rows: int = 0
    footer_rows: int = 0


def quarter_of(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


class _Skip(Exception):
    def __init__(self, kind: str) -> None:
        self.kind = kind


@dataclass
class ValidatorState:
    """What a resumed run needs to judge the rest of a file the same way: the keys already seen."""

    # key hashes, as a dict: one of plain ints is never walked by the cyclic collector (a set is, whole,
    # at each collection while it is young: a slice's million keys at every one)
    seen: dict[int, None] = field(default_factory=dict)
    part_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    # False where a ledger judges repeats across batches (the POS function's DynamoDB ledger knows
    # which run and row wrote each line): then only a batch's own lines are remembered, and memory
    # stays flat however long the file.
    across_batches: bool = True


class _GoodCache(dict):
    """Good values by cell text. A text not in it is handed to ``resolve``, which stores it here when it
    is good; a KeyError when it is not. So a whole column is looked up with one C-level map, and only a
    new text costs a Python call (no second pass over the column after a miss)."""

    __slots__ = ("resolve",)

    def __init__(self, resolve: Callable[[str], Any]) -> None:
        super().__init__()
        self.resolve = resolve

    def __missing__(self, text: str) -> Any:
        self.resolve(text)
        value = self.get(text, _MISS)
        if value is _MISS:
            raise KeyError(text)
        return value


class _CellRules:
    """Parsing rules shared by both paths and both kinds of file: dates and numbers, cached per text."""

    def __init__(self, layout: Layout, profile: DistributorProfile, today: date) -> None:
        self.layout = layout
        self.profile = profile
        self.comma = layout.decimal_separator == ","
        self.newest = today + timedelta(days=profile.future_tolerance_days)
        self.oldest = today - timedelta(days=profile.max_age_days)
        # verdict caches per distinct cell text (bounded); the _good_* ones hold only valid values, so the
        # fast path can look a whole column up with one C-level map and fail on a KeyError
        self._dates: dict[str, Any] = {}
        self._good_dates: dict[str, tuple[str, str]] = _GoodCache(self._date)
        self._good_periods: dict[str, str] = _GoodCache(self._date)
        self._good_numbers: dict[str, Decimal] = _GoodCache(self._plain_decimal)

    def _date(self, raw: str) -> Any:
        """(iso, period) for a valid date; a reason string otherwise. Cached per distinct text."""
        result = self._dates.get(raw)
        if result is None:
            result = self._judge_date(raw)
            if len(self._dates) > 100_000:
                self._dates.clear()
            self._dates[raw] = result
        if isinstance(result, tuple):  # (again) into the caches of good values, which are cleared apart
            self._good_dates[raw] = result
            self._good_periods[raw] = result[1]
        return result

    def _judge_date(self, raw: str) -> Any:
        text = raw.strip()
        parsed: date | None = None
        for candidate in (text, text.split(" ")[0].split("T")[0]):
            for fmt in self.layout.date_formats:
                try:
                    parsed = datetime.strptime(candidate, fmt).date()
                    break
                except ValueError:
                    continue
            if parsed:
                break
        if parsed is None:
            result: Any = f"date {raw!r} does not parse (formats {', '.join(self.layout.date_formats)})"
        elif parsed > self.newest:
            result = f"date {parsed.isoformat()} is in the future"
        elif parsed < self.oldest:
            result = f"date {parsed.isoformat()} is implausibly old (before {self.oldest.isoformat()})"
        else:
            result = (parsed.isoformat(), quarter_of(parsed))
        return result

    def _plain(self, text: str) -> str:
        return text.replace(",", ".") if self.comma else text

    def number(self, text: str) -> Decimal | None:
        """A number as the fast path reads it, else with grouping, symbols, (x) and trailing minus."""
        stripped = text.strip()
        if not stripped:
            return None
        if not (self.comma and "." in stripped):
            try:
                value = Decimal(self._plain(stripped))
            except InvalidOperation:
                pass
            else:
                return value if value.is_finite() else None
        cleaned = stripped.replace("\u00a0", "").replace(" ", "").strip(_SYMBOLS)
        negative = False
        if cleaned.startswith("(") and cleaned.endswith(")"):
            negative, cleaned = True, cleaned[1:-1].strip(_SYMBOLS)
        elif cleaned.endswith("-"):
            negative, cleaned = True, cleaned[:-1]
        if self.comma:
            if _COMMA_GROUPED.match(cleaned):
                cleaned = cleaned.replace(".", "").replace("'", "").replace(" ", "")
            elif "." in cleaned:
                return None
            cleaned = cleaned.replace(",", ".")
        elif _DOT_GROUPED.match(cleaned):
            cleaned = cleaned.replace(",", "").replace("'", "")
        if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)", cleaned):
            return None
        value = Decimal(cleaned)
        return -value if negative else value

    def _plain_decimal(self, text: str) -> None:
        """The fast path's number rule: Decimal of the cell (decimal comma turned into a point)."""
        if self.comma and "." in text:
            return
        try:
            value = Decimal(text.replace(",", ".") if self.comma else text)
        except InvalidOperation:
            return
        if value.is_finite():
            self._good_numbers[text] = value


class SellThroughValidator(_CellRules):
    def __init__(
        self,
        layout: Layout,
        profile: DistributorProfile,
        matcher: AccountMatcher,
        today: date,
        state: ValidatorState | None = None,
    ) -> None:
        super().__init__(layout, profile, today)
        self.matcher = matcher
        self.state = state or ValidatorState()
        cols = layout.columns
        self.width = layout.width
        self.i_date = cols["invoice_date"]
        self.i_inv = cols["invoice_number"]
        self.i_line = cols.get("line")
        self.i_part = cols["part_number"]
        self.i_qty = cols["quantity"]
        self.i_unit = cols.get("unit_price")
        self.i_ext = cols.get("extended_amount")
        self.i_cur = cols.get("currency")
        self.i_cust = cols["end_customer"]
        self.i_country = cols.get("end_customer_country")
        self.i_state = cols.get("end_customer_state")
        self.i_postal = cols.get("end_customer_postal_code")
        self.tolerance = profile.amount_tolerance
        self.default_currency = profile.default_currency
        self._currencies: dict[str, Any] = {}
        self._accounts: dict[str, Any] = {}
        self._good_currencies: dict[str, str] = _GoodCache(self._currency)
        self._good_accounts: dict[str, str] = _GoodCache(self._account)
        self._quantize = partial(Decimal.quantize, exp=CENT, rounding=ROUND_HALF_UP)
        self._extra = (self.i_country, self.i_state, self.i_postal, self.i_cust)
        # amounts checked against their rounded product (_checked_amounts): needs a decimal point and a
        # tolerance of at least half a cent
        self._by_product = not self.comma and self.tolerance >= Decimal("0.005")

    # ---- shared parsing rules ----------------------------------------------------------------------
    def _currency(self, raw: str) -> str | None:
        cached = self._currencies.get(raw, _MISS)
        if cached is _MISS:
            cached = canonical_currency(raw, self.default_currency)
            self._currencies[raw] = cached
            if cached is not None:
                self._good_currencies[raw] = cached
        return cached

    def _account(self, raw: str) -> Any:
        """Account id, ``unmatched:<name>``, or None for an empty name. Cached per distinct text."""
        cached = self._accounts.get(raw, _MISS)
        if cached is _MISS:
            normalised = normalise_name(raw)
            cached = (self.matcher.match(normalised) or unmatched_account(normalised)) if normalised else None
            if len(self._accounts) > 100_000:
                self._accounts.clear()
            self._accounts[raw] = cached
            if cached is not None:
                self._good_accounts[raw] = cached
        return cached

    # ---- fast path ---------------------------------------------------------------------------------
    def _fast(self, batch: Batch) -> _Columns | None:
        """All rows of the batch accepted column-wise, or None when any row needs the per-row path."""
        if not batch.columnar:
            for size in set(map(len, batch.rows)):
                if size != self.width:
                    return None
        column = batch.column
        strip = str.strip
        inv = list(map(strip, column(self.i_inv)))
        part = list(map(strip, column(self.i_part)))
        if not all(inv) or not all(part):
            return None
        line: list[str] | None = None
        if self.i_line is not None:
            line = list(map(strip, column(self.i_line)))
            if not all(line):
                return None
        ext_texts: list[str] | None = None
        try:
            date_cells = column(self.i_date)
            periods = self._lookup(date_cells, self._good_periods)  # the ISO dates only when lines() asks
            qty = self._numbers(column(self.i_qty))
            count = len(batch)
            if self.i_unit is not None:
                unit: list[Any] = self._numbers(column(self.i_unit))
            else:
                unit = [None] * count
            if self.i_ext is not None and self.i_unit is not None and self._by_product:
                checked = self._checked_amounts(column(self.i_ext), list(map(mul, qty, unit)))
                if checked is None:
                    return None
                ext, ext_texts = checked
            elif self.i_ext is not None:
                ext = self._amounts(column(self.i_ext))
                off = (
                    self.i_unit is not None
                    and max(map(abs, map(sub, map(mul, qty, unit), ext))) > self.tolerance
                )
                if off:
                    return None
            else:
                ext = list(map(Decimal.quantize, map(mul, qty, unit), repeat(CENT), repeat(ROUND_HALF_UP)))
            if self.i_cur is not None:
                currencies = self._lookup(column(self.i_cur), self._good_currencies, same=True)
            else:
                currencies = [self.default_currency] * count
            accounts = self._lookup(column(self.i_cust), self._good_accounts)
        except (KeyError, InvalidOperation, ValueError, TypeError):
            return None
        # repeats, against earlier rows and within the batch; the batch is all or nothing
        seen = self.state.seen
        if line is not None:
            keys = list(map(hash, zip(inv, line, strict=True)))
        else:  # no line column: an identical row is the repeat
            keys = list(map(hash, batch.row_tuples()))
        fresh = dict.fromkeys(keys)
        if len(fresh) != len(keys) or not seen.keys().isdisjoint(fresh):
            return None
        seen.update(fresh)
        if line is None:
            line = self._ordinals(inv, part)
        return _Columns(
            batch.numbers, batch, inv, line, date_cells, part, qty, unit, ext, currencies, accounts, self._extra,
            periods, self._good_dates, ext_texts,
        )  # fmt: skip

    @staticmethod
    def _lookup(raw: list[str], good: dict[str, Any], same: bool = False) -> list:
        """Column values through a cache of good values (a text not seen yet is resolved on the way,
        see _GoodCache); KeyError when a cell is not good. ``same``: the column often holds one text
        throughout (a currency), then it is looked up once."""
        if len(good) > 100_000:
            good.clear()
        if same and raw and raw.count(raw[0]) == len(raw):
            return [good[raw[0]]] * len(raw)
        return list(map(good.__getitem__, raw))

    def _numbers(self, raw: list[str]) -> list[Decimal]:
        """A number column by the fast rule (``_plain_decimal``'s): each cell parsed at C speed, which
        costs less than looking it up in a cache of parsed texts. InvalidOperation for a cell that is
        not a number, ValueError for one that is not finite (NaN, Infinity: the only ones with an n)."""
        if self.comma:
            return self._lookup(raw, self._good_numbers)
        values = list(map(Decimal, raw))
        text = "".join(raw)
        if "n" in text or "N" in text:
            raise ValueError("not a finite number")
        return values

    def _amounts(self, raw: list[str]) -> list[Decimal]:
        """Amount column by the fast rule, rounded half up to the cent where it has finer digits."""
        if self.comma:
            if any(map(contains, raw, repeat("."))):
                raise ValueError("dot in a decimal-comma number")
            raw = list(map(methodcaller("replace", ",", "."), raw))
        text = "\n".join(raw)
        if _NOT_PLAIN.search(text):  # NaN, Infinity, exponents, symbols: the per-row path decides
            raise ValueError("not a plain number")
        values = list(map(Decimal, raw))
        if _SUB_CENT.search(text):
            values = list(map(Decimal.quantize, values, repeat(CENT), repeat(ROUND_HALF_UP)))
        return values

    def _checked_amounts(
        self, raw: list[str], products: list[Decimal]
    ) -> tuple[list[Decimal], list[str] | None] | None:
        """The amount column by the rule of ``_amounts`` and the quantity x unit price check, with the
        ``str`` of each amount when it is at hand, or None when a row is off. A cell that reads exactly
        as its product rounded half up to the cent ("456.79" for 37 x 12.3456) is that rounded product:
        same value and exponent as the cell's Decimal, within half a cent of the product (the tolerance
        is at least that, see __init__), and rounding it to the cent changes nothing. Only the other
        cells are parsed and checked one by one, with ``_amounts`` and the tolerance test as before."""
        try:
            rounded = list(map(Decimal.quantize, products, repeat(CENT), repeat(ROUND_HALF_UP)))
        except InvalidOperation:  # a product too large to round to the cent: the plain rule
            ext = self._amounts(raw)
            return None if max(map(abs, map(sub, products, ext))) > self.tolerance else (ext, None)
        texts = list(map(getcontext().to_sci_string, rounded))  # str() without a context look-up each
        if texts == raw:
            return rounded, raw
        others = list(compress(range(len(raw)), map(ne, texts, raw)))
        values = self._amounts([raw[i] for i in others])  # ValueError/InvalidOperation: caller's None
        tolerance = self.tolerance
        for i, value in zip(others, values):  # noqa: B905 - same length
            if abs(products[i] - value) > tolerance:
                return None
            rounded[i] = value
            texts[i] = str(value)
        return rounded, texts

    def _ordinals(self, invoices: list[str], parts: list[str]) -> list[str]:
        """Without a line column, a line is '<part>#<n>': the n-th line of that part on that invoice."""
        counts = self.state.part_counts
        out = []
        for key in zip(invoices, parts, strict=True):
            n = counts.get(key, 0) + 1
            counts[key] = n
            out.append(f"{key[1]}#{n}")
        return out

    # ---- per-row path ------------------------------------------------------------------------------
    def _row(self, number: int, row: list[str]) -> PosLine | Reject:
        width = self.width
        cells = row
        if len(row) != width:
            if len(row) > width and any(c.strip() for c in row[width:]):
                if not any(c.strip() for c in row):
                    raise _Skip("blank")
                return Reject(number, row, f"row has {len(row)} cells but the header has {width}")
            cells = (row + [""] * width)[:width]
        if not any(c.strip() for c in cells):
            raise _Skip("blank")
        inv = cells[self.i_inv].strip()
        part = cells[self.i_part].strip()
        if not inv and not part and self._is_totals(cells):
            raise _Skip("footer")
        reasons: list[str] = []
        if not inv:
            reasons.append("missing invoice_number")
        if not part:
            reasons.append("missing part_number")
        line = cells[self.i_line].strip() if self.i_line is not None else None
        if self.i_line is not None and not line:
            reasons.append("missing line")
        raw_date = cells[self.i_date]
        parsed_date = None
        if not raw_date.strip():
            reasons.append("missing invoice_date")
        else:
            parsed_date = self._date(raw_date)
            if isinstance(parsed_date, str):
                reasons.append(f"invoice_date: {parsed_date}")
                parsed_date = None
        qty = self._required_number(cells, self.i_qty, "quantity", reasons)
        unit = self._optional_number(cells, self.i_unit, "unit_price", reasons)
        ext = self._optional_number(cells, self.i_ext, "extended_amount", reasons)
        amount: Decimal | None = None
        if qty is not None:
            if unit is not None and ext is not None:
                difference = qty * unit - ext
                if abs(difference) > self.tolerance:
                    reasons.append(
                        f"quantity {qty} x unit_price {unit} = {qty * unit} but extended_amount is {ext} "
                        f"(off by {difference}, tolerance {self.tolerance})"
                    )
                amount = ext
            elif ext is not None:
                amount = ext
            elif unit is not None:
                amount = qty * unit
            elif not self._cell(cells, self.i_unit) and not self._cell(cells, self.i_ext):
                reasons.append("missing unit_price and extended_amount")
        if amount is not None:
            try:
                amount = self._quantize(amount)
            except InvalidOperation:
                reasons.append("amount out of range")
        currency = self.default_currency
        if self.i_cur is not None:
            found = self._currency(cells[self.i_cur])
            if found is None:
                reasons.append(f"unknown currency {cells[self.i_cur].strip()!r}")
            else:
                currency = found
        customer = cells[self.i_cust]
        account = self._account(customer)
        if account is None:
            reasons.append("missing end_customer")
        if reasons:
            return Reject(number, row, "; ".join(reasons))
        assert parsed_date is not None and qty is not None and amount is not None and account is not None
        key = hash((inv, line)) if line is not None else hash(tuple(row))
        seen = self.state.seen
        if key in seen:
            what = f"invoice {inv} line {line}" if line is not None else "an identical row"
            return Reject(number, row, f"line repeated within the file ({what} came earlier)")
        seen[key] = None
        if line is None:
            line = self._ordinals([inv], [part])[0]
        return PosLine(
            number,
            inv,
            line,
            parsed_date[0],
            parsed_date[1],
            part,
            qty,
            unit,
            amount,
            currency,
            customer.strip(),
            account,
            self._cell(cells, self.i_country),
            self._cell(cells, self.i_state),
            self._cell(cells, self.i_postal),
        )

    @staticmethod
    def _cell(cells: list[str], index: int | None) -> str:
        return cells[index].strip() if index is not None else ""

    @staticmethod
    def _is_totals(cells: list[str]) -> bool:
        for cell in cells:
            text = cell.strip().lower()
            if text:
                return text.startswith(_TOTAL_WORDS)
        return False

    def _required_number(self, cells: list[str], index: int, name: str, reasons: list[str]) -> Decimal | None:
        raw = cells[index]
        if not raw.strip():
            reasons.append(f"missing {name}")
            return None
        value = self.number(raw)
        if value is None:
            reasons.append(f"{name} {raw.strip()!r} is not a number")
        return value

    def _optional_number(
        self, cells: list[str], index: int | None, name: str, reasons: list[str]
    ) -> Decimal | None:
        if index is None or not cells[index].strip():
            return None
        value = self.number(cells[index])
        if value is None:
            reasons.append(f"{name} {cells[index].strip()!r} is not a number")
        return value

    # ---- entry point -------------------------------------------------------------------------------
    def validate(self, batch: Batch) -> BatchResult:
        result = BatchResult(AcceptedBatch())
        if not self.state.across_batches:
            self.state.seen.clear()
        self._split(batch, result)
        return result

    def _split(self, batch: Batch, result: BatchResult) -> None:
        if not len(batch):
            return
        if len(batch) > 8:
            fast = self._fast(batch)
            if fast is not None:
                result.accepted.column_sets.append(fast)
                return
            left, right = batch.split(len(batch) // 2)
            self._split(left, result)
            self._split(right, result)
            return
        self.one_by_one(batch.numbers, batch.rows, result)

    def one_by_one(self, numbers: Sequence[int], rows: list[list[str]], result: BatchResult) -> None:
        """Rows through the per-row path, which explains each problem, into ``result``."""
        accepted = result.accepted
        for number, row in zip(numbers, rows, strict=True):
            try:
                outcome = self._row(number, row)
            except _Skip as skip:
                if skip.kind == "blank":
                    result.blank_rows += 1
                else:
                    result.footer_rows += 1
                continue
            if isinstance(outcome, Reject):
                result.rejects.append(outcome)
            else:
                accepted.singles.append(outcome)
                accepted.single_cells.append(row)


class InventoryValidator(_CellRules):
    """Inventory snapshot rows: part, on hand (not negative), on order; the as-of date per row or file."""

    def __init__(
        self,
        layout: Layout,
        profile: DistributorProfile,
        today: date,
        default_as_of: date | None = None,
        state: ValidatorState | None = None,
    ) -> None:
        super().__init__(layout, profile, today)
        self.state = state or ValidatorState()
        cols = layout.columns
        self.width = layout.width
        self.i_date = cols.get("as_of_date")
        self.i_part = cols["part_number"]
        self.i_on_hand = cols["on_hand"]
        self.i_on_order = cols.get("on_order")
        self.default_as_of = default_as_of.isoformat() if default_as_of else None

    def validate(
        self, numbers: Sequence[int], rows: list[list[str]]
    ) -> tuple[list[InventoryLine], BatchResult]:
        result = BatchResult(AcceptedBatch())
        lines: list[InventoryLine] = []
        for number, row in zip(numbers, rows, strict=True):
            cells = (row + [""] * self.width)[: max(self.width, len(row))]
            if not any(c.strip() for c in cells):
                result.blank_rows += 1
                continue
            part = cells[self.i_part].strip()
            if not part and SellThroughValidator._is_totals(cells):
                result.footer_rows += 1
                continue
            reasons = []
            if not part:
                reasons.append("missing part_number")
            as_of = self.default_as_of
            if self.i_date is not None and cells[self.i_date].strip():
                parsed = self._date(cells[self.i_date])
                if isinstance(parsed, str):
                    reasons.append(f"as_of_date: {parsed}")
                    as_of = None
                else:
                    as_of = parsed[0]
            elif as_of is None:
                reasons.append("missing as_of_date")
            on_hand = None
            if not cells[self.i_on_hand].strip():
                reasons.append("missing on_hand")
            else:
                on_hand = self.number(cells[self.i_on_hand])
                if on_hand is None:
                    reasons.append(f"on_hand {cells[self.i_on_hand].strip()!r} is not a number")
                elif on_hand < 0:
                    reasons.append(f"on_hand {on_hand} is negative")
            on_order = None
            if self.i_on_order is not None and cells[self.i_on_order].strip():
                on_order = self.number(cells[self.i_on_order])
                if on_order is None:
                    reasons.append(f"on_order {cells[self.i_on_order].strip()!r} is not a number")
            if not reasons:
                key = hash(part)
                if key in self.state.seen:
                    reasons.append(f"part {part} repeated within the file")
                else:
                    self.state.seen[key] = None
            if reasons:
                result.rejects.append(Reject(number, row, "; ".join(reasons)))
                continue
            assert as_of is not None and on_hand is not None
            lines.append(InventoryLine(number, part, as_of, on_hand, on_order))
        return lines, result


Validator = Callable[[list[int], list[list[str]]], BatchResult]
