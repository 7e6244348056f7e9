"""Row validation: each problem rejected with its row number and reason; the fast column-wise path
and the per-row path agree whatever the batch boundaries."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.pos.pos_files import assert_every_row_accounted, csv_bytes, ingest

HEADER = [
    "Invoice Date",
    "Invoice #",
    "Line",
    "MPN",
    "Qty",
    "Unit Price",
    "Ext Resale",
    "Currency",
    "End Customer",
]


def good(n: int, **changes: str) -> list[str]:
    row = dict(
        zip(
            HEADER,
            ["2026-03-04", f"INV{n}", "1", "LM358", "10", "1.25", "12.50", "USD", "Acme Corp"],
            strict=True,
        )
    )
    row.update({k.replace("_", " "): v for k, v in changes.items()})
    return list(row.values())


def test_each_problem_is_rejected_with_row_number_and_reason() -> None:
    rows = [
        HEADER,
        good(1),  # row 2 accepted
        good(2, Qty=""),  # 3
        good(3, Qty="ten"),  # 4
        good(4, **{"Invoice Date": "2026-02-30"}),  # 5
        good(5, **{"Invoice Date": "2027-01-15"}),  # 6 future
        good(6, **{"Invoice Date": "2019-01-15"}),  # 7 implausibly old
        good(7, **{"Ext Resale": "12.52"}),  # 8 beyond a cent
        good(8, **{"Ext Resale": "12.51"}),  # 9 within a cent: accepted
        good(9, Currency="XYZ"),  # 10
        good(1),  # 11 the same invoice line again
        good(10, Qty="-4", **{"Ext Resale": "-5.00"}),  # 12 a return: accepted
        good(11, **{"End Customer": "  "}),  # 13
        ["", "", "", "", "", "", "", "", ""],  # 14 blank
        [*good(12), "surplus"],  # 15 too many cells
    ]
    run = ingest(csv_bytes(rows))
    assert_every_row_accounted(run, 14)
    reasons = run.reasons()
    assert set(reasons) == {3, 4, 5, 6, 7, 8, 10, 11, 13, 15}
    assert reasons[3] == "missing quantity"
    assert reasons[4] == "quantity 'ten' is not a number"
    assert "does not parse" in reasons[5]
    assert reasons[6] == "invoice_date: date 2027-01-15 is in the future"
    assert "implausibly old" in reasons[7]
    assert "extended_amount is 12.52" in reasons[8] and "off by -0.02" in reasons[8]
    assert reasons[10] == "unknown currency 'XYZ'"
    assert reasons[11] == "line repeated within the file (invoice INV1 line 1 came earlier)"
    assert reasons[13] == "missing end_customer"
    assert reasons[15] == "row has 10 cells but the header has 9"
    assert run.counts.blank == 1
    assert sorted(line.row for line in run.lines) == [2, 9, 12]
    assert run.amount() == Decimal("12.50") + Decimal("12.51") - Decimal("5.00")


def test_numbers_in_accounting_notation_and_symbols() -> None:
    rows = [HEADER, good(1, Qty="(2)", **{"Unit Price": "$1.25", "Ext Resale": "2.50-"})]
    run = ingest(csv_bytes(rows))
    assert run.rejects == []
    assert run.lines[0].quantity == Decimal(-2) and run.lines[0].extended_amount == Decimal("-2.50")


def test_amounts_are_rounded_half_up_to_the_cent() -> None:
    rows = [HEADER, good(1, Qty="3", **{"Unit Price": "0.3333", "Ext Resale": "0.9999"})]
    rows += [good(n, Qty="1", **{"Unit Price": "0.005", "Ext Resale": "0.005"}) for n in range(2, 40)]
    run = ingest(csv_bytes(rows))
    assert run.rejects == []
    assert run.lines[0].extended_amount == Decimal("1.00")
    assert {line.extended_amount for line in run.lines[1:]} == {Decimal("0.01")}
    assert run.amount() == Decimal("1.38")


def test_unit_price_or_amount_alone_is_enough() -> None:
    header = ["Date", "Invoice", "Part", "Qty", "Unit Price", "End Customer"]
    run = ingest(csv_bytes([header, ["2026-03-04", "I1", "P", "3", "0.333", "Acme"]]))
    assert run.lines[0].extended_amount == Decimal("1.00")


cell = st.sampled_from(["", " ", "x", "1", "-3", "1.5", "1,5", "0.005", "NaN", "1e2", "12.50", "(2)", "2026-03-04",
                        "03/04/2026", "2030-01-01", "USD", "eur", "Acme", "=cmd"])  # fmt: skip
row_strategy = st.lists(cell, min_size=9, max_size=9)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(row_strategy, min_size=1, max_size=40), st.integers(min_value=1, max_value=17))
def test_batch_boundaries_do_not_change_any_verdict(rows: list[list[str]], batch_size: int) -> None:
    # Given random rows, some fine, most not: judged in one batch and in small batches
    data = csv_bytes([HEADER, *rows, *[good(n) for n in range(30)]])
    whole = ingest(data, batch_size=4096)
    split = ingest(data, batch_size=batch_size)
    # Then every row gets the same verdict and the totals are the same
    assert whole.reasons() == split.reasons()
    assert [tuple(line) for line in whole.lines] == [tuple(line) for line in split.lines]
    assert whole.counts == split.counts
    assert_every_row_accounted(whole, len(rows) + 30)


def test_where_a_ledger_judges_repeats_only_a_batchs_own_lines_are_remembered() -> None:
    import io

    from pos_ingest.core import ingest_file
    from pos_ingest.profile import default_profile

    from tests.unit.pos.pos_files import TODAY

    data = csv_bytes([HEADER, good(1), good(1), good(2), good(3), good(1)])
    rejects: list = []
    outcome = ingest_file(io.BytesIO(data), default_profile("d", "sell_through"), today=TODAY, batch_size=3,
                          on_rejects=rejects.extend, repeats_across_batches=False)  # fmt: skip
    # rows 2-4 form one batch (row 3 repeats row 2 there); row 6 repeats row 2 from another batch
    assert [r.row for r in rejects] == [3]
    assert outcome.counts.accepted == 4
