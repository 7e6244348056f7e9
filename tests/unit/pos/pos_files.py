"""Builders for POS files in the difficult shapes distributors send, made in memory by the tests."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pos_ingest.aggregate import ActualsAggregator
from pos_ingest.core import Checkpoint, SliceOutcome, ingest_file
from pos_ingest.profile import DistributorProfile, default_profile
from pos_ingest.validate import InventoryLine, PosLine, Reject

from shared.accounts import AccountMatcher, AccountRef

TODAY = date(2026, 11, 23)
ACCOUNTS = AccountMatcher(
    [
        AccountRef("acct-acme", "Acme Corporation", ("Acme Widgets",)),
        AccountRef("acct-mueller", "Müller Elektronik GmbH"),
        AccountRef("acct-globex", "Globex, Inc."),
    ]
)


def csv_bytes(
    rows: list[list[Any]], *, delimiter: str = ",", encoding: str = "utf-8", bom: bool = False
) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    data = out.getvalue().encode(encoding)
    return (b"\xef\xbb\xbf" + data) if bom else data


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


class Run:
    """One file ingested: counts, accepted lines, rejects and totals."""

    def __init__(self) -> None:
        self.lines: list[PosLine] = []
        self.inventory: list[InventoryLine] = []
        self.rejects: list[Reject] = []
        self.totals = ActualsAggregator()
        self.outcome: SliceOutcome | None = None

    def accept(self, batch: Any) -> None:
        self.totals.add(batch)
        self.lines.extend(batch.lines())

    @property
    def counts(self) -> Any:
        assert self.outcome is not None
        return self.outcome.counts

    def reasons(self) -> dict[int, str]:
        return {r.row: r.reason for r in self.rejects}

    def amount(self, currency: str = "USD") -> Decimal:
        return self.counts.amount_accepted.get(currency, Decimal(0))


def ingest(
    data: bytes,
    *,
    name: str = "file.csv",
    profile: DistributorProfile | None = None,
    kind: str = "sell_through",
    run: Run | None = None,
    checkpoint: Checkpoint | None = None,
    max_rows: int | None = None,
    should_stop: Callable[[int], bool] | None = None,
    batch_size: int = 4096,
) -> Run:
    run = run or Run()
    stream = io.BytesIO(data)
    if checkpoint is not None and checkpoint.position.byte_offset is not None:
        stream.seek(checkpoint.position.byte_offset)
    extra: dict[str, Any] = {"should_stop": should_stop} if should_stop else {}
    run.outcome = ingest_file(
        stream,
        profile or default_profile("test-dist", kind),  # type: ignore[arg-type]
        file_name=name,
        today=TODAY,
        matcher=ACCOUNTS,
        on_accepted=run.accept,
        on_inventory=run.inventory.extend,
        on_rejects=run.rejects.extend,
        checkpoint=checkpoint,
        max_rows=max_rows,
        default_as_of=TODAY,
        batch_size=batch_size,
        **extra,
    )
    return run


def assert_every_row_accounted(run: Run, data_rows: int) -> None:
    counts = run.counts
    assert counts.rows_total == data_rows
    assert counts.accepted + counts.rejected + counts.blank + counts.footer == data_rows
    assert counts.accepted == len(run.lines) + len(run.inventory)
    assert counts.rejected == len(run.rejects)
    assert all(r.reason for r in run.rejects)


__all__ = ["TODAY", "Run", "assert_every_row_accounted", "csv_bytes", "datetime", "ingest", "xlsx_bytes"]
