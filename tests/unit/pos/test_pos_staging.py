"""Staging (``ledger.StagedLines``): each accepted line becomes one staged record in its invoice's ledger
shard, exactly as built field by field from the line (the text the commit and earlier slices read)."""

from __future__ import annotations

import io
import zlib
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from pos_ingest.core import ingest_file
from pos_ingest.ledger import StagedLines
from pos_ingest.profile import default_profile
from pos_ingest.validate import PosLine

from shared.store.pos import LEDGER_SHARDS, ledger_shard_of, ledger_shards_of
from tests.unit.pos.pos_files import ACCOUNTS, TODAY, csv_bytes

HEADER = ["Invoice Date", "Invoice No", "Line", "MPN", "Qty", "Unit Price", "Ext Resale", "Currency",
          "End Customer", "Country"]  # fmt: skip


def record(line: PosLine) -> str:
    """A staged record as the ledger reads it: invoice, line, row, amount, quantity, account, period,
    currency, part, end customer; a separator inside a cell is blanked."""
    fields = [line.invoice_number, line.line, str(line.row), str(line.extended_amount), str(line.quantity),
              line.account, line.period, line.currency, line.part_number, line.end_customer]  # fmt: skip
    return "\x1f".join(f.replace("\x1f", " ").replace("\x1e", " ") for f in fields)


def staged_and_expected(data: bytes, **profile: Any) -> tuple[dict[int, list[str]], dict[int, list[str]]]:
    staged = StagedLines()
    expected: dict[int, list[str]] = {}

    def accept(batch: Any) -> None:
        staged.add(batch)
        lines = [line for columns in batch.column_sets for line in columns.lines()] + batch.singles
        for line in lines:
            expected.setdefault(ledger_shard_of(line.invoice_number), []).append(record(line))

    ingest_file(
        io.BytesIO(data), default_profile("d", "sell_through").model_copy(update=profile), file_name="f.csv",
        today=TODAY, matcher=ACCOUNTS, on_accepted=accept, batch_size=64,
    )  # fmt: skip
    got = {shard: staged.records(shard) for shard in staged.shards}
    return {s: ["\x1f".join(r) for r in records] for s, records in got.items()}, expected


def rows(count: int, changes: dict[int, dict[str, str]] | None = None) -> list[list[str]]:
    """``count`` plain lines, 3 per invoice; ``changes`` sets cells of some (by record number: 1 is the
    first line) by header name, and the amount follows the quantity and price unless it is set."""
    out = [HEADER]
    for number in range(1, count + 1):
        i = number - 1
        cells = {"Invoice Date": "11/02/2026", "Invoice No": f"INV{i // 3:05d}", "Line": str(i % 3 + 1),
                 "MPN": f"PN-{i % 11}", "Qty": str(i % 7 + 1), "Unit Price": f"{i % 13 + 1}.2345",
                 "Currency": "USD", "End Customer": ["Acme Corporation", "Hooli", "Globex, Inc."][i % 3],
                 "Country": "US"}  # fmt: skip
        cells.update((changes or {}).get(number, {}))
        if "Ext Resale" not in cells:
            product = Decimal(cells["Qty"]) * Decimal(cells["Unit Price"])
            cells["Ext Resale"] = str(product.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))
        out.append([cells[name] for name in HEADER])
    return out


@pytest.mark.parametrize("quoted", [False, True], ids=["column-wise", "csv-reader"])
def test_every_accepted_line_is_staged_once_as_its_record_in_its_shard(quoted: bool) -> None:
    changes = {
        5: {"Qty": "5", "Unit Price": "1.2", "Ext Resale": "6.0"},  # staged as written, not "6.00"
        9: {"Qty": "1e1"},  # a quantity in exponent form: staged as Decimal writes it ("1E+1")
        100: {"Qty": "1", "Unit Price": "40.4225", "Ext Resale": "40.4225"},  # rounded half up: 40.42
        20: {"End Customer": "Hooli\x1fWest"},  # a separator inside a cell is blanked, not a new field
        21: {"MPN": "PN\x1e7"},
        30: {"Qty": "x", "Ext Resale": "1.00"},  # rejected: not staged
        31: {"Invoice No": "INV00009", "Line": "3"},  # repeats line 30's key, which was rejected: staged
        32: {"Invoice No": "INV00009", "Line": "3"},  # repeats line 31's: rejected, not staged
    }
    if quoted:
        changes[40] = {"End Customer": 'Acme "Quoted" Corporation'}
    got, expected = staged_and_expected(csv_bytes(rows(300, changes)))
    assert got == expected
    assert sum(map(len, got.values())) == 298
    staged = [r for records in got.values() for r in records]
    assert any("\x1fHooli West\x1f" in r or r.endswith("\x1fHooli West") for r in staged)
    assert any("\x1f6.0\x1f" in r for r in staged) and any("\x1f1E+1\x1f" in r for r in staged)
    assert any("\x1f40.42\x1f" in r for r in staged)


def test_a_decimal_comma_file_stages_the_same_records() -> None:
    data = rows(50)
    for row in data[1:]:
        row[5], row[6] = row[5].replace(".", ","), row[6].replace(".", ",")
    got, expected = staged_and_expected(csv_bytes(data, delimiter=";"), decimal_separator=",")
    assert got == expected
    assert sum(map(len, got.values())) == 50


def test_the_shard_of_a_column_of_invoices_is_each_invoices_shard() -> None:
    invoices = ["INV1", "", "Rechnung-ä", "99", *(f"X{i}" for i in range(200))]
    shards = ledger_shards_of(invoices)
    assert shards == [ledger_shard_of(i) for i in invoices]
    assert shards == [zlib.crc32(i.encode()) % LEDGER_SHARDS for i in invoices]
    assert set(shards) == set(range(LEDGER_SHARDS))
