"""Trade-show CSV files: header synonyms, the same validation per row, the file name as campaign."""

import pytest
from leads_webhook.trade_show import canonical_field, parse_trade_show_csv


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("E-mail", "email"),
        ("Email Address", "email"),
        ("EMAIL", "email"),
        ("\ufeffEmail", "email"),
        ("Company Name", "company"),
        ("First Name", "first_name"),
        ("Surname", "last_name"),
        ("Zip Code", "postal_code"),
        ("Job Title", "title"),
        ("No. of Employees", "employees"),
        ("Opt-In", "marketing_opt_in"),
        ("Badge ID", None),
    ],
)
def test_header_synonyms(header, field):
    assert canonical_field(header) == field


def test_rows_are_validated_like_the_form():
    # Given a CSV with synonyms, a bad row and a blank row
    data = (
        b"E-mail,First Name,Company Name,Country,Employees,Badge ID\r\n"
        b"ann@example.com,Ann,Acme,Germany,120,B1\r\n"
        b"not-an-email,Bob,Beta,Narnia,lots,B2\r\n"
        b",,,,,\r\n"
        b"cy@example.com,Cy,Gamma,US,,B3\r\n"
    )
    # When it is parsed
    parsed = parse_trade_show_csv(data, campaign="expo-2026")
    # Then each row has its spreadsheet row number and its own result
    assert parsed.errors == []
    assert parsed.ignored_columns == ["Badge ID"]
    assert [r.row_number for r in parsed.rows] == [2, 3, 4, 5]
    first, bad, blank, last = parsed.rows
    assert first.result.submission.country == "DE"
    assert first.result.submission.campaign == "expo-2026"
    assert sorted(e.field for e in bad.result.errors) == ["country", "email", "employees"]
    assert blank.blank and not blank.result.ok
    assert last.result.ok


def test_a_campaign_column_wins_over_the_file_name():
    parsed = parse_trade_show_csv(b"Email,Campaign\na@b.co,booth-7\nc@d.co,\n", campaign="expo")
    assert [r.result.submission.campaign for r in parsed.rows] == ["booth-7", "expo"]


def test_semicolon_files_and_windows_1252_are_read():
    data = "Email Address;Company;Last Name\nann@example.com;Caf\xe9 GmbH;M\xfcller\n".encode("cp1252")
    parsed = parse_trade_show_csv(data, campaign="x")
    sub = parsed.rows[0].result.submission
    assert (sub.company, sub.last_name) == ("Caf\xe9 GmbH", "M\xfcller")


def test_a_file_without_an_email_column_is_refused_whole():
    parsed = parse_trade_show_csv(b"Name,Company\nAnn,Acme\n", campaign="x")
    assert parsed.rows == []
    assert parsed.errors[0].field == "file"
    assert "email column" in parsed.errors[0].message


def test_an_empty_file_is_refused():
    assert parse_trade_show_csv(b"", campaign="x").errors[0].message == "is empty"


def test_short_rows_and_ten_thousand_rows():
    rows = "".join(f"lead{i}@example.com,Co {i}\n" for i in range(10_000))
    parsed = parse_trade_show_csv(("Email,Company\n" + rows + "x@y.co\n").encode(), campaign="big")
    assert len(parsed.rows) == 10_001
    assert all(r.result.ok for r in parsed.rows)
