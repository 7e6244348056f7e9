"""Files in each difficult shape: every row is counted or rejected with a reason, totals exact."""

from __future__ import annotations

import codecs
import hashlib
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pos_ingest.layout import LayoutError
from pos_ingest.profile import parse_profile

from tests.unit.pos.pos_files import assert_every_row_accounted, csv_bytes, ingest, xlsx_bytes

ROOT = Path(__file__).resolve().parents[3]


def german_rows() -> list[list[str]]:
    return [
        ["Verkaufsbericht November 2026", "", "", "", "", "", ""],
        ["", "", "", "", "", "", ""],
        ["Rechnungsdatum", "Rechnungsnummer", "Artikelnummer", "Menge", "Einzelpreis", "Betrag", "Endkunde"],
        ["04.03.2026", "R-1", "BAV99", "1.000", "0,0425", "42,50", "Müller Elektronik GmbH"],
        ["05.03.2026", "R-2", "BC847", "10", "1,25", "12,50", "Société Générale d'Électronique SA"],
        ["06.03.2026", "R-3", "BC847", "-2", "1,25", "-2,50", "Müller Elektronik GmbH"],
        ["Summe", "", "", "", "", "52,50", ""],
    ]


def test_semicolons_decimal_commas_latin1_title_row_and_totals_row() -> None:
    # Given a Windows-1252 file with a title row, semicolons, decimal commas and a totals row
    data = csv_bytes(german_rows(), delimiter=";", encoding="cp1252")
    # When it is ingested with no profile
    run = ingest(data)
    # Then the layout is detected and every row is accounted for
    layout = run.outcome.layout
    assert (layout.delimiter, layout.decimal_separator, layout.encoding, layout.header_row) == (
        ";",
        ",",
        "cp1252",
        3,
    )
    assert_every_row_accounted(run, 4)
    assert run.counts.accepted == 3 and run.counts.footer == 1 and run.rejects == []
    # 1.000 is a thousand (grouping), -2 is a return
    assert [line.quantity for line in run.lines] == [Decimal(1000), Decimal(10), Decimal(-2)]
    assert run.amount() == Decimal("52.50")
    assert run.lines[1].end_customer == "Société Générale d'Électronique SA"
    assert run.lines[0].account == "acct-mueller" and run.lines[0].invoice_date == "2026-03-04"


def test_utf8_bom_us_dates_quoted_names_and_synonym_headers() -> None:
    rows = [
        ["Invoice Date", "Invoice No", "MPN", "Qty", "Unit Price", "Extended", "Customer Name", "Curr"],
        ["03/04/2026", "A1", "LM358", "100", "0.12", "12.00", "Acme, Inc.", "usd"],
        ["12/31/2025", "A2", "NE555", "5", "0.50", "2.50", 'Globex "West", Inc.', "USD"],
        ["03/04/2026", "A3", "LM358", "1", "0.12", "0.12", "Initech", "$"],
    ]
    run = ingest(csv_bytes(rows, bom=True))
    assert run.outcome.layout.encoding == "utf-8"
    assert run.outcome.layout.header[0] == "Invoice Date"  # the BOM is not part of the first header
    assert_every_row_accounted(run, 3)
    assert run.counts.rejected == 0
    assert [line.invoice_date for line in run.lines] == ["2026-03-04", "2025-12-31", "2026-03-04"]
    assert run.lines[0].account == "acct-acme"
    assert run.lines[2].account == "unmatched:initech"
    assert run.amount() == Decimal("14.62")


@pytest.mark.parametrize("delimiter", ["\t", "|", ";", ","])
def test_delimiter_is_sniffed(delimiter: str) -> None:
    rows = [
        ["Date", "Invoice", "Part Number", "Quantity", "Amount", "End Customer"],
        ["2026-05-01", "X1", "P-1", "3", "30.00", "Acme Corp"],
        ["2026-05-02", "X2", "P-2", "4", "40.00", "Acme Corp"],
    ]
    run = ingest(csv_bytes(rows, delimiter=delimiter))
    assert run.outcome.layout.delimiter == delimiter
    assert run.counts.accepted == 2 and run.amount() == Decimal("70.00")
    # no line column: lines are numbered per invoice and part
    assert [line.line for line in run.lines] == ["P-1#1", "P-2#1"]


def test_day_first_slash_dates_are_recognised_from_the_sample() -> None:
    rows = [["Invoice Date", "Invoice", "Part", "Qty", "Amount", "Customer"]]
    rows += [[f"{d:02d}/03/2026", f"I{d}", "P", "1", "1.00", "Acme"] for d in (3, 25)]
    run = ingest(csv_bytes(rows))
    assert [line.invoice_date for line in run.lines] == ["2026-03-03", "2026-03-25"]


def test_a_mistyped_slash_date_does_not_turn_month_first_dates_into_days() -> None:
    # "13/45/2026" is no date either way: it is rejected, and the other dates stay month-first (2 November,
    # counted in Q4), not read as 11 February (Q1) because one first part exceeded 12.
    rows = [["Invoice Date", "Invoice", "Part", "Qty", "Amount", "Customer"]]
    rows += [[day, f"I{n}", "P", "1", "1.00", "Acme"] for n, day in enumerate(["11/02/2026", "13/45/2026"])]
    run = ingest(csv_bytes(rows))
    assert_every_row_accounted(run, 2)
    assert [line.invoice_date for line in run.lines] == ["2026-11-02"]
    assert run.counts.rejected == 1


def test_slash_dates_that_read_only_month_first_keep_the_file_month_first() -> None:
    # "25/03" reads only day-first, "03/25" and "04/26" only month-first: the sample contradicts itself, so
    # the file stays month-first (the default) and the one day-first row is the reject.
    rows = [["Invoice Date", "Invoice", "Part", "Qty", "Amount", "Customer"]]
    dates = ["03/25/2026", "04/26/2026", "25/03/2026"]
    rows += [[day, f"I{n}", "P", "1", "1.00", "Acme"] for n, day in enumerate(dates)]
    run = ingest(csv_bytes(rows))
    assert_every_row_accounted(run, 3)
    assert [line.invoice_date for line in run.lines] == ["2026-03-25", "2026-04-26"]
    assert run.counts.rejected == 1


def test_utf16_tab_text_as_excel_saves_unicode_text() -> None:
    rows = [
        ["Invoice Date", "Invoice No", "MPN", "Qty", "Ext Resale", "End Customer"],
        ["2026-06-01", "U1", "P1", "2", "4.00", "Zoë Ltd"],
    ]
    data = codecs.BOM_UTF16_LE + csv_bytes(rows, delimiter="\t").decode().encode("utf-16-le")
    run = ingest(data)
    assert run.outcome.layout.encoding == "utf-16"
    assert run.lines[0].end_customer == "Zoë Ltd" and run.amount() == Decimal("4.00")


def test_xlsx_with_title_row_datetime_cells_and_totals_row() -> None:
    rows = [
        ["Q2 POS report - Northwind"],
        [],
        [
            "Invoice Date",
            "Invoice #",
            "Line",
            "Part Number",
            "Ship Qty",
            "Unit Resale",
            "Ext Resale",
            "End Customer",
        ],
        [datetime(2026, 4, 2), "N-1", 1, "LM358", 100, 0.12, 12.0, "Acme Corp"],
        [datetime(2026, 4, 3), "N-1", 2, "NE555", 3, 0.1, 0.3, "Acme Corp"],
        ["2026-04-04", "N-2", 1, "NE555", -1, 0.1, -0.1, "Globex Inc"],
        [None, None, None, None, None, None, 12.2, None],
        ["Total", None, None, None, None, None, 12.2, None],
    ]
    run = ingest(xlsx_bytes(rows), name="report.XLSX")
    assert run.outcome.layout.file_format == "xlsx" and run.outcome.layout.header_row == 3
    assert_every_row_accounted(run, 5)
    assert run.counts.accepted == 3 and run.counts.footer == 1
    assert run.reasons() == {7: "missing invoice_number; missing part_number; missing line; missing invoice_date; "
                             "missing quantity; missing end_customer"}  # fmt: skip
    assert run.amount() == Decimal("12.20")
    assert [line.invoice_date for line in run.lines] == ["2026-04-02", "2026-04-03", "2026-04-04"]


def test_shipped_profiles_validate_and_read_their_files() -> None:
    # Given the German distributor's shipped profile (explicit columns, footer line, cp1252)
    profile = parse_profile(
        (ROOT / "config/distributors/elektro-mueller.yaml").read_text(), "elektro-mueller"
    )
    rows = german_rows()
    rows[2] = ["Rechnungsdatum", "Rechnungsnummer", "Pos", "Artikelnummer", "Menge", "Einzelpreis", "Betrag",
               "Währung", "Endkunde", "Land", "PLZ"]  # fmt: skip
    body = [
        [
            "04.03.2026",
            "R-1",
            "1",
            "BAV99",
            "1.000",
            "0,0425",
            "42,50",
            "",
            "Müller Elektronik GmbH",
            "DE",
            "80331",
        ],
        [
            "04.03.26",
            "R-1",
            "2",
            "BC847",
            "10",
            "1,25",
            "12,50",
            "EUR",
            "Müller Elektronik GmbH",
            "DE",
            "80331",
        ],
        ["Gesamt", "", "", "", "", "", "55,00", "", "", "", ""],
    ]
    data = csv_bytes([rows[0], rows[1], rows[2], *body], delimiter=";", encoding="cp1252")
    run = ingest(data, profile=profile)
    assert_every_row_accounted(run, 3)
    assert run.counts.accepted == 2 and run.counts.footer == 1
    assert run.amount("EUR") == Decimal("55.00")
    assert run.lines[0].country == "DE" and run.lines[0].postal_code == "80331"
    for path in (ROOT / "config/distributors").glob("*.yaml"):
        parse_profile(path.read_text(), path.stem)


def test_a_file_without_the_required_columns_is_refused_with_the_reason() -> None:
    with pytest.raises(LayoutError, match="no header row found"):
        ingest(csv_bytes([["Foo", "Bar"], ["1", "2"]]))


def test_a_workbook_over_the_profiles_size_limit_is_refused_with_the_reason() -> None:
    # Given a workbook of a little over 1 MiB and a profile that allows 1 MiB
    rows = [["Invoice Date", "Invoice", "Part", "Qty", "Unit Price", "Ext", "End Customer"]]
    noise = [hashlib.sha256(str(n).encode()).hexdigest() for n in range(20_000)]  # compresses poorly
    rows += [
        ["2026-11-02", f"INV{n}", f"P-{noise[n]}", 1, 1.0, 1.0, f"Customer {noise[n][:12]}"]
        for n in range(20_000)
    ]
    data = xlsx_bytes(rows)
    assert len(data) > 1024 * 1024
    profile = parse_profile("id: big\nmax_workbook_mb: 1\n", "big")
    # Then it is refused naming the limit, before anything is read
    with pytest.raises(LayoutError, match="larger than 1 MiB"):
        ingest(data, name="big.xlsx", profile=profile)


def test_a_bad_profile_is_refused_with_each_field_and_reason() -> None:
    from pos_ingest.profile import ProfileError

    document = (
        "id: acme\ndelimiter: ':'\ndate_formats: ['%d/%m']\ncolumns: {qty: Menge}\ndefault_currency: XYZ\n"
    )
    with pytest.raises(ProfileError) as refused:
        parse_profile(document, "acme")
    message = str(refused.value)
    for expected in (
        "delimiter:",
        "date_formats:",
        "columns:",
        "default_currency:",
        "'XYZ' is not an ISO 4217",
    ):
        assert expected in message
    with pytest.raises(ProfileError, match="does not match the file name"):
        parse_profile("id: other\n", "acme")


@pytest.mark.parametrize("ending", [b"\n", b"\r", b"\r\n"], ids=["LF", "CR", "CRLF"])
def test_line_endings_and_a_stray_byte_before_a_break_read_alike(ending: bytes) -> None:
    # Given a file with LF, CR or CRLF line breaks (chunks decoded whole and cut at LF, or line by line),
    # a byte that is not UTF-8 at the end of a line, and a blank line and a bad row among many plain ones
    rows: list[list[str]] = [["Invoice Date", "Invoice No", "Line", "MPN", "Qty", "Unit Price", "Ext Resale",
                              "End Customer"]]  # fmt: skip
    rows += [["11/02/2026", f"INV{i // 2}", str(i % 2 + 1), "BC847", "3", "1.25", "3.75", "Acme Corporation"]
             for i in range(3000)]  # fmt: skip
    rows[1200][3] = ""  # missing part: a reject
    data = csv_bytes(rows).replace(b"Acme Corporation\r\n", b"Acme Corporation\xe9\r\n", 1)  # cp1252 é
    data = data.replace(b"\r\n", ending)
    cut = data.index(ending, len(data) // 2) + len(ending)
    data = data[:cut] + ending + data[cut:]  # a blank line
    # When it is ingested
    run = ingest(data)
    # Then every line is read as the CRLF file reads it: the stray byte as cp1252, the blank line skipped
    assert_every_row_accounted(run, 3001)
    assert (run.counts.accepted, run.counts.rejected, run.counts.blank) == (2999, 1, 1)
    assert run.lines[0].end_customer == "Acme Corporationé"
    assert run.reasons() == {1201: "missing part_number"}
    assert run.amount() == Decimal("3.75") * 2999
