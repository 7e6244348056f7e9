"""Real browsers against the local hub: headless Chromium (Debian's) driven by playwright.

Pages are served on two loopback origins: ``http://127.0.0.1:<port>`` (allowed by the example
config/leads.yaml, which allows localhost and 127.0.0.1 on any port) and ``http://127.0.0.2:<port>``
(not allowed). The ``browser`` and ``shots`` fixtures are in ``tests/e2e/conftest.py``.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from hub.form_snippet import form_snippet
from hub.local.inspect import emails_to

pytestmark = pytest.mark.e2e

JONAS = "jonas.weber@example.com"  # config/routing.yaml: rule emea (country DE) goes to rep-jonas


class Pages:
    """A tiny static site on one loopback address: path -> HTML."""

    def __init__(self, host: str) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                body = pages.get(self.path.split("?", 1)[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("content-type", "text/html; charset=utf-8")
                data = (body or "not found").encode()
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.origin = f"http://{host}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def sites() -> Iterator[tuple[Pages, Pages]]:
    allowed, other = Pages("127.0.0.1"), Pages("127.0.0.2")
    for site in (allowed, other):
        site.pages["/page.html"] = "<!doctype html><title>landing page</title><h1>Landing page</h1>"
        site.pages["/thanks.html"] = (
            "<!doctype html><title>Thanks</title><h1>Thanks from the landing page</h1>"
        )
    yield allowed, other
    allowed.close()
    other.close()


def _lead_exists(local_hub: dict[str, Any], email: str) -> int:
    from leads_webhook.intake import lead_id_of_email

    request = urllib.request.Request(
        f"{local_hub['api_url']}/leads/{lead_id_of_email(email)}",
        headers={"authorization": f"Bearer {local_hub['api_token']}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


FETCH = """async ([api, lead]) => {
  try {
    const answer = await fetch(api + "/leads", {method: "POST", headers: {"content-type": "application/json"},
                                                body: JSON.stringify(lead)});
    return {status: answer.status, body: await answer.json()};
  } catch (error) {
    return {error: String(error)};
  }
}"""


def test_a_page_on_an_allowed_origin_posts_json_with_fetch_and_gets_202(local_hub, sites, browser):
    allowed, _ = sites
    page = browser.new_page()
    page.goto(f"{allowed.origin}/page.html")
    email = f"fetch.{time.time_ns()}@example.com"
    result = page.evaluate(FETCH, [local_hub["api_url"], {"email": email, "country": "DE"}])
    assert result.get("status") == 202, result
    assert result["body"]["status"] == "received"
    assert _lead_exists(local_hub, email) == 200
    page.close()


def test_a_page_on_another_origin_is_refused_by_the_browser(local_hub, sites, browser):
    _, other = sites
    page = browser.new_page()
    page.goto(f"{other.origin}/page.html")
    email = f"refused.{time.time_ns()}@example.com"
    result = page.evaluate(FETCH, [local_hub["api_url"], {"email": email, "country": "DE"}])
    assert result == {"error": "TypeError: Failed to fetch"}
    # The preflight was refused, so the browser never sent the lead.
    assert _lead_exists(local_hub, email) == 404
    page.close()


def _form_page(local_hub: dict[str, Any], return_url: str | None) -> str:
    snippet = form_snippet(local_hub["api_url"], source="browser-test", return_url=return_url)
    if return_url is None:  # a form without a return URL (the hub's thank-you page)
        snippet = "\n".join(line for line in snippet.splitlines() if 'name="return_url"' not in line)
    return f"<!doctype html><title>Contact us</title><h1>Contact us</h1>{snippet}"


def _fill_and_send(page: Any, email: str) -> None:
    page.fill("#hub-email", email)
    page.fill("#hub-first_name", "Brow")
    page.fill("#hub-company", "Chromium Werke")
    page.fill("#hub-country", "Germany")
    page.wait_for_timeout(3300)  # a person takes longer than spam.min_fill_seconds (3 s)
    with page.expect_navigation():
        page.click("button[type=submit]")


def test_a_plain_html_form_lands_on_its_thank_you_url_and_the_outbox_shows_the_alert(
    local_hub, sites, browser, shots, wait_for
):
    allowed, _ = sites
    allowed.pages["/contact.html"] = _form_page(local_hub, f"{allowed.origin}/thanks.html")
    page = browser.new_page()
    page.goto(f"{allowed.origin}/contact.html")
    email = f"form.{time.time_ns()}@example.com"
    _fill_and_send(page, email)
    assert page.url == f"{allowed.origin}/thanks.html"
    assert page.inner_text("h1") == "Thanks from the landing page"

    # The rep's alert for that lead is in the local outbox, and its page shows it.
    alerts = wait_for(
        lambda: [m for m in emails_to(local_hub["aws_endpoint_url"], JONAS) if email in m["body"]],
        timeout=15, what="Jonas's alert",
    )  # fmt: skip
    page.goto(f"{local_hub['api_url']}/_hub/outbox")
    link = page.locator(f'a[href="/_hub/outbox/{alerts[0]["id"]}"]')
    assert link.inner_text() == "New prospect assigned: Brow (Chromium Werke)"
    assert JONAS in page.locator("tr", has=link).inner_text()
    page.screenshot(path=str(shots / "outbox.png"), full_page=True)
    link.click()
    page.wait_for_load_state()
    assert JONAS in page.inner_text(".meta")
    frame = page.frame_locator("iframe")
    assert email in frame.locator("body").inner_text()
    assert email in page.inner_text("pre")
    page.screenshot(path=str(shots / "outbox-message.png"), full_page=True)
    page.close()


def test_a_form_without_a_return_url_shows_the_hubs_thank_you_page(local_hub, sites, browser, shots):
    allowed, _ = sites
    allowed.pages["/contact-plain.html"] = _form_page(local_hub, None)
    page = browser.new_page()
    page.goto(f"{allowed.origin}/contact-plain.html")
    _fill_and_send(page, f"plain.{time.time_ns()}@example.com")
    assert page.url == f"{local_hub['api_url']}/leads"
    assert page.inner_text("h1") == "Thank you!"
    page.screenshot(path=str(shots / "thank-you.png"), full_page=True)
    page.close()


def test_a_return_url_on_a_host_not_on_the_list_is_not_followed(local_hub, sites, browser):
    allowed, other = sites
    allowed.pages["/contact-evil.html"] = _form_page(local_hub, f"{other.origin}/thanks.html")
    page = browser.new_page()
    page.goto(f"{allowed.origin}/contact-evil.html")
    email = f"evil.return.{time.time_ns()}@example.com"
    _fill_and_send(page, email)
    assert page.url == f"{local_hub['api_url']}/leads"  # stayed on the hub: the redirect was refused
    assert page.inner_text("h1") == "Thank you!"
    assert _lead_exists(local_hub, email) == 200  # and the lead was kept all the same
    page.close()


def test_read_routes_never_answer_cross_origin(local_hub, sites, browser):
    allowed, _ = sites
    page = browser.new_page()
    page.goto(f"{allowed.origin}/page.html")
    result = page.evaluate(
        """async ([api, token]) => {
             try { const r = await fetch(api + "/pos/unmatched", {headers: {authorization: "Bearer " + token}});
                   return {status: r.status}; }
             catch (error) { return {error: String(error)}; }
           }""",
        [local_hub["api_url"], local_hub["api_token"]],
    )
    assert result == {"error": "TypeError: Failed to fetch"}
    page.close()


def test_outbox_json_answers_one_recipient_quickly(local_hub):
    started = time.monotonic()
    with urllib.request.urlopen(
        f"{local_hub['aws_endpoint_url']}/_hub/outbox.json?to={JONAS}&last=5"
    ) as answer:
        messages = json.load(answer)["messages"]
    assert time.monotonic() - started < 2
    assert all(JONAS in m["destinations"]["ToAddresses"] for m in messages)


def test_the_local_hub_serves_swagger_ui_from_the_contract(local_hub, browser, shots):
    page = browser.new_page()
    page.goto(f"{local_hub['api_url']}/_hub/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    document = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
    operations = sum(len(ops) for ops in document["paths"].values())
    assert page.locator(".opblock").count() == operations
    assert "CRM integration hub" in page.inner_text(".information-container")
    page.screenshot(path=str(shots / "swagger-ui.png"))
    page.close()
