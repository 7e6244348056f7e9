"""A file stopped after any row and continued from its checkpoint gives the same result as one pass."""

from __future__ import annotations

from datetime import datetime

import pytest
from pos_ingest.core import Checkpoint
from pos_ingest.profile import DistributorProfile

from tests.unit.pos.pos_files import Run, csv_bytes, ingest, xlsx_bytes

HEADER = ["Invoice Date", "Invoice #", "Line", "MPN", "Qty", "Unit Price", "Ext Resale", "End Customer"]


def rows(count: int, *, quoted: bool = True) -> list[list[str]]:
    out = [["Weekly POS", "", "", "", "", "", "", ""], HEADER]
    for n in range(count):
        qty = n % 7 - 1
        out.append(["03/04/2026", f"I{n // 3}", str(n % 3 + 1), f"P{n % 5}", str(qty), "1.10",
                    f"{qty * 1.1:.2f}", ["Acme Corp", 'Globex, "Inc"' if quoted else "Globex Inc", "Nobody\nGmbH" if quoted else "Nobody GmbH"][n % 3]])  # fmt: skip
    out[40][6] = "9.99"  # a mismatch to reject
    out[77] = list(out[20])  # a repeat of an earlier line, across a checkpoint
    return out


def one_pass(data: bytes, **kwargs: object) -> Run:
    return ingest(data, **kwargs)  # type: ignore[arg-type]


def in_slices(data: bytes, slice_rows: int, *, serialise: bool, **kwargs: object) -> tuple[Run, int]:
    run = Run()
    checkpoint: Checkpoint | None = None
    slices = 0
    while True:
        ingest(
            data,
            run=run,
            checkpoint=checkpoint,
            max_rows=slice_rows,
            batch_size=25 if slice_rows > 25 else 4,
            **kwargs,
        )  # type: ignore[arg-type]
        slices += 1
        assert run.outcome is not None
        if run.outcome.done:
            return run, slices
        checkpoint = run.outcome.checkpoint
        assert checkpoint is not None
        if serialise:
            checkpoint = Checkpoint.from_json(checkpoint.to_json())
            checkpoint.state.seen = run.outcome.checkpoint.state.seen  # see Checkpoint.to_json


@pytest.mark.parametrize("slice_rows", [1, 7, 50])
@pytest.mark.parametrize("serialise", [False, True])
@pytest.mark.parametrize("quoted", [True, False], ids=["csv-reader-chunks", "column-wise-chunks"])
def test_csv_resumed_from_byte_offsets_matches_one_pass(
    slice_rows: int, serialise: bool, quoted: bool
) -> None:
    data = csv_bytes(rows(120, quoted=quoted))
    assert (b'"' in data) == quoted
    whole = one_pass(data)
    sliced, slices = in_slices(data, slice_rows, serialise=serialise)
    assert slices > 1
    assert sliced.counts == whole.counts
    assert sliced.reasons() == whole.reasons() and set(whole.reasons()) == {41, 78}
    assert sliced.lines == whole.lines
    assert sliced.totals.snapshot() == whole.totals.snapshot()


def test_footer_lines_held_back_survive_a_checkpoint() -> None:
    profile = DistributorProfile(id="x", footer_lines=2)
    data = csv_bytes(
        [*rows(90), ["Total", "", "", "", "", "", "1", ""], ["Rows: 90", "", "", "", "", "", "", ""]]
    )
    whole = one_pass(data, profile=profile)
    sliced, _ = in_slices(data, 4, serialise=True, profile=profile)
    assert whole.counts.footer == 2
    assert sliced.counts == whole.counts and sliced.lines == whole.lines


def test_xlsx_resumes_by_row_number() -> None:
    sheet = [[datetime(2026, 3, 4) if c == "03/04/2026" else c for c in row] for row in rows(80)]
    data = xlsx_bytes(sheet)
    whole = one_pass(data, name="f.xlsx")
    sliced, slices = in_slices(data, 13, serialise=True, name="f.xlsx")
    assert slices == 7
    assert sliced.counts == whole.counts and sliced.lines == whole.lines


def test_a_time_budget_stops_after_a_batch_and_says_where() -> None:
    data = csv_bytes(rows(120))
    run = ingest(data, should_stop=lambda done: done >= 10, batch_size=4)
    assert run.outcome is not None and not run.outcome.done
    checkpoint = run.outcome.checkpoint
    assert checkpoint is not None and checkpoint.position.row == 2 + 12
    assert data[checkpoint.position.byte_offset :].startswith(b"03/04/2026,I4,1,P2")


def test_a_slice_ends_at_its_row_cap_with_time_left_and_never_before_its_minimum() -> None:
    from pos_ingest.wiring import MIN_ROWS_PER_SLICE, time_budget

    # Given an invocation with all its 15 minutes left, and a slice capped at 100,000 rows
    should_stop = time_budget(lambda: 900_000, max_rows=100_000)
    # Then it reads on below the cap, and stops at it though time is left (its lines are held in memory)
    assert not should_stop(MIN_ROWS_PER_SLICE) and not should_stop(99_999)
    assert should_stop(100_000)
    # And with time short, it still reads its minimum first, then stops
    short = iter([900_000, 1_000, 1_000, 1_000])
    hurried = time_budget(lambda: next(short))
    assert not hurried(MIN_ROWS_PER_SLICE - 1) and hurried(MIN_ROWS_PER_SLICE)
