"""`hub leads form-snippet`: the pasted form carries what the intake and the spam check read."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlencode

from leads_webhook.intake import LeadPost, receive_lead_post

from hub.form_snippet import form_snippet, return_url_problem
from shared.config_schemas.leads import default_leads_config
from tests.unit.leads.leads_fakes import services


class Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.form: dict[str, str] = {}
        self.inputs: dict[str, dict[str, str | None]] = {}

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self.form = {k: v or "" for k, v in attributes.items()}
        if tag in ("input", "textarea") and attributes.get("name"):
            self.inputs[str(attributes["name"])] = attributes


def parsed(html: str) -> Form:
    form = Form()
    form.feed(html)
    return form


def test_the_snippet_posts_to_the_api_with_fields_honeypot_timing_and_return_url():
    html = form_snippet(
        "http://127.0.0.1:8787/", source="spring-page", return_url="http://localhost:8000/thanks"
    )
    form = parsed(html)
    assert form.form["action"] == "http://127.0.0.1:8787/leads"
    assert form.form["method"] == "post"
    assert {"email", "first_name", "company", "country", "message", "marketing_opt_in"} <= set(form.inputs)
    assert form.inputs["website"]["tabindex"] == "-1"  # the honeypot, out of people's way
    assert form.inputs["form_rendered_at"]["type"] == "hidden"
    assert form.inputs["return_url"]["value"] == "http://localhost:8000/thanks"
    assert form.inputs["utm_source"]["value"] == "spring-page"
    assert "form_rendered_at.value = Math.floor" in html


def test_values_are_escaped_into_attributes():
    form = parsed(
        form_snippet("http://h", source='"><script>x</script>', return_url='http://localhost/?a="b"&c')
    )
    assert form.inputs["utm_source"]["value"] == '"><script>x</script>'
    assert form.inputs["return_url"]["value"] == 'http://localhost/?a="b"&c'


def test_what_the_snippet_posts_is_a_lead_and_a_bot_filling_everything_is_quarantined():
    svc = services()
    now = svc.clock.now.timestamp()

    def send(fields: dict[str, str]) -> str:
        body = urlencode(fields).encode()
        answer = receive_lead_post(LeadPost(body, "application/x-www-form-urlencoded", "203.0.113.1"), svc)
        assert answer.status == 202
        return answer.body["lead_id"]

    person = send({"email": "p@example.com", "country": "DE", "website": "", "return_url": "http://localhost/t",
                   "form_rendered_at": str(int(now - 40)), "form_elapsed_ms": "40000"})  # fmt: skip
    bot = send({"email": "b@example.com", "country": "DE", "website": "http://spam.example",
                "form_rendered_at": str(int(now)), "form_elapsed_ms": "300"})  # fmt: skip
    assert not svc.leads.get(person).quarantined
    assert svc.leads.get(bot).quarantined


def test_a_return_url_off_the_allowed_origins_is_pointed_out():
    config = default_leads_config()
    assert return_url_problem("http://localhost:3000/thanks", config) is None
    assert "not on an allowed origin" in str(return_url_problem("https://www.example.com/thanks", config))
