"""The columnar engine: DuckDB reads, checks and sums the plain rows of a sell-through CSV; our own code
keeps the rest (``ingest_file(use_engine=True)``).

DuckDB serves a file only when its rows cannot mean anything else to it than to our reader (checked
before any row is handed over): UTF-8 without quote characters, NUL bytes, lone carriage returns or
white space other than spaces, a decimal point, no footer lines held back, a line column, and both a
unit price and an extended amount. Anything else (other encodings, XLSX, quoted cells, decimal commas,
a resumed run, a row limit, no time left for a whole pass, any DuckDB error) goes to the reference
path in ``core`` unchanged.

In a served file DuckDB decides only which rows are *plainly good*: the right width, invoice, line and
part present, a date, a customer and a currency our own rules accept (each distinct cell text is
judged once by ``validate``'s rules and joined back), plain numbers with few enough digits to be exact
in DECIMAL and in Python's 28-digit context, an amount with at most two decimals within the tolerance
of quantity x unit price, and an (invoice, line) found once in the file. Every other row (blank,
footer, any reject, any repeated key) goes through the per-row path that explains each problem, in
file order, so rejects and reasons are the reference's own. A file whose keys come in strictly
increasing order (what a distributor's export sorted by invoice and line gives) is read once; any
other file once more, to find the repeated keys (and a third time when there is one).

Amounts never pass through a float: cells are cast to DECIMAL(18, 6) / DECIMAL(18, 2) and sums come
back as text for ``Decimal``. The whole file is one accepted batch: its totals are summed by DuckDB per
(account, period, currency) (per part on demand, another pass); its lines (``column_sets``,
``lines()``) are built on demand by the reference fast path from the same rows, so they are the
reference's values by construction, and are valid during the callback only.

The file is spooled to a temporary directory (DuckDB reads files, not streams); DuckDB works within
``MEMORY_LIMIT`` and spills its aggregates there, so memory is bounded however long the file.
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

from pos_ingest.layout import Layout
from pos_ingest.profile import DistributorProfile
from pos_ingest.reader import Batch, CsvSource, Position
from pos_ingest.validate import (
    AcceptedBatch,
    BatchResult,
    Reject,
    SellThroughValidator,
    ValidatorState,
    _Columns,
)
from shared.accounts import AccountMatcher

if TYPE_CHECKING:
    from pos_ingest.core import RunCounts

ENGINE_BATCH = 65_536
SUMS_PIECE = 131_072  # sums per part handed over this many at a time
MEMORY_LIMIT = "256MB"  # DuckDB's own (it spills to the spool's directory); a Lambda has 1024 MB
_PIECE = 1 << 20
# what str.strip removes besides a space and the line breaks (c.isspace(); a test checks the list): a file
# with one of them goes to the reference path, so DuckDB's trim (of spaces) is Python's strip
_ODD_SPACE = "\t\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def available() -> bool:
    try:
        import duckdb  # noqa: F401 - only whether it is there
    except ImportError:
        return False
    return True


def may_serve(profile: DistributorProfile, file_name: str) -> bool:
    """Worth spooling the file for the engine (the layout decides the rest)."""
    return (
        profile.kind == "sell_through"
        and not file_name.lower().endswith((".xlsx", ".xlsm"))
        and profile.encoding not in ("cp1252", "latin-1", "utf-16")
        and profile.decimal_separator != ","
        and not profile.footer_lines
        and profile.amount_tolerance >= Decimal("0.005")
        and profile.amount_tolerance.as_tuple().exponent >= -6  # type: ignore[operator]
        and available()
    )


class Spool:
    """The object copied to a temporary directory, a piece at a time; the engine's database lives there."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.directory = tempfile.mkdtemp(prefix="pos-engine-")
        self.path = os.path.join(self.directory, "object")
        with open(self.path, "wb") as out:
            while piece := stream.read(_PIECE):
                out.write(piece)
        self.file = open(self.path, "rb")  # noqa: SIM115 - closed in close()

    def close(self) -> None:
        self.file.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _plain_bytes(path: str, delimiter: str) -> tuple[str, int] | None:
    """The line break DuckDB is to split on, or None when a byte could mean something else to it than
    to our reader: a quote, NUL, our column marker, a CR that is not part of CRLF, invalid UTF-8, or
    white space other than a space (or the delimiter) that ``str.strip`` would take off a cell and
    DuckDB's ``trim`` would not."""
    import codecs

    odd = _ODD_SPACE.replace("\t", "") if delimiter == "\t" else _ODD_SPACE
    odd_ascii = [c.encode() for c in odd if c.isascii()]
    decoder = codecs.getincrementaldecoder("utf-8")()
    cr = crlf = lf = 0
    last = b""
    with open(path, "rb") as handle:
        while piece := handle.read(_PIECE):
            if b'"' in piece or b"\x00" in piece or b"\x01" in piece:
                return None
            if piece.isascii() and not decoder.getstate()[0]:  # ASCII: valid UTF-8 as it is
                if any(c in piece for c in odd_ascii):
                    return None
            else:
                try:
                    text = decoder.decode(piece)
                except UnicodeDecodeError:
                    return None
                if any(c in text for c in odd):
                    return None
            # counted as the bytes a deletion takes out: about three times faster than bytes.count here
            lf += len(piece) - len(piece.replace(b"\n", b""))
            if b"\r" in piece or last == b"\r":
                cr += len(piece) - len(piece.replace(b"\r", b""))
                crlf += piece.count(b"\r\n") + (last == b"\r" and piece.startswith(b"\n"))
            last = piece[-1:]
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return None
    lines = lf + (last not in (b"", b"\n"))
    if cr == 0:
        return "\\n", lines
    return ("\\r\\n", lines) if cr == crlf == lf else None


def _header_lf(path: str, start: int) -> int:
    with open(path, "rb") as handle:
        return handle.read(start).count(b"\n")


def _layout_serves(layout: Layout) -> bool:
    cols = layout.columns
    return (
        layout.file_format == "csv"
        and layout.encoding == "utf-8"
        and layout.decimal_separator == "."
        and not layout.footer_lines
        and len(layout.delimiter) == 1
        and layout.delimiter not in "'\\"
        and all(name in cols for name in ("line", "unit_price", "extended_amount"))
    )


class _Mapping:
    """A table of cell text -> value made by our own rules, handed to DuckDB through a CSV file."""

    @staticmethod
    def load(con: Any, directory: str, name: str, rows: Iterator[tuple[str, ...]], width: int) -> None:
        path = os.path.join(directory, f"{name}.csv")
        with open(path, "w", encoding="utf-8", newline="") as out:
            csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(rows)
        columns = ", ".join(f"'v{i}': 'VARCHAR'" for i in range(width))
        con.execute(
            f"CREATE TABLE {name} AS SELECT * FROM read_csv(?, columns={{{columns}}}, header=false, "
            "delim=',', quote='\"', escape='\"', auto_detect=false, new_line='\\n', allow_quoted_nulls=false)",
            [path],
        )


class EngineBatch(AcceptedBatch):
    """The accepted lines of a whole served file: DuckDB's plainly good rows, summed by DuckDB (its lines
    built on demand, a slice at a time, by the reference fast path from the same rows), plus the lines
    the per-row path accepted (``singles``). Valid during the ``on_accepted`` callback."""

    def __init__(self, engine: _Engine, plain: int) -> None:
        super().__init__()
        self._engine: _Engine | None = engine
        self._plain = plain

    def __len__(self) -> int:
        return self._plain + len(self.singles)

    def _live(self) -> _Engine:
        if self._engine is None:
            raise RuntimeError("an engine batch is read during its on_accepted callback only")
        return self._engine

    @property  # type: ignore[override]
    def column_sets(self) -> Iterable[_Columns]:
        """The plain rows' columns, a slice at a time (each slice read again when iterated again)."""
        if not self._plain:
            return ()
        return _Slices(self._live())

    @column_sets.setter
    def column_sets(self, value: list[_Columns]) -> None:
        pass  # AcceptedBatch.__init__ sets an empty list; the engine's come from _Slices

    def amount_columns(
        self, by_part: bool = True
    ) -> Iterator[tuple[list[str], list[str], list[str], list[str], list[Decimal], list[Decimal]]]:
        """Sums per (account, period, currency[, part]) from DuckDB, then the single lines."""
        if self._plain:
            for sums in self._live().plain_sums(by_part):
                if sums[0]:
                    yield sums
        yield from self._single_columns()

    def release(self) -> None:
        self._engine = None


class _NotServedError(Exception):
    """The engine cannot serve the file after all (nothing handed over yet): the reference path reads it."""


SumColumns = tuple[list[str], list[str], list[str], list[str], list[Decimal], list[Decimal]]


def _columns(rows: list[tuple[Any, ...]]) -> SumColumns:
    """Rows of (account, period, currency, part, amount text, quantity text) as columns."""
    if not rows:
        return [], [], [], [], [], []
    accounts, periods, currencies, parts, amounts, quantities = map(list, zip(*rows, strict=True))
    return accounts, periods, currencies, parts, list(map(Decimal, amounts)), list(map(Decimal, quantities))


class _Slices:
    def __init__(self, engine: _Engine) -> None:
        self._engine = engine

    def __iter__(self) -> Iterator[_Columns]:
        return self._engine.plain_columns()


class _Engine:
    def __init__(
        self,
        spool: Spool,
        layout: Layout,
        data_offset: int,
        new_line: str,
        profile: DistributorProfile,
        matcher: AccountMatcher,
        today: Any,
        *,
        parts: bool = False,
    ) -> None:
        import duckdb  # heavy: imported only when a file is served

        self.spool = spool
        self.layout = layout
        self.profile = profile
        self.data_offset = data_offset
        self.validator = SellThroughValidator(layout, profile, matcher, today)
        self.shadow = SellThroughValidator(layout, profile, matcher, today)
        self.con = duckdb.connect(
            config={"threads": 1, "memory_limit": MEMORY_LIMIT, "temp_directory": spool.directory},
        )
        self.slow: list[tuple[int, str | None]] = []
        self.parts = parts  # the pass groups by part too: the sums per part come from it
        self._sums: dict[bool, SumColumns] = {}
        self._excluding = False
        self._cells = self._cells_sql(new_line, _header_lf(spool.path, data_offset))

    # ---- SQL ---------------------------------------------------------------------------------------
    def _cells_sql(self, new_line: str, skip: int) -> str:
        """Each data line with its number, the cells the verdict needs and ``ok``: what can be judged
        within the row is plainly good. Key cells are trimmed (the file has no white space but spaces,
        so ``trim`` is Python's ``strip``); ``h`` hashes the (invoice, line) key. Numbers: a plain decimal
        (at most 6 places, an amount at most 2, so no rounding) and quantity and price under a million,
        so the product is exact in DECIMAL and within Python's 28 digits; the per-row path judges every
        other form."""
        cols = self.layout.columns

        def cell(name: str) -> str:
            return f"c[{cols[name] + 1}]"

        # ``o``: this line's key is above the line before's (or has no key); every line ``o`` proves no
        # key repeats, in whatever order the window sees the lines (the first one: ``lag(true)`` NULL)
        def before(name: str) -> str:  # the previous line's key cell, NULL when it had no key
            return f"lag(CASE WHEN inv <> '' AND line <> '' THEN {name} END) OVER ()"

        currency = cell("currency") if "currency" in cols else "''"
        tolerance = f"'{self.profile.amount_tolerance}'::DECIMAL(18, 6)"
        number, amount = " *-?[0-9]+(\\.[0-9]{1,6})? *", " *-?[0-9]+(\\.[0-9]{1,2})? *"
        numbers = f"'{number}\\|{number}\\|{amount}'"  # quantity|price|amount, each plain
        return f"""
            SELECT n, l, d, cust, cur, part, hash(inv, line) AS h, amount, qty,
                   coalesce(wide AND inv <> '' AND line <> '' AND part <> ''
                            AND regexp_full_match(concat_ws('|', q, u, e), {numbers})
                            AND abs(qty) < 1000000 AND abs(price) < 1000000
                            AND abs(qty * price - amount) <= {tolerance}, false) AS ok,
                   coalesce(inv = '' OR line = '', true) OR lag(true) OVER () IS NULL OR coalesce(
                       inv > {before("inv")} OR (inv = {before("inv")} AND (len(line) > len({before("line")})
                       OR (len(line) = len({before("line")}) AND line > {before("line")}))), false) AS o
            FROM (
                SELECT n, l, len(c) = {self.layout.width} AS wide, c[{cols["invoice_date"] + 1}] AS d,
                       trim({cell("invoice_number")}) AS inv, trim({cell("line")}) AS line,
                       trim({cell("part_number")}) AS part, {cell("quantity")} AS q,
                       {cell("unit_price")} AS u, {cell("extended_amount")} AS e, {currency} AS cur,
                       {cell("end_customer")} AS cust,
                       TRY_CAST({cell("extended_amount")} AS DECIMAL(18, 2)) AS amount,
                       TRY_CAST({cell("quantity")} AS DECIMAL(18, 6)) AS qty,
                       TRY_CAST({cell("unit_price")} AS DECIMAL(18, 6)) AS price
                FROM (
                    SELECT row_number() OVER () AS n, l, string_split(l, $delim) AS c
                    FROM read_csv($path, columns={{'l': 'VARCHAR'}}, header=false, skip={skip}, delim='\x01',
                                  quote='', escape='', comment='', auto_detect=false, strict_mode=false,
                                  null_padding=false, new_line='{new_line}', max_line_size=4194304)
                )
            )"""

    def _plain_sql(self) -> str:
        """``ok`` and, once the first pass has found them, not a repeated key nor a date, customer or
        currency text our rules refuse."""
        if not self._excluding:
            return "ok AND h NOT IN (SELECT h FROM dups)"
        return ("ok AND h NOT IN (SELECT h FROM dups) AND d NOT IN (SELECT v0 FROM bad_dates) "
                "AND cust NOT IN (SELECT v0 FROM bad_customers) AND cur NOT IN (SELECT v0 FROM bad_currencies)")  # fmt: skip

    def _params(self, sql: str) -> dict[str, Any]:
        """The named parameters ``sql`` uses (DuckDB refuses any other)."""
        known = {"path": self.spool.path, "delim": self.layout.delimiter}
        return {name: value for name, value in known.items() if f"${name}" in sql}

    def _execute(self, sql: str) -> Any:
        return self.con.execute(sql, self._params(sql))

    def _one(self, sql: str) -> Any:
        row = self.con.execute(sql).fetchone()
        return row[0] if row else None

    def _repeats(self) -> bool:
        """Table ``dups``: the (invoice, line) key hashes found more than once (a plain GROUP BY, which
        DuckDB spills to disk past its memory limit); True when there is one. Their rows are left to the
        per-row path, which tells a repeat from its first line (a hash collision only costs a row the
        fast way). Not needed when the keys come in strictly increasing order (``o``: by invoice, then
        line by length and text), which the first pass checks on the way."""
        self._execute(
            f"""INSERT INTO dups WITH cells AS ({self._cells})
            SELECT h FROM cells GROUP BY h HAVING count(*) > 1"""
        )
        return bool(self._one("SELECT count(*) FROM dups"))

    def _pass(self) -> None:
        """One pass over the file into table ``g``: plain rows summed per (date, customer, currency)
        text, and per part with ``parts`` (kind 0; without, the part is ''), every other row with its
        number and text (kind 2, one group each)."""
        self.con.execute("DROP TABLE IF EXISTS g")
        plain = self._plain_sql()
        part = "CASE WHEN plain THEN part END" if self.parts else "''"
        self._execute(
            f"""CREATE TEMP TABLE g AS
            WITH cells AS ({self._cells}),
            judged AS (SELECT *, coalesce({plain}, false) AS plain FROM cells)
            SELECT CASE WHEN plain THEN 0 ELSE 2 END AS kind, d, cust, cur, part, sn, l,
                   sum(amount) AS amount, sum(qty) AS qty, count(*) AS rows, bool_and(o) AS o
            FROM (
                SELECT plain, CASE WHEN plain THEN d END AS d, CASE WHEN plain THEN cust END AS cust,
                       CASE WHEN plain THEN cur END AS cur, {part} AS part,
                       CASE WHEN plain THEN NULL ELSE n END AS sn,
                       CASE WHEN plain THEN NULL ELSE l END AS l, CASE WHEN plain THEN amount END AS amount,
                       CASE WHEN plain THEN qty END AS qty, o
                FROM judged)
            GROUP BY plain, d, cust, cur, part, sn, l"""
        )

    def _map(self) -> bool:
        """Each distinct date, customer and currency text of the plain rows judged once by our own rules
        (good ones into tables ``dates``, ``accounts``, ``currencies``). True when a text was refused:
        those rows are then left to the per-row path (a second pass)."""
        con, v, directory = self.con, self.validator, self.spool.directory
        found = con.execute(
            "SELECT list(DISTINCT d), list(DISTINCT cust), list(DISTINCT cur) FROM g WHERE kind = 0"
        ).fetchone()
        dates, customers, currencies = (x or [] for x in (found or ([], [], [])))
        judged_dates = [(r, v._date(r)) for r in dates]
        judged_customers = [(r, v._account(r)) for r in customers]
        judged_currencies = [(r, v._currency(r)) for r in currencies]
        _Mapping.load(con, directory, "dates", ((r, *d) for r, d in judged_dates if isinstance(d, tuple)), 3)
        _Mapping.load(con, directory, "accounts", ((r, a) for r, a in judged_customers if a is not None), 2)
        _Mapping.load(
            con, directory, "currencies", ((r, c) for r, c in judged_currencies if c is not None), 2
        )
        bad = {
            "bad_dates": [(r,) for r, d in judged_dates if not isinstance(d, tuple)],
            "bad_customers": [(r,) for r, a in judged_customers if a is None],
            "bad_currencies": [(r,) for r, c in judged_currencies if c is None],
        }
        for name, rows in bad.items():
            _Mapping.load(con, directory, name, iter(rows), 1)
        return any(bad.values())

    # ---- the pass ----------------------------------------------------------------------------------
    def run(self) -> tuple[int, int]:
        """(data records, plain rows). The plain rows summed per account, period and currency; every
        other row kept (number, text) in ``slow``, in file order. One pass over the file when its
        (invoice, line) keys come in strictly increasing order (no key can repeat; checked on the way)
        and every text is one our rules accept; otherwise a pass that finds the repeated keys and,
        when there is one or a refused text, the first pass again without those rows."""
        self.con.execute("CREATE TEMP TABLE dups (h UBIGINT)")
        self._pass()
        if not self._one("SELECT coalesce(bool_and(o), true) FROM g") and self._repeats():
            self._pass()
        if self._map():
            self._excluding = True
            self._pass()
        self.con.execute(
            """CREATE TEMP TABLE sums AS
            SELECT acc.v1 AS account, dt.v2 AS period, cu.v1 AS currency, part, sum(amount) AS amount,
                   sum(qty) AS qty, sum(rows) AS rows
            FROM g JOIN dates dt ON dt.v0 = g.d JOIN accounts acc ON acc.v0 = g.cust
            JOIN currencies cu ON cu.v0 = g.cur WHERE kind = 0 GROUP BY ALL"""
        )
        found = self.con.execute(
            """SELECT account, period, currency, '', sum(amount)::VARCHAR, sum(qty)::VARCHAR, sum(rows)
            FROM sums GROUP BY ALL"""
        ).fetchall()
        self._sums[False] = _columns([row[:6] for row in found])
        if self.parts:  # handed over in pieces from table sums; each sum must fit its DECIMAL(18, x)
            fits = self._one(
                "SELECT coalesce(bool_and(abs(amount) < 1e16 AND abs(qty) < 1e12), true) FROM sums"
            )
            if not fits:
                raise _NotServedError("a sum per part needs more than 18 digits")
        plain = sum(int(row[6]) for row in found)
        self.slow = self.con.execute("SELECT sn, l FROM g WHERE kind = 2 ORDER BY sn").fetchall()
        return plain + len(self.slow), plain  # ingest checks it against the lines counted in the file

    def _part_sums(self) -> Iterator[SumColumns]:
        """Table ``sums`` as columns, SUMS_PIECE rows at a time, each piece handed over as one text
        (DuckDB hands a million rows over as tuples about twice as slowly, and all at once)."""
        low, high = self.con.execute("SELECT min(rowid), max(rowid) FROM sums").fetchone() or (None, None)
        if low is None:
            return
        for start in range(low, high + 1, SUMS_PIECE):
            found = self.con.execute(
                """SELECT count(*), string_agg(concat_ws('\x1f', account, period, currency, part,
                       amount::DECIMAL(18, 2)::VARCHAR, qty::DECIMAL(18, 6)::VARCHAR), '\x1f')
                FROM sums WHERE rowid >= ? AND rowid < ?""",
                [start, start + SUMS_PIECE],
            ).fetchone()
            rows, text = found if found else (0, None)
            cells = text.split("\x1f") if text is not None else []
            if len(cells) != 6 * rows:  # a cell with the separator in it (the file's bytes exclude it)
                raise AssertionError("the engine's sums do not split into their columns")
            yield (
                cells[0::6], cells[1::6], cells[2::6], cells[3::6],
                list(map(Decimal, cells[4::6])), list(map(Decimal, cells[5::6])),
            )  # fmt: skip

    def plain_sums(self, by_part: bool) -> Iterator[SumColumns]:
        """Sums of the plain rows per (account, period, currency[, part]), as text (per part: made by
        the pass with ``parts``, a piece at a time, else by another pass over the file)."""
        if by_part and self.parts:
            yield from self._part_sums()
            return
        if by_part not in self._sums:
            self._sums[by_part] = _columns(
                self._execute(
                    f"""WITH cells AS ({self._cells})
                    SELECT acc.v1, dt.v2, cu.v1, part, sum(amount)::VARCHAR, sum(qty)::VARCHAR
                    FROM cells JOIN dates dt ON dt.v0 = cells.d JOIN accounts acc ON acc.v0 = cells.cust
                    JOIN currencies cu ON cu.v0 = cells.cur WHERE {self._plain_sql()} GROUP BY ALL"""
                ).fetchall()
            )
        yield self._sums[by_part]

    def currency_sums(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        _accounts, _periods, currencies, _parts, amounts, _quantities = self._sums[False]
        for currency, amount in zip(currencies, amounts, strict=True):
            out[currency] = out.get(currency, Decimal(0)) + Decimal(amount)
        return out

    def plain_columns(self) -> Iterator[_Columns]:
        """The plain rows, ENGINE_BATCH at a time, as the reference fast path reads them from the
        spooled file (their values are the reference's by construction)."""
        slow = {n for n, _ in self.slow}
        first = self.layout.header_row
        with open(self.spool.path, "rb") as handle:
            handle.seek(self.data_offset)
            source = CsvSource(
                handle, self.profile, layout=self.layout, start=Position(first, self.data_offset)
            )
            while True:
                batch = source.next_batch(ENGINE_BATCH)
                if not len(batch):
                    return
                if slow and not slow.isdisjoint(n - first for n in batch.numbers):
                    kept = [
                        (n, r)
                        for n, r in zip(batch.numbers, batch.rows, strict=True)
                        if n - first not in slow
                    ]
                    batch = Batch([n for n, _ in kept], [r for _, r in kept])
                if not len(batch):
                    continue
                self.shadow.state = ValidatorState()
                columns = self.shadow._fast(batch)
                if columns is None:
                    raise AssertionError(
                        f"the engine and the reference path disagree on rows {batch.numbers[0]}-"
                    )
                yield columns

    def close(self) -> None:
        self.con.close()


def ingest(
    spool: Spool,
    profile: DistributorProfile,
    *,
    today: Any,
    matcher: AccountMatcher | None,
    on_layout: Callable[[Layout], None] | None,
    on_accepted: Callable[[AcceptedBatch], None] | None,
    on_rejects: Callable[[list[Reject]], None] | None,
    should_stop: Callable[[int], bool],
    counts: RunCounts,
    parts: bool = False,
) -> Layout | None:
    """The whole file through the engine in one pass (``counts`` filled in; the layout returned), or
    None, with nothing handed over, when it is not the engine's to read. The plain rows are one batch;
    the others are judged per row in file order."""

    source = CsvSource(spool.file, profile)
    layout, data_offset = source.layout, source.data_offset
    if not _layout_serves(layout) or os.path.getsize(spool.path) < data_offset:
        return None
    plain_bytes = _plain_bytes(spool.path, layout.delimiter)
    if plain_bytes is None:
        return None
    new_line, lines = plain_bytes
    import duckdb

    engine = _Engine(
        spool, layout, data_offset, new_line, profile, matcher or AccountMatcher(), today, parts=parts
    )
    try:
        try:
            total, plain = engine.run()
        except (
            duckdb.Error,
            _NotServedError,
        ):  # out of memory, a line too long, ...: nothing handed over yet
            return None
        if total != lines - _header_lf(spool.path, data_offset):  # DuckDB split the lines otherwise
            return None
        if on_layout:
            on_layout(layout)
        validator, first = engine.validator, layout.header_row
        batch = EngineBatch(engine, plain)
        result = BatchResult(batch)
        split = layout.delimiter
        numbers = [first + n for n, _ in engine.slow]
        validator.one_by_one(numbers, [(text or "").split(split) for _, text in engine.slow], result)
        rejects = result.rejects
        counts.blank += result.blank_rows
        counts.footer += result.footer_rows
        counts.rows_total += total
        counts.accepted += len(batch)
        counts.rejected += len(rejects)
        amounts = counts.amount_accepted
        for currency, amount in engine.currency_sums().items():
            amounts[currency] = amounts.get(currency, Decimal(0)) + amount
        for line in batch.singles:
            amounts[line.currency] = amounts.get(line.currency, Decimal(0)) + line.extended_amount
        if on_accepted and len(batch):
            on_accepted(batch)
        batch.release()
        if on_rejects and rejects:
            on_rejects(rejects)
        should_stop(total)  # asked as after any batch; the file is done, so nothing is left to resume
        return layout
    finally:
        engine.close()
