"""Browsers and POST /leads: allowed origins, CORS preflight, multipart forms, return URLs, thank-you pages."""

from __future__ import annotations

import json

import pytest
from leads_webhook.intake import LeadPost, receive_lead_post
from leads_webhook.web import decode_multipart, preflight, shape_answer
from pydantic import ValidationError

from shared.config_schemas.leads import default_leads_config, load_leads_config
from shared.origins import CorsSettings
from shared.validation import ConfigDocumentError
from tests.unit.leads.leads_fakes import services

CORS = default_leads_config().cors
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
FORM = "application/x-www-form-urlencoded"


def multipart(
    fields: dict[str, str], files: dict[str, bytes] | None = None, boundary: str = "b0undary"
) -> bytes:
    out = b""
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    for name, data in (files or {}).items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{name}.bin"\r\n'.encode()
        out += b"Content-Type: application/octet-stream\r\n\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


# ---------------------------------------------------------------------------------------------- origins


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://localhost:5173", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost", True),
        ("http://LOCALHOST:3000", True),
        ("https://localhost:3000", False),
        ("http://127.0.0.2:8080", False),
        ("http://localhost.evil.example:80", False),
        ("http://evil.example", False),
        ("null", False),
        ("http://localhost:5173/path", False),
        (None, False),
    ],
)
def test_the_example_configuration_allows_localhost_on_any_port(origin, allowed):
    assert CORS.allows_origin_header(origin) is allowed


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/thanks",
        "http://localhost@evil.example/",
        "http://localhost:80@evil.example/",
        "http://evil.example\\@localhost/",
        "http://evil.example/?next=http://localhost/",
        "//localhost/thanks",
        "/thanks",
        "javascript:alert(1)//http://localhost",
        "http://localhost/\nLocation: http://evil.example",
        "http://localhost:99999/",
        "ftp://localhost/",
        "http://127.0.0.2/",
    ],
)
def test_a_return_url_off_the_list_is_never_followed(url):
    assert not CORS.allows_return_url(url)


def test_a_return_url_on_an_allowed_origin_is_followed():
    assert CORS.allows_return_url("http://localhost:8000/thanks.html?from=form#top")
    assert CORS.allows_return_url("http://127.0.0.1/thanks")


def test_exact_origins_default_ports_and_subdomain_wildcards():
    cors = CorsSettings(allowed_origins=["https://www.example.com", "https://*.shop.example.org"])
    assert cors.allows_origin_header("https://www.example.com")
    assert cors.allows_origin_header("https://www.example.com:443")
    assert not cors.allows_origin_header("https://www.example.com:8443")
    assert not cors.allows_origin_header("http://www.example.com")
    assert cors.allows_origin_header("https://eu.shop.example.org")
    assert not cors.allows_origin_header("https://shop.example.org")
    assert not cors.allows_origin_header("https://evilshop.example.org")


@pytest.mark.parametrize(
    "bad", ["*", "http://x.example/path", "localhost:3000", "https://*.com", "http://a b", "http://x:0"]
)
def test_configured_origins_are_validated(bad):
    with pytest.raises(ValidationError):
        CorsSettings(allowed_origins=[bad])


def test_leads_yaml_with_a_bad_origin_is_refused_naming_the_field():
    text = "employee_bands: [{name: a, min: 0}]\nrevenue_bands: [{name: a, min: 0}]\ncors: {allowed_origins: ['*']}\n"
    with pytest.raises(ConfigDocumentError) as refused:
        load_leads_config(text)
    assert refused.value.errors[0].field == "cors.allowed_origins"


# -------------------------------------------------------------------------------------------- preflight


def test_preflight_from_an_allowed_origin_answers_204_with_the_origin_echoed():
    status, headers = preflight(
        {"Origin": "http://localhost:5173", "Access-Control-Request-Method": "POST",
         "Access-Control-Request-Headers": "content-type"}, CORS,
    )  # fmt: skip
    assert status == 204
    assert headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert "content-type" in headers["Access-Control-Allow-Headers"]
    assert headers["Access-Control-Allow-Methods"] == "POST, OPTIONS"
    assert headers["Vary"] == "Origin"


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        {"Origin": "http://localhost:5173", "Access-Control-Request-Method": "DELETE"},
        {"Access-Control-Request-Method": "POST"},
    ],
)
def test_preflight_from_anywhere_else_is_refused_without_cors_headers(headers):
    status, answer = preflight(headers, CORS)
    assert status == 403
    assert not any(k.lower().startswith("access-control-") for k in answer)


# ---------------------------------------------------------------------------------------------- forms


def test_multipart_fields_are_decoded_as_utf_8():
    body = multipart({"email": "jose@example.com", "first_name": "José", "company": "Ünïcode GmbH"})
    assert decode_multipart(body, "multipart/form-data; boundary=b0undary") == {
        "email": "jose@example.com", "first_name": "José", "company": "Ünïcode GmbH",
    }  # fmt: skip


def test_a_multipart_form_is_accepted_like_an_urlencoded_one():
    svc = services()
    body = multipart({"email": "mp@example.com", "country": "Germany", "marketing_opt_in": "on"})
    answer = receive_lead_post(LeadPost(body, "multipart/form-data; boundary=b0undary", "203.0.113.5"), svc)
    assert answer.status == 202
    lead = svc.leads.get(answer.body["lead_id"])
    assert (lead.email, lead.country, lead.marketing_opt_in) == ("mp@example.com", "DE", True)


def test_a_file_part_is_refused_with_its_field_named_and_nothing_is_stored():
    svc = services()
    body = multipart({"email": "cv@example.com"}, files={"resume": b"%PDF-1.7 \x00\xff"})
    answer = receive_lead_post(LeadPost(body, "multipart/form-data; boundary=b0undary", "203.0.113.5"), svc)
    assert answer.status == 422
    assert answer.body["errors"] == [
        {"field": "resume", "message": "file uploads are not accepted: send the field as text"}
    ]
    assert svc.leads.leads == {}


@pytest.mark.parametrize("body", [b"", b"no parts here", b"--other\r\n\r\n--other--"])
def test_a_broken_multipart_body_is_a_422_not_a_crash(body):
    answer = receive_lead_post(
        LeadPost(body, "multipart/form-data; boundary=b0undary", "203.0.113.5"), services()
    )
    assert answer.status == 422


def test_415_names_the_three_accepted_types():
    answer = receive_lead_post(LeadPost(b"x", "text/plain", "203.0.113.5"), services())
    assert answer.status == 415
    assert "multipart/form-data" in answer.body["errors"][0]["message"]


# ------------------------------------------------------------------------------------ answer shaping

ACCEPTED = {"lead_id": "abc", "status": "received"}


def shaped(status, body, request_body, headers):
    return shape_answer(status, body, {}, request_body=request_body, request_headers=headers,
                        config=default_leads_config())  # fmt: skip


def test_a_form_with_an_allowed_return_url_answers_303_to_it():
    form = b"email=a%40example.com&return_url=http%3A%2F%2Flocalhost%3A8000%2Fthanks.html"
    web = shaped(202, ACCEPTED, form, {"content-type": FORM, "accept": BROWSER})
    assert (web.status, web.headers["Location"]) == (303, "http://localhost:8000/thanks.html")


def test_a_multipart_form_with_an_allowed_return_url_answers_303_to_it():
    body = multipart({"email": "a@example.com", "return_url": "http://127.0.0.1:9000/done"})
    web = shaped(202, ACCEPTED, body, {"content-type": "multipart/form-data; boundary=b0undary"})
    assert (web.status, web.headers["Location"]) == (303, "http://127.0.0.1:9000/done")


def test_a_return_url_elsewhere_is_not_followed_the_browser_gets_the_thank_you_page():
    form = b"email=a%40example.com&return_url=https%3A%2F%2Fevil.example%2Fphish"
    web = shaped(202, ACCEPTED, form, {"content-type": FORM, "accept": BROWSER})
    assert web.status == 200 and "Location" not in web.headers
    assert "Thank you" in web.body
    assert web.note and "return_url refused" in web.note


def test_a_browser_form_without_return_url_gets_a_thank_you_page():
    web = shaped(202, ACCEPTED, b"email=a%40example.com", {"content-type": FORM, "accept": BROWSER})
    assert (web.status, web.content_type) == (200, "text/html; charset=utf-8")
    assert "Thank you" in web.body
    assert "default-src 'none'" in web.headers["Content-Security-Policy"]


def test_json_clients_and_scripts_posting_forms_keep_202_json():
    web = shaped(
        202, ACCEPTED, json.dumps({"email": "a@example.com"}).encode(), {"content-type": "application/json"}
    )
    assert (web.status, web.content_type, web.body) == (202, "application/json", ACCEPTED)
    web = shaped(202, ACCEPTED, b"email=a%40example.com", {"content-type": FORM, "accept": "*/*"})
    assert (web.status, web.content_type, web.body) == (202, "application/json", ACCEPTED)


def test_a_json_body_never_redirects_even_with_a_return_url():
    body = json.dumps({"email": "a@example.com", "return_url": "http://localhost:8000/x"}).encode()
    web = shaped(202, ACCEPTED, body, {"content-type": "application/json", "accept": BROWSER})
    assert web.status == 202


def test_a_browser_form_with_bad_fields_gets_a_page_naming_them_escaped():
    errors = {"errors": [{"field": "email", "message": "is not a valid <email> address"}]}
    web = shaped(422, errors, b"email=nope", {"content-type": FORM, "accept": BROWSER})
    assert web.status == 422 and "&lt;email&gt;" in web.body and "<email>" not in web.body


def test_answers_to_an_allowed_page_carry_its_origin_and_others_do_not():
    allowed = shaped(
        202, ACCEPTED, b"{}", {"content-type": "application/json", "origin": "http://localhost:3000"}
    )
    other = shaped(
        202, ACCEPTED, b"{}", {"content-type": "application/json", "origin": "https://evil.example"}
    )
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://localhost:3000"
    assert "Access-Control-Allow-Origin" not in other.headers
    assert allowed.headers["Vary"] == other.headers["Vary"] == "Origin"
