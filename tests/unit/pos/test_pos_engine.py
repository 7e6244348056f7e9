"""The columnar engine (DuckDB) against the reference path: the same files through both give the same
accepted lines, rejects (row, reason, cells), counts and totals, whichever path each row takes."""

from __future__ import annotations

import codecs
import io
import random
from decimal import Decimal
from typing import Any

import pytest
from pos_ingest import engine
from pos_ingest.aggregate import ActualsAggregator
from pos_ingest.core import ingest_file
from pos_ingest.engine import _ODD_SPACE, EngineBatch
from pos_ingest.profile import DistributorProfile, default_profile

from tests.unit.pos.pos_files import ACCOUNTS, TODAY, csv_bytes, xlsx_bytes

pytestmark = pytest.mark.skipif(not engine.available(), reason="duckdb is not installed")

HEADER = ["Invoice Date", "Invoice No", "Line", "MPN", "Qty", "Unit Price", "Ext Resale", "Currency",
          "End Customer", "Country"]  # fmt: skip
CUSTOMERS = [
    "Acme Corporation",
    "Acme Widgets",
    "Globex Inc",
    "Müller Elektronik GmbH",
    "Hooli",
    "Initech LLC",
]


class Seen:
    """Everything one run handed over."""

    def __init__(self) -> None:
        self.lines: list[Any] = []
        self.cells: list[Any] = []
        self.rejects: list[tuple[int, str, list[str]]] = []
        self.totals = ActualsAggregator(by_part=True)
        self.key_totals = ActualsAggregator(by_part=False)
        self.engine_batches = 0

    def accept(self, batch: Any) -> None:
        self.engine_batches += isinstance(batch, EngineBatch)
        self.totals.add(batch)
        self.key_totals.add(batch)
        pairs = batch.lines_with_cells()
        self.lines.extend(line for line, _ in pairs)
        self.cells.extend(cells for _, cells in pairs)


def run(
    data: bytes,
    *,
    use_engine: bool,
    name: str = "f.csv",
    profile: DistributorProfile | None = None,
    engine_parts: bool = False,
) -> tuple[Seen, Any]:
    seen = Seen()
    outcome = ingest_file(
        io.BytesIO(data), profile or default_profile("d", "sell_through"), file_name=name, today=TODAY,
        matcher=ACCOUNTS, on_accepted=seen.accept,
        on_rejects=lambda rs: seen.rejects.extend((r.row, r.reason, r.cells) for r in rs),
        use_engine=use_engine, engine_parts=engine_parts,
    )  # fmt: skip
    return seen, outcome


def assert_same(
    data: bytes, *, served: bool, name: str = "f.csv", profile: DistributorProfile | None = None
) -> Seen:
    slow, slow_outcome = run(data, use_engine=False, name=name, profile=profile)
    # the engine's sums per part from its one pass (engine_parts), then from another pass
    parted, parted_outcome = run(data, use_engine=True, name=name, profile=profile, engine_parts=True)
    assert parted_outcome.counts == slow_outcome.counts
    assert parted.lines == slow.lines
    assert parted.totals.snapshot() == slow.totals.snapshot()
    assert parted.key_totals.snapshot() == slow.key_totals.snapshot()
    fast, fast_outcome = run(data, use_engine=True, name=name, profile=profile)
    assert (fast.engine_batches > 0) == served
    assert fast_outcome.done and slow_outcome.done
    assert fast_outcome.counts == slow_outcome.counts
    assert fast_outcome.layout == slow_outcome.layout
    assert sorted(fast.rejects) == sorted(slow.rejects)
    assert fast.lines == slow.lines
    assert fast.cells == slow.cells
    assert fast.totals.snapshot() == slow.totals.snapshot()
    assert fast.key_totals.snapshot() == slow.key_totals.snapshot()
    return fast


def good_row(i: int, rng: random.Random) -> list[str]:
    qty = rng.randint(1, 5000) * (-1 if rng.random() < 0.05 else 1)
    price = Decimal(rng.randint(5, 250_000)) / 10_000
    ext = (qty * price).quantize(Decimal("0.01"))
    day = f"{rng.randint(1, 9):02d}/{rng.randint(1, 28):02d}/2026"
    return [day, f"INV{i // 3:06d}", str(i % 3 + 1), f"PN-{rng.randint(0, 40):03d}", str(qty), str(price),
            str(ext), rng.choice(["USD", "EUR"]), rng.choice(CUSTOMERS), "US"]  # fmt: skip


FAULTS: list[tuple[str, Any]] = [
    ("blank line", lambda r: ["", "", "", "", "", "", "", "", "", ""]),
    ("separators only", lambda r: [""] * 10),
    ("totals row", lambda r: ["Total", "", "", "", "", "", "123.45", "", "", ""]),
    ("bad date", lambda r: ["02/30/2026", *r[1:]]),
    ("no date", lambda r: ["", *r[1:]]),
    ("future date", lambda r: ["12/31/2027", *r[1:]]),
    ("ancient date", lambda r: ["01/01/1990", *r[1:]]),
    ("iso date", lambda r: ["2026-03-04", *r[1:]]),
    ("not a number", lambda r: [*r[:4], "abc", *r[5:]]),
    ("exponent", lambda r: [*r[:4], "1e1", "2", "20.00", *r[7:]]),
    ("seven places", lambda r: [*r[:4], "3", "1.1234567", "3.37", *r[7:]]),
    ("sub-cent amount", lambda r: [*r[:4], "3", "1.1234", "3.370", *r[7:]]),
    ("sub-cent amount off", lambda r: [*r[:4], "3", "1.1234", "3.3649", *r[7:]]),
    ("amount mismatch", lambda r: [*r[:6], "9999.99", *r[7:]]),
    ("amount at the tolerance", lambda r: [*r[:4], "2", "1.005", "2.00", *r[7:]]),
    ("amount just over", lambda r: [*r[:4], "2", "1.0051", "2.00", *r[7:]]),
    ("a million units", lambda r: [*r[:4], "1000000", "0.01", "10000.00", *r[7:]]),
    ("plus sign", lambda r: [*r[:4], "+2", "1.50", "3.00", *r[7:]]),
    (
        "padded cells",
        lambda r: [r[0], f"  {r[1]} ", f" {r[2]}", f"{r[3]}  ", f" {r[4]} ", r[5], f"{r[6]} ", *r[7:]],
    ),
    ("dollar amount", lambda r: [*r[:6], "$" + r[6], *r[7:]]),
    ("unknown currency", lambda r: [*r[:7], "XYZ", *r[8:]]),
    ("currency symbol", lambda r: [*r[:7], "$", *r[8:]]),
    ("lower-case currency", lambda r: [*r[:7], "eur", *r[8:]]),
    ("no currency", lambda r: [*r[:7], "", *r[8:]]),
    ("no customer", lambda r: [*r[:8], "", *r[9:]]),
    ("new customer", lambda r: [*r[:8], "Brand New Customer Ltd", *r[9:]]),
    ("no invoice", lambda r: [r[0], "", *r[2:]]),
    ("no line", lambda r: [*r[:2], "", *r[3:]]),
    ("no part", lambda r: [*r[:3], "", *r[4:]]),
    ("short row", lambda r: r[:6]),
    ("extra empty cells", lambda r: [*r, "", ""]),
    ("extra cells", lambda r: [*r, "surplus"]),
    ("a return", lambda r: [*r[:4], "-3", "2.50", "-7.50", *r[7:]]),
    ("zero", lambda r: [*r[:4], "0", "2.50", "0.00", *r[7:]]),
]


def faulty_file(rows: int, seed: int, *, fault_rate: float = 0.2, repeats: int = 6) -> list[list[str]]:
    rng = random.Random(seed)
    out = [good_row(i, rng) for i in range(rows)]
    for i in range(rows):
        if rng.random() < fault_rate:
            out[i] = rng.choice(FAULTS)[1](out[i])
    for _ in range(repeats):  # the same invoice and line again, later (the earlier may be a reject)
        a = rng.randrange(rows)
        out.insert(rng.randrange(a, rows), list(out[a]))
    return [HEADER, *out]


def lf(rows: list[list[str]], *, ending: str = "\n", delimiter: str = ",", trailing: str = "") -> bytes:
    """Rows joined as they are (no quoting: the engine's kind of file)."""
    return (ending.join(delimiter.join(r) for r in rows) + ending + trailing).encode("utf-8")


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_a_file_with_every_fault_gives_the_same_result_through_both_paths(seed: int) -> None:
    seen = assert_same(lf(faulty_file(1500, seed)), served=True)
    assert len(seen.rejects) > 100 and len(seen.lines) > 1000


def test_each_fault_alone_gives_the_same_result() -> None:
    rng = random.Random(9)
    for label, fault in FAULTS:
        rows = [good_row(i, rng) for i in range(30)]
        rows[11] = fault(rows[11])
        assert_same(lf([HEADER, *rows]), served=True), label


KEYED_FAULTS = [(label, fault) for label, fault in FAULTS if label not in (
    "blank line", "separators only", "totals row", "no invoice", "no line", "short row")]  # fmt: skip


def test_keys_in_order_are_read_in_one_pass_with_the_same_result() -> None:
    # Given a file whose (invoice, line) keys only increase (lines past 9: by length, then text), with
    # every fault that keeps a row's key: no repeats pass, and the rows still judged as the reference does
    rng = random.Random(31)
    rows = [good_row(i, rng) for i in range(900)]
    for i, row in enumerate(rows):
        row[1], row[2] = f"INV{i // 12:06d}", str(i % 12 + 1)
        if rng.random() < 0.2:
            rows[i] = rng.choice(KEYED_FAULTS)[1](row)
    seen = assert_same(lf([HEADER, *rows]), served=True)
    assert len(seen.rejects) > 50 and len(seen.lines) > 700


@pytest.mark.parametrize("where", ["next to it", "far after it", "after a blank line"])
def test_a_repeated_key_in_an_otherwise_ordered_file(where: str) -> None:
    # Given keys in increasing order but one line again: the order check sends the file to the repeats pass
    rng = random.Random(32)
    rows = [good_row(i, rng) for i in range(300)]
    copy = list(rows[40])
    if where == "next to it":
        rows.insert(41, copy)
    elif where == "far after it":
        rows.insert(250, copy)
    else:
        rows[41:41] = [[""] * 10, copy]
    seen = assert_same(lf([HEADER, *rows]), served=True)
    assert any("repeat" in reason or "duplicate" in reason for _row, reason, _cells in seen.rejects)


@pytest.mark.parametrize(
    "shape",
    [
        {"ending": "\r\n"},
        {"trailing": "\n\n"},
        {"trailing": ",,,,,,,,,\n"},
        {"delimiter": ";"},
        {"delimiter": "\t"},
        {"delimiter": "|"},
    ],
    ids=["crlf", "blank-lines-at-the-end", "separators-at-the-end", "semicolon", "tab", "pipe"],
)
def test_line_endings_delimiters_and_blank_tails(shape: dict[str, str]) -> None:
    assert_same(lf(faulty_file(400, 7), **shape), served=True)


def test_a_bom_and_title_rows_above_the_header() -> None:
    rows = faulty_file(300, 8)
    data = b"\xef\xbb\xbf" + lf([["Sell-through report November"], [""], *rows])
    seen = assert_same(data, served=True)
    assert min(line.row for line in seen.lines) >= 4


def test_no_line_column_no_currency_column_and_only_one_amount() -> None:
    rows = faulty_file(300, 10)
    without_line = [[c for i, c in enumerate(r) if i != 2] for r in rows]
    without_currency = [r[:7] + r[8:] for r in rows]
    without_ext = [r[:6] + r[7:] for r in rows]
    assert_same(lf(without_line), served=False)  # ordinals: the reference path numbers the lines
    assert_same(lf(without_currency), served=True)
    assert_same(lf(without_ext), served=False)


@pytest.mark.parametrize(
    "label, data, name",
    [
        (
            "quoted commas",
            csv_bytes(
                [
                    *faulty_file(200, 11),
                    ["03/04/2026", "Q1", "1", "P", "1", "1.00", "1.00", "USD", "Acme, Inc.", "US"],
                ]
            ),
            "f.csv",
        ),
        ("windows-1252", lf(faulty_file(200, 12)).replace(b"\xc3\xbc", b"\xfc"), "f.csv"),
        ("utf-16", codecs.BOM_UTF16_LE + lf(faulty_file(200, 13)).decode().encode("utf-16-le"), "f.csv"),
        ("no-break space", lf(faulty_file(200, 14)).replace(b"Hooli", b"Hooli\xc2\xa0"), "f.csv"),
        ("tab inside a cell", lf(faulty_file(200, 15)).replace(b"Hooli", b"Hooli\t"), "f.csv"),
        ("lone carriage return", lf(faulty_file(200, 16)).replace(b"Hooli", b"Hoo\rli", 1), "f.csv"),
        (
            "lone carriage return, CRLF lines",
            lf(faulty_file(200, 16), ending="\r\n").replace(b"Hooli", b"Hoo\rli", 1),
            "f.csv",
        ),
        (
            "decimal comma",
            lf([[c.replace(".", ",") for c in r] for r in faulty_file(200, 17)], delimiter=";"),
            "f.csv",
        ),
        ("workbook", xlsx_bytes(faulty_file(100, 18)), "f.xlsx"),
    ],
)
def test_files_the_engine_cannot_read_exactly_take_the_reference_path(
    label: str, data: bytes, name: str
) -> None:
    assert_same(data, served=False, name=name)


def test_a_profile_tolerance_and_a_distributor_currency() -> None:
    profile = DistributorProfile(id="d", amount_tolerance=Decimal("0.5"), default_currency="EUR")
    assert_same(lf(faulty_file(600, 19)), served=True, profile=profile)
    tiny = DistributorProfile(id="d", amount_tolerance=Decimal("0.001"))
    assert_same(lf(faulty_file(200, 20)), served=False, profile=tiny)  # below half a cent: reference


def test_a_file_without_data_rows() -> None:
    assert_same(lf([HEADER]), served=False)
    assert_same(lf([HEADER], trailing="\n\n"), served=False)


def test_no_time_for_a_whole_file_pass_takes_the_batch_path_and_checkpoints() -> None:
    data = lf(faulty_file(300, 21))
    outcome = ingest_file(
        io.BytesIO(data), default_profile("d", "sell_through"), file_name="f.csv", today=TODAY,
        matcher=ACCOUNTS, should_stop=lambda rows: True, use_engine=True,
    )  # fmt: skip
    assert not outcome.done and outcome.checkpoint is not None
    assert outcome.checkpoint.position.byte_offset is not None


def test_the_engine_batch_is_read_during_its_callback_only() -> None:
    kept: list[Any] = []
    ingest_file(io.BytesIO(lf(faulty_file(50, 22))), default_profile("d", "sell_through"), file_name="f.csv",
                today=TODAY, matcher=ACCOUNTS, on_accepted=kept.append, use_engine=True)  # fmt: skip
    assert isinstance(kept[0], EngineBatch)
    with pytest.raises(RuntimeError, match="callback"):
        kept[0].lines()


def test_the_odd_white_space_list_is_what_str_strip_removes_but_space_and_line_breaks() -> None:
    python = {chr(c) for c in range(0x110000) if chr(c).isspace()}
    assert set(_ODD_SPACE) == python - {" ", "\n", "\r"}


def test_when_duckdb_fails_the_file_takes_the_reference_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given DuckDB with too little memory for the file
    monkeypatch.setattr(engine, "MEMORY_LIMIT", "1MB")
    # Then nothing is handed over twice and the result is the reference's
    assert_same(lf(faulty_file(3000, 23)), served=False)


def test_sums_per_part_handed_over_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's sums per part (``engine_parts``) come over SUMS_PIECE groups at a time: with pieces
    of 7 groups the totals per part are still the reference's, to the cent."""
    monkeypatch.setattr(engine, "SUMS_PIECE", 7)
    data = lf(faulty_file(1500, 21))
    slow, _ = run(data, use_engine=False)
    parted, _ = run(data, use_engine=True, engine_parts=True)
    assert parted.engine_batches == 1
    assert len(slow.totals.parts) > 7 * 3
    assert parted.totals.snapshot() == slow.totals.snapshot()
