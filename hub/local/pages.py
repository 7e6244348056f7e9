"""The local hub's own pages: the outbox (``/_hub/outbox``) and the API's documentation (``/_hub/docs``).

Everything a message holds is escaped; a message's HTML part is shown in a sandboxed frame and served
with a ``sandbox`` Content-Security-Policy, so nothing in an email can run script in the hub's origin.
"""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import parse_qs, quote

from hub.local.outbox import Outbox, outbox_json

Reply = tuple[int, dict[str, str], bytes]

PAGE_HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-src 'self'; base-uri 'none'",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}
MESSAGE_HTML_HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "content-security-policy": "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 0; color: #1d2433; background: #f5f6f8; }
header { background: #1d2433; color: #fff; padding: .9rem 1.5rem; }
header a { color: #9cc3ff; }
main { padding: 1.25rem 1.5rem; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { text-align: left; padding: .5rem .75rem; border-bottom: 1px solid #e3e6ec; vertical-align: top; }
th { background: #eef1f6; font-weight: 600; }
td.when { white-space: nowrap; color: #5b6475; font-variant-numeric: tabular-nums; }
.meta { background: #fff; padding: 1rem 1.25rem; border-radius: 8px; margin-bottom: 1rem; }
.meta dt { font-weight: 600; float: left; width: 6rem; }
.meta dd { margin: 0 0 .35rem 6rem; }
iframe { width: 100%; height: 28rem; border: 1px solid #d5dae3; background: #fff; border-radius: 8px; }
pre { background: #fff; border: 1px solid #d5dae3; padding: 1rem; border-radius: 8px; white-space: pre-wrap; }
.empty { color: #5b6475; }
"""


def _page(title: str, content: str) -> bytes:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body><header><strong>Local hub</strong> · "
        f'<a href="/_hub/outbox">Outbox</a> · <a href="/_hub/docs">API docs</a></header>'
        f"<main>{content}</main></body></html>"
    ).encode()


def _to(message: dict[str, Any]) -> str:
    return ", ".join(message.get("destinations", {}).get("ToAddresses", []))


def outbox_list(outbox: Outbox, query: str) -> Reply:
    params = parse_qs(query)
    to = params["to"][0] if params.get("to") else None
    messages = outbox.messages(to=to, last=500)
    rows = "".join(
        f'<tr><td class="when">{html.escape(m["sent_at"][:19].replace("T", " "))}</td>'
        f"<td>{html.escape(_to(m))}</td>"
        f'<td><a href="/_hub/outbox/{quote(m["id"], safe="")}">{html.escape(m["subject"] or "(no subject)")}</a></td></tr>'
        for m in reversed(messages)
    )
    heading = f"Outbox: {len(messages)} email{'s' if len(messages) != 1 else ''}"
    if to:
        heading += f" to {html.escape(to)}"
    table = (
        f"<table><thead><tr><th>Sent (UTC)</th><th>To</th><th>Subject</th></tr></thead><tbody>{rows}</tbody></table>"
        if messages
        else '<p class="empty">No email sent yet.</p>'
    )
    return 200, PAGE_HEADERS, _page("Outbox", f"<h1>{heading}</h1><p>Newest first.</p>{table}")


def outbox_message(outbox: Outbox, message_id: str, view: str) -> Reply:
    message = outbox.get(message_id)
    if message is None:
        return 404, PAGE_HEADERS, _page("Not found", f"<h1>No email {html.escape(message_id)}</h1>")
    if view == "text":
        return (
            200,
            {"content-type": "text/plain; charset=utf-8", "cache-control": "no-store"},
            (message["text"] or message["body"] or "").encode(),
        )
    if view == "html":
        body = message["html"] or f"<pre>{html.escape(message['text'] or '')}</pre>"
        return 200, MESSAGE_HTML_HEADERS, body.encode()
    link = quote(message_id, safe="")
    meta = "".join(
        f"<dt>{name}</dt><dd>{html.escape(value)}</dd>"
        for name, value in (
            ("From", message["source"]), ("To", _to(message)), ("Subject", message["subject"]),
            ("Sent", message["sent_at"]), ("Id", message["id"]),
        )
    )  # fmt: skip
    content = (
        f'<p><a href="/_hub/outbox">← all emails</a></p><div class="meta"><dl>{meta}</dl></div>'
        f'<h2>As HTML</h2><iframe sandbox title="the email as HTML" src="/_hub/outbox/{link}/html"></iframe>'
        f'<h2>As text <small><a href="/_hub/outbox/{link}/text">raw</a></small></h2>'
        f"<pre>{html.escape(message['text'] or message['body'] or '')}</pre>"
    )
    return 200, PAGE_HEADERS, _page(message["subject"] or "Email", content)


def serve_outbox(outbox: Outbox, path: str, query: str) -> Reply | None:
    """The outbox's routes under ``/_hub/outbox``; None for a path that is not one."""
    if path == "/_hub/outbox.json":
        return outbox_json(outbox, query)
    if path in ("/_hub/outbox", "/_hub/outbox/"):
        return outbox_list(outbox, query)
    parts = path.removeprefix("/_hub/outbox/").split("/")
    if path.startswith("/_hub/outbox/") and 1 <= len(parts) <= 2 and parts[0]:
        view = parts[1] if len(parts) == 2 else "page"
        if view in ("page", "html", "text"):
            from urllib.parse import unquote

            return outbox_message(outbox, unquote(parts[0]), view)
    return None


# ------------------------------------------------------------------------------------- API documentation

_SWAGGER_ASSETS = {
    "/_hub/docs/swagger-ui-bundle.min.js": ("swagger-ui-bundle.min.js", "text/javascript; charset=utf-8"),
    "/_hub/docs/swagger-ui.min.css": ("swagger-ui.min.css", "text/css; charset=utf-8"),
}


def local_openapi(api_url: str) -> dict[str, Any]:
    """docs/openapi.json with the local hub as its server (Swagger UI's "Try it out" calls it)."""
    from hub.openapi import OPENAPI_PATH

    document: dict[str, Any] = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    document["servers"] = [
        {"url": api_url, "description": "this local hub (bearer: api_token in .hub/local.json)"}
    ]
    return document


def serve_docs(path: str, api_url: str, query: str = "") -> Reply | None:
    """Swagger UI at ``/_hub/docs`` (powertools' bundled copy: nothing is fetched from outside)."""
    from pathlib import Path

    import aws_lambda_powertools.event_handler.openapi.swagger_ui as swagger_ui

    wants_json = path in ("/_hub/docs", "/_hub/docs/") and "json" in parse_qs(query).get("format", [])
    if path == "/_hub/openapi.json" or wants_json:  # Swagger UI links the document as ?format=json
        body = json.dumps(local_openapi(api_url), indent=2).encode()
        return 200, {"content-type": "application/json", "cache-control": "no-store"}, body
    if path in _SWAGGER_ASSETS:
        name, media = _SWAGGER_ASSETS[path]
        return (
            200,
            {"content-type": media, "cache-control": "max-age=3600"},
            (Path(swagger_ui.__file__).parent / name).read_bytes(),
        )
    if path in ("/_hub/docs", "/_hub/docs/"):
        from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

        page = generate_swagger_html(
            json.dumps(local_openapi(api_url)),
            "/_hub/docs/swagger-ui-bundle.min.js",
            "/_hub/docs/swagger-ui.min.css",
            "/_hub/docs/",
            None,
            persist_authorization=True,
        )
        return 200, {"content-type": "text/html; charset=utf-8", "cache-control": "no-store"}, page.encode()
    return None
