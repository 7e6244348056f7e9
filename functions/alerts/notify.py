"""Rendering and sending alert emails: every field HTML-escaped, subjects on one line."""

from __future__ import annotations

import html
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from alerts.rules import AlertNeed
from shared.email import Email, header_safe, send_email
from shared.observability import logger

if TYPE_CHECKING:
    from shared.store.crm import CrmStore

_LEAD_FIELDS = (
    ("Name", ("first_name", "last_name")),
    ("Email", ("email",)),
    ("Company", ("company",)),
    ("Title", ("title",)),
    ("Phone", ("phone",)),
    ("Country", ("country",)),
    ("State", ("state",)),
    ("Employees", ("employee_band",)),
    ("Revenue", ("revenue_band",)),
    ("Industry", ("industry",)),
    ("Product interest", ("product_interest",)),
    ("Campaign", ("campaign",)),
    ("Message", ("message",)),
)


class UnknownRecipientError(LookupError):
    """The rep an alert is for is not in the CRM."""


def _value(item: dict[str, Any], keys: tuple[str, ...]) -> str:
    return " ".join(str(item[k]) for k in keys if item.get(k) not in (None, ""))


def _table(rows: list[tuple[str, str]]) -> tuple[str, str]:
    text = "\n".join(f"{label}: {value}" for label, value in rows if value)
    cells = "".join(
        f"<tr><th align='left'>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>"
        for label, value in rows
        if value
    )
    return text, f"<table>{cells}</table>"


def render(need: AlertNeed, rep_name: str) -> tuple[str, str, str]:
    """Subject, text body and HTML body of an alert."""
    item = need.item
    if need.kind == "prospect_assigned":
        who = _value(item, ("first_name", "last_name")) or item.get("email", "")
        subject = f"New prospect assigned: {who}" + (f" ({item['company']})" if item.get("company") else "")
        rows = [(label, _value(item, keys)) for label, keys in _LEAD_FIELDS]
        assignment = item.get("assignment") or {}
        reason = assignment.get("summary") or assignment.get("why") or assignment.get("reason")
        if reason:
            rows.append(("Why you", str(reason)))
        intro = "A new prospect has been assigned to you."
    elif need.kind == "opportunity_stage_changed":
        subject = f"Opportunity {item.get('name', '')} moved to {item.get('stage')}"
        rows = [
            ("Opportunity", str(item.get("name", ""))),
            ("From stage", str(item.get("old_stage") or "(new)")),
            ("To stage", str(item.get("stage", ""))),
            ("Amount", str(item.get("amount", ""))),
            ("Close date", str(item.get("close_date", ""))),
            ("Next step", str(item.get("next_step", ""))),
        ]
        intro = "An opportunity you own changed stage."
    else:
        subject = f"Escalation assigned: {item.get('title', '')}"
        rows = [
            ("Title", str(item.get("title", ""))),
            ("Severity", str(item.get("severity", ""))),
            ("Status", str(item.get("status", ""))),
            ("Due", str(item.get("due_at", ""))),
        ]
        intro = "An escalation needs you."
    text, table = _table(rows)
    greeting = f"Hello {rep_name},"
    text_body = f"{greeting}\n\n{intro}\n\n{text}\n"
    html_body = f"<p>{html.escape(greeting)}</p><p>{html.escape(intro)}</p>{table}"
    return header_safe(subject), text_body, html_body


@lru_cache(maxsize=1)
def crm_store() -> CrmStore:
    """The CRM store (the rep registry), built on first use, never at import."""
    from shared.store.crm import DynamoCrmStore

    return DynamoCrmStore()


def send_alert(need: AlertNeed, store: CrmStore | None = None) -> str:
    """Look the recipient up in the rep registry and send the alert; returns the SES message id."""
    email, name = need.recipient_email, need.recipient_rep or ""
    if email is None:
        rep = (store or crm_store()).get_rep(need.recipient_rep or "") if need.recipient_rep else None
        if rep is not None and rep.email:
            email, name = rep.email, rep.name
        elif need.fallback_email is not None:
            email = need.fallback_email
        else:
            raise UnknownRecipientError(f"rep {need.recipient_rep!r} is not in the CRM (or has no email)")
    subject, text, html_body = render(need, name)
    message_id = send_email(Email(to=email, subject=subject, text=text, html=html_body))
    logger.info("alert sent", extra={"kind": need.kind, "key": need.key})
    return message_id
