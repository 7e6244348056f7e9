"""The lead form's parser: JSON and urlencoded bodies, every bad field named, normalisation."""

from decimal import Decimal

import pytest
from leads_webhook.submission import (
    FIELD_LIMITS,
    UnsupportedMediaTypeError,
    normalise_lead,
    parse_lead_body,
    parse_lead_fields,
)

from shared.config_schemas.leads import LeadsConfig, default_leads_config

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def test_json_body_with_every_field_parses():
    # Given a JSON body with every field of the design
    body = (
        b'{"email": "Ann@Example.COM", "first_name": "Ann", "last_name": "Lee", "company": "Acme",'
        b' "title": "CTO", "phone": "(415) 555-2671", "country": "United States", "state": "California",'
        b' "postal_code": "94107", "employees": 1200, "annual_revenue": 25000000.5, "industry": "Robotics",'
        b' "product_interest": "sensors", "campaign": "spring", "utm_source": "google", "utm_medium": "cpc",'
        b' "utm_campaign": "brand", "message": "Hello\\nthere", "marketing_opt_in": true, "website": ""}'
    )
    # When it is parsed
    result = parse_lead_body(body, "application/json; charset=utf-8")
    # Then every field is there, normalised where the design says so
    assert result.ok, result.errors
    sub = result.submission
    assert sub.email == "Ann@Example.COM"
    assert sub.country == "US"
    assert sub.state == "CA"
    assert sub.employees == 1200
    assert sub.annual_revenue == Decimal("25000000.5")
    assert sub.message == "Hello\nthere"
    assert sub.marketing_opt_in is True
    assert sub.website is None


def test_form_body_parses_with_form_booleans_and_numbers_as_text():
    body = b"email=bob%40example.com&marketing_opt_in=on&employees=1%2C200&annual_revenue=%242%2C500%2C000"
    result = parse_lead_body(body, FORM)
    assert result.ok, result.errors
    assert result.submission.marketing_opt_in is True
    assert result.submission.employees == 1200
    assert result.submission.annual_revenue == Decimal("2500000")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("on", True),
        ("true", True),
        ("1", True),
        ("YES", True),
        ("off", False),
        ("false", False),
        ("0", False),
        ("", None),
    ],
)
def test_form_booleans(text, expected):
    result = parse_lead_fields({"email": "a@b.co", "marketing_opt_in": text})
    assert result.ok
    assert result.submission.marketing_opt_in is expected


def test_repeated_form_name_takes_the_last_value():
    # A hidden "false" before the checkbox is the usual way to post an unchecked box.
    result = parse_lead_body(b"email=a%40b.co&marketing_opt_in=false&marketing_opt_in=on", FORM)
    assert result.submission.marketing_opt_in is True


def test_every_bad_field_is_named_once():
    # Given a body with several bad fields
    body = (
        b'{"email": "not-an-email", "employees": "many", "annual_revenue": -5, "country": "Narnia",'
        b' "marketing_opt_in": "perhaps", "first_name": "' + b"x" * 101 + b'"}'
    )
    # When it is parsed
    result = parse_lead_body(body, JSON)
    # Then each bad field is named with a reason, and nothing else
    assert not result.ok
    fields = [e.field for e in result.errors]
    assert sorted(fields) == sorted(
        ["email", "employees", "annual_revenue", "country", "marketing_opt_in", "first_name"]
    )
    assert all(e.message for e in result.errors)


def test_missing_and_empty_email_are_required():
    assert [e.as_dict() for e in parse_lead_fields({}).errors] == [
        {"field": "email", "message": "Field required"}
    ]
    assert parse_lead_fields({"email": "  "}).errors[0].message == "is required"


@pytest.mark.parametrize("field", sorted(set(FIELD_LIMITS) - {"email", "country"}))
def test_length_limits(field):
    limit = FIELD_LIMITS[field]
    assert parse_lead_fields({"email": "a@b.co", field: "x" * limit}).ok
    errors = parse_lead_fields({"email": "a@b.co", field: "x" * (limit + 1)}).errors
    assert [e.field for e in errors] == [field]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1, 2]", "must be a JSON object"),
        (b"{nope", "is not valid JSON"),
        (b"", "must be a JSON object"),
        (b"\xff\xfe", "is not valid UTF-8"),
        (b"[" * 100_000, "is not valid JSON"),
    ],
)
def test_bodies_that_are_not_an_object_are_a_body_error(body, message):
    assert [e.as_dict() for e in parse_lead_body(body, JSON).errors] == [
        {"field": "body", "message": message}
    ]


@pytest.mark.parametrize("content_type", [None, "", "text/plain", "multipart/form-data; boundary=x"])
def test_other_media_types_are_refused(content_type):
    with pytest.raises(UnsupportedMediaTypeError):
        parse_lead_body(b"email=a@b.co", content_type)


def test_booleans_are_not_numbers_and_numbers_are_text_where_text_is_expected():
    result = parse_lead_fields({"email": "a@b.co", "employees": True, "postal_code": 94107})
    assert [e.field for e in result.errors] == ["employees"]
    assert parse_lead_fields({"email": "a@b.co", "postal_code": 94107}).submission.postal_code == "94107"


def test_single_line_fields_lose_control_characters_and_message_keeps_lines():
    result = parse_lead_fields(
        {"email": "a@b.co", "first_name": "Ann\r\nBcc: evil@x.com", "message": "line 1\r\nline 2\x00"}
    )
    assert result.submission.first_name == "Ann Bcc: evil@x.com"
    assert result.submission.message == "line 1\nline 2"


@pytest.mark.parametrize(
    ("given", "code"),
    [
        ("DE", "DE"),
        ("deu", "DE"),
        ("Germany", "DE"),
        ("United Kingdom", "GB"),
        ("UK", "GB"),
        ("U.S.A.", "US"),
        ("south korea", "KR"),
    ],
)
def test_country_names_and_codes_become_alpha_2(given, code):
    assert parse_lead_fields({"email": "a@b.co", "country": given}).submission.country == code


def test_form_timing_accepts_unix_seconds_and_iso_times():
    by_number = parse_lead_fields({"email": "a@b.co", "form_rendered_at": "1700000000"}).submission
    by_iso = parse_lead_fields({"email": "a@b.co", "form_rendered_at": "2023-11-14T22:13:20"}).submission
    assert by_number.form_rendered_at == by_iso.form_rendered_at
    assert by_iso.form_rendered_at.tzinfo is not None


def test_normalised_lead_has_identity_e164_phone_and_bands():
    # Given a submission and the shipped bands
    sub = parse_lead_fields(
        {
            "email": " Ann@Example.COM ",
            "phone": "030 1234567",
            "country": "DE",
            "employees": "60",
            "annual_revenue": "2000000",
        }
    ).submission
    # When it is normalised
    lead = normalise_lead(sub, default_leads_config())
    # Then
    assert lead.email_key == "ann@example.com"
    assert lead.email_domain == "example.com"
    assert lead.phone == "+49301234567"
    assert lead.phone_raw == "030 1234567"
    assert lead.phone_valid
    assert lead.employee_band == "50-249"
    assert lead.revenue_band == "1M-10M"
    assert lead.segments == {"employee_band": "50-249", "revenue_band": "1M-10M"}


def test_a_phone_that_does_not_parse_is_kept_raw():
    sub = parse_lead_fields({"email": "a@b.co", "phone": "call me maybe"}).submission
    lead = normalise_lead(sub, default_leads_config())
    assert lead.phone == "call me maybe"
    assert not lead.phone_valid


def test_band_edges():
    config = LeadsConfig.model_validate(
        {
            "employee_bands": [{"name": "small", "min": 0}, {"name": "big", "min": 100}],
            "revenue_bands": [{"name": "any", "min": 0}],
        }
    )
    assert config.employee_band(0) == "small"
    assert config.employee_band(99) == "small"
    assert config.employee_band(100) == "big"
    assert config.employee_band(None) is None
