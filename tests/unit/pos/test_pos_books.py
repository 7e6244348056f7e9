"""Rejects file, customer matching, and the ledger rule: redelivery counts once, restatement replaces."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from pos_ingest.aggregate import ActualsAggregator, InMemoryLedger
from pos_ingest.rejects import RejectsWriter, neutralise
from pos_ingest.validate import Reject

from shared.accounts import AccountMatcher, AccountRef, normalise_name
from tests.unit.pos.pos_files import Run, csv_bytes, ingest

HEADER = ["Invoice Date", "Invoice #", "Line", "MPN", "Qty", "Unit Price", "Ext Resale", "End Customer"]


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1", "'\r=1"),
        ("-2+3", "'-2+3"),
        ("-", "'-"),
        ("-5", "-5"),
        ("-1.234,56", "-1.234,56"),
        ("+3.25", "+3.25"),
        ("-.5", "-.5"),
        ("Acme", "Acme"),
        ("", ""),
    ],
)
def test_formula_cells_are_neutralised_but_signed_numbers_are_data(cell: str, safe: str) -> None:
    assert neutralise(cell) == safe


def test_rejects_file_has_the_original_row_its_number_and_reason() -> None:
    out = io.StringIO()
    writer = RejectsWriter(out, ["A", "=B"])
    writer.write([Reject(7, ["=1+1", "-4"], "quantity '=1+1' is not a number")])
    assert list(csv.reader(io.StringIO(out.getvalue()))) == [
        ["A", "'=B", "reject_row", "reject_reason"],
        ["'=1+1", "-4", "7", "quantity '=1+1' is not a number"],
    ]
    assert writer.count == 1


@pytest.mark.parametrize(
    ("name", "normalised"),
    [
        ("Müller GmbH & Co. KG", "muller"),
        ("The ACME, Inc.", "acme"),
        ("ACME CORPORATION", "acme"),
        ("A.B.C. S.A.", "abc"),
        ("Foo Bar B.V.", "foo bar"),
        ("Siemens AG", "siemens"),
        ("AG", "ag"),
        ("  ", ""),
    ],
)
def test_names_are_normalised(name: str, normalised: str) -> None:
    assert normalise_name(name) == normalised


def test_accounts_match_by_name_or_alias_and_unmatched_get_suggestions_only() -> None:
    matcher = AccountMatcher(
        [
            AccountRef("a1", "Acme Corporation", ("Acme Widgets",)),
            AccountRef("a2", "Müller Elektronik GmbH"),
            AccountRef("a3", "Twin Ltd"),
            AccountRef("a4", "Twin Inc"),
        ]
    )
    assert matcher.match(normalise_name("ACME, Inc.")) == "a1"
    assert matcher.match(normalise_name("acme widgets llc")) == "a1"
    assert matcher.match(normalise_name("Twin")) is None  # two accounts share the name: neither
    assert matcher.match(normalise_name("Mueller Elektronik")) is None
    suggestions = matcher.suggest("Mueller Elektronik")
    assert suggestions[0].account_id == "a2" and suggestions[0].score >= 80


def sell_through(lines: list[tuple[str, str, str]]) -> bytes:
    """(invoice, line, amount) rows for Acme on one date."""
    return csv_bytes([HEADER] + [["03/04/2026", i, n, "P1", "1", a, a, "Acme Corp"] for i, n, a in lines])


def apply(ledger: InMemoryLedger, totals: ActualsAggregator, source: str, data: bytes) -> Run:
    run = Run()
    run.accept = lambda batch: ledger.apply("dist-1", source, batch, totals)  # type: ignore[method-assign]
    return ingest(data, run=run)


def test_same_object_twice_counts_once_and_a_restatement_moves_totals_by_the_difference() -> None:
    ledger, totals = InMemoryLedger(), ActualsAggregator()
    first = sell_through([("I1", "1", "10.00"), ("I1", "2", "5.25"), ("I2", "1", "7.10")])
    # the same object delivered twice
    apply(ledger, totals, "pos/dist-1/a.csv@v1", first)
    apply(ledger, totals, "pos/dist-1/a.csv@v1", first)
    assert totals.totals == {("acct-acme", "2026-Q1", "USD"): Decimal("22.35")}
    # a corrected file restates I1/2 and adds I3/1
    corrected = sell_through([("I1", "2", "4.75"), ("I3", "1", "1.00")])
    apply(ledger, totals, "pos/dist-1/b.csv@v1", corrected)
    assert totals.totals == {
        ("acct-acme", "2026-Q1", "USD"): Decimal("22.35") - Decimal("0.50") + Decimal("1.00")
    }
    assert totals.parts[("acct-acme", "2026-Q1", "USD", "P1")] == [Decimal("22.85"), Decimal(4)]
