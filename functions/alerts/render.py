"""Alert emails: a subject, a text part and an HTML part per kind, and the digest.

Every value that came from a record is cleaned to one line for the text part and HTML-escaped for
the HTML part; the subject is made header-safe by ``shared.email`` (no line breaks, no bidi
overrides or zero-width characters, bounded length).
"""

from __future__ import annotations

import html
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.config_schemas.alerts import KINDS
from shared.downloads import IMPORT_RESULTS_ROUTE, POS_REJECTS_ROUTE, download_link
from shared.email import header_safe, one_line
from shared.money import display_money

Facts = dict[str, Any]


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


TITLES = {
    "lead_assigned": "New prospect assigned",
    "leads_imported": "Prospects from a trade-show list assigned to you",
    "lead_reassigned": "Prospect re-assigned to you",
    "opportunity_stage": "Opportunity reached a notable stage",
    "opportunity_won": "Opportunity won",
    "opportunity_lost": "Opportunity lost",
    "escalation_assigned": "Escalation assigned to you",
    "escalation_resolved": "Escalation resolved",
    "escalation_outcome": "Your request has been resolved",
    "pos_rejects": "A POS file was refused in part or whole",
    "board_report": "The monthly board report is ready",
    "speed_to_lead": "Prospect waiting for first contact",
    "speed_to_lead_manager": "Prospect of your team still untouched",
    "next_step_missing": "Opportunity without a next step",
    "next_step_overdue": "Opportunity next step is past due",
    "opportunity_stale": "Opportunity without recent activity",
    "escalation_overdue": "Escalation past due",
    "sample_follow_up_due": "Sample follow-up due",
    "activity_overdue": "Scheduled activity past due",
}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        value = format(value, "f")
    return one_line(str(value), 500)


def _money(value: Any) -> Any:
    """An amount with thousands separators (``125,000.50``), every digit kept; None stays None."""
    return None if value is None or value == "" else display_money(_text(value))


def _when(value: Any) -> Any:
    """A moment as people read it, ``2026-12-02 13:24 UTC``, not as stored (``2026-12-02T13:24:12.718137Z``).

    A date alone, and anything that does not read as an ISO moment, is shown as it is.
    """
    if not isinstance(value, str) or len(value) <= 10:
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _name(facts: Facts) -> str:
    person = " ".join(_text(facts.get(k)) for k in ("first_name", "last_name") if facts.get(k))
    return person or _text(facts.get("email")) or _text(facts.get("lead_id"))


def _rep(facts: Facts, fact: str) -> Any:
    """A rep by name when the CRM named them (``alerts.recipients``), else by id."""
    return facts.get(f"{fact}_name") or facts.get(fact)


def _account(facts: Facts, *, with_id: bool = True) -> Any:
    """An account by name, with its id (``Acme Corp (A-ACME)``), when the CRM named it; else its id."""
    name, account_id = facts.get("account_name"), facts.get("account_id")
    if not name:
        return account_id
    return f"{_text(name)} ({_text(account_id)})" if with_id and account_id else name


class Link(str):
    """A link the hub made (a read route's, signed or not): the HTML part shows it as an anchor. Only
    these: a value someone sent (a lead's website) stays text, never a link to click."""


def _as_link(value: Any) -> Any:
    text = str(value) if isinstance(value, str) else ""
    return Link(text) if text.startswith(("https://", "http://")) and text.isprintable() else value


def _link(facts: Facts, file: str, route: str, original: str) -> Any:
    """Where to get the file the hub wrote (``<file>_key``): the read route that hands it over, taking the
    original file's key (``<file>_link``, made when the alert was claimed; an alert claimed before links
    were made gets the route alone). None when there is no such file."""
    if not facts.get(f"{file}_key"):
        return None
    return _as_link(facts.get(f"{file}_link")) or download_link("", route, _text(facts.get(original)))


def _about(kind: str, facts: Facts) -> tuple[str, list[tuple[str, Any]]]:
    """The subject's subject and the rows of the message."""
    f = facts.get
    if kind == "leads_imported":
        leads = [lead for lead in f("leads") or [] if isinstance(lead, dict)]
        count = int(f("count") or 0)
        rows: list[tuple[str, Any]] = [("List", f("list")), ("Leads assigned to you", count)]
        rows += [
            (_name(lead) + (f" ({_text(lead.get('company'))})" if lead.get("company") else ""),
             " · ".join(_text(lead.get(k)) for k in ("email", "country") if lead.get(k)))
            for lead in leads
        ]  # fmt: skip
        if count > len(leads):
            rows.append(("More", f"... and {count - len(leads)} more"))
        rows.append(
            (
                "Every row of the list with its owner",
                _link(facts, "results", IMPORT_RESULTS_ROUTE, "import_key"),
            )
        )
        return f"{count} lead{'' if count == 1 else 's'} from {_text(f('list'))} assigned to you", rows
    if kind.startswith("lead_") or kind.startswith("speed_to_lead"):
        rows = [
            ("Name", _name(facts)), ("Email", f("email")), ("Company", f("company")), ("Title", f("title")),
            ("Phone", f("phone")), ("Country", f("country")), ("State", f("state")),
            ("Employees", f("employee_band")), ("Revenue", f("revenue_band")), ("Industry", f("industry")),
            ("Product interest", f("product_interest")), ("Campaign", f("campaign")), ("Message", f("message")),
            ("Why you", f("why")), ("Assigned at", _when(f("assigned_at"))), ("Hours waiting", f("hours_waiting")),
            ("Owner", _rep(facts, "owner") if kind == "speed_to_lead_manager" else None),
            ("Previously with", _rep(facts, "previous_owner") if kind == "lead_reassigned" else None),
        ]  # fmt: skip
        about = _name(facts) + (f" ({_text(f('company'))})" if f("company") else "")
        return about, rows
    if kind.startswith("opportunity_") or kind.startswith("next_step"):
        rows = [
            ("Opportunity", f("name")), ("Account", _account(facts)), ("Owner", _rep(facts, "owner")),
            ("Stage", f"{_text(f('old_stage'))} → {_text(f('stage'))}" if f("old_stage") else f("stage")),
            ("Amount", _money(f("amount"))), ("Probability", f"{_text(f('probability'))} %" if f("probability") is not None else None),
            ("Close date", f("close_date")), ("Next step", f("next_step")), ("Next step date", f("next_step_date")),
            ("Last activity", _when(f("last_activity_at"))), ("Days without activity", f("days_idle")),
            ("Allowed for this stage (days)", f("allowed_days")),
        ]  # fmt: skip
        about = _text(f("name")) or _text(f("opportunity_id"))
        if kind in ("opportunity_stage", "opportunity_won", "opportunity_lost"):
            about = f"{about}: {_text(f('old_stage'))} → {_text(f('stage'))}"
        return about, rows
    if kind.startswith("escalation_"):
        rows = [
            ("Escalation", f("title")), ("Severity", f("severity")), ("Status", f("status")),
            ("Due", _when(f("due_at"))), ("Account", _account(facts)), ("Assignee", _rep(facts, "assignee")),
            ("Previously with", _rep(facts, "previous_assignee") if kind == "escalation_assigned" else None),
            ("Resolution", f("resolution")), ("Reminder", f("reminder")), ("Hours overdue", f("hours_overdue")),
        ]  # fmt: skip
        if kind == "escalation_outcome":  # the customer sees the outcome, not our internals
            rows = [("Your request", f("title")), ("Status", f("status")), ("Resolution", f("resolution"))]
        return _text(f("title")) or _text(f("escalation_id")), rows
    if kind == "pos_rejects":
        if f("status") == "failed":
            rows = [("Distributor", f("distributor")), ("File", f("key")), ("Version", f("version")),
                    ("Error", f("error"))]  # fmt: skip
            return f"POS file refused: {_text(f('key'))}", rows
        sample = f("reject_sample") or []
        more = int(f("rejected") or 0) - len(sample)
        rows = [
            ("Distributor", f("distributor")), ("File", f("key")), ("Version", f("version")),
            ("Status", f("status")), ("Rows", f("rows_total")), ("Accepted", f("accepted")),
            ("Amount accepted", " · ".join(f"{_text(c)} {_money(a)}" for c, a in (f("amount_accepted") or {}).items())),
            ("Rejected", f("rejected")), ("Every rejected row with its reason", _link(facts, "rejects", POS_REJECTS_ROUTE, "key")),
            *((f"row {_text(r.get('row'))}", r.get("reason")) for r in sample),
            ("More", f"... and {more} more" if sample and more > 0 else None),
        ]  # fmt: skip
        return (
            f"POS file {_text(f('key'))}: {_text(f('rejected'))} of {_text(f('rows_total'))} rows rejected",
            rows,
        )
    if kind == "board_report":
        links = f("links") or {}
        rows = [
            ("Year", f("year")), ("Written", f("month")), ("Nodes of the tree", f("nodes")),
            ("Open the report", _as_link(links.get("html"))), ("CSV", _as_link(links.get("csv"))),
            ("Workbook (XLSX)", _as_link(links.get("xlsx"))),
        ]  # fmt: skip
        final = str(f("month") or "")[:4] > str(f("year") or "")  # written in the January after the year
        what = "final report" if final else "plan vs actual"
        return f"Annual Operating Plan {_text(f('year'))}, {what} ({_text(f('month'))})", rows
    if kind == "sample_follow_up_due":
        rows = [
            ("Part", f("part_number")), ("Quantity", f("quantity")), ("Account", _account(facts)),
            ("Opportunity", f("opportunity_id")), ("Shipped", _when(f("shipped_at"))), ("Follow up", _when(f("follow_up_at"))),
        ]  # fmt: skip
        return f"{_text(f('part_number'))} at {_text(_account(facts, with_id=False))}", rows
    if kind == "activity_overdue":
        rows = [
            ("Activity", f("subject") or f("type")), ("Type", f("type")), ("Due", _when(f("due_at"))),
            ("Opportunity", f("opportunity_id")), ("Points", f("points")),
        ]  # fmt: skip
        return _text(f("subject") or f("type")), rows
    return _text(kind), [(k, v) for k, v in facts.items()]


def _shown(value: Any) -> str:
    """A value as one line of text; a link the hub made whole (cut short it would open nothing)."""
    return str(value) if isinstance(value, Link) else _text(value)


def _cell(value: Any) -> str:
    """A value as HTML: escaped text, or an anchor for a link the hub made (``Link``)."""
    text = html.escape(_shown(value))
    return f'<a href="{text}">{text}</a>' if isinstance(value, Link) else text


def _table(rows: Iterable[tuple[str, Any]]) -> tuple[str, str]:
    kept = [(label, value) for label, value in rows if value not in (None, "")]
    text = "\n".join(f"{label}: {_shown(value)}" for label, value in kept)
    cells = "".join(
        f"<tr><th align='left'>{html.escape(label)}</th><td>{_cell(value)}</td></tr>" for label, value in kept
    )
    return text, f"<table>{cells}</table>"


def _page(greeting: str, paragraphs: list[str], text_rows: str, html_rows: str) -> tuple[str, str]:
    text = "\n\n".join([greeting, *paragraphs, text_rows]) + "\n"
    body = "".join(f"<p>{html.escape(p)}</p>" for p in [greeting, *paragraphs]) + html_rows
    return text, f"<!DOCTYPE html><html><body>{body}</body></html>"


def render_alert(
    kind: str, facts: Facts, recipient_name: str, fallback_reason: str | None = None
) -> Rendered:
    title = TITLES.get(kind, kind)
    about, rows = _about(kind, facts)
    # A POS file's subject says it all (the file, the counts or the refusal).
    subject = header_safe(
        about if kind in ("pos_rejects", "leads_imported") else f"{title}: {about}" if about else title
    )
    text_rows, html_rows = _table(rows)
    paragraphs = [title + "."]
    if kind == "pos_rejects" and facts.get("status") == "failed":
        paragraphs.append(
            f"The file {one_line(str(facts.get('key')), 300)} from {one_line(str(facts.get('distributor')), 100)} "
            f"could not be read: {one_line(str(facts.get('error')), 500)}"
        )
    if fallback_reason:
        paragraphs.append(
            f"You receive this because the intended recipient could not be reached: {one_line(fallback_reason, 300)}."
        )
    greeting = f"Hello {one_line(recipient_name, 100)}," if recipient_name.strip() else "Hello,"
    text, html_body = _page(greeting, paragraphs, text_rows, html_rows)
    return Rendered(subject, text, html_body)


def render_digest(entries: list[dict[str, Any]], recipient_name: str, day: str) -> Rendered:
    """One email for many alerts, grouped by kind; ``entries`` hold ``kind`` and ``subject``."""
    groups: dict[str, list[str]] = defaultdict(list)
    for entry in entries:
        groups[str(entry.get("kind"))].append(one_line(str(entry.get("subject", "")), 300))
    order = sorted(groups, key=lambda k: (KINDS.index(k) if k in KINDS else len(KINDS), k))
    subject = header_safe(f"Your alerts digest for {day}: {len(entries)} items")
    text_parts, html_parts = [], []
    for kind in order:
        title = TITLES.get(kind, kind)
        lines = groups[kind]
        text_parts.append(f"{title} ({len(lines)})\n" + "\n".join(f"  - {line}" for line in lines))
        items = "".join(f"<li>{html.escape(line)}</li>" for line in lines)
        html_parts.append(f"<h3>{html.escape(title)} ({len(lines)})</h3><ul>{items}</ul>")
    greeting = f"Hello {one_line(recipient_name, 100)}," if recipient_name.strip() else "Hello,"
    intro = f"{len(entries)} alerts for you, gathered in one message."
    text = f"{greeting}\n\n{intro}\n\n" + "\n\n".join(text_parts) + "\n"
    body = f"<p>{html.escape(greeting)}</p><p>{html.escape(intro)}</p>" + "".join(html_parts)
    return Rendered(subject, text, f"<!DOCTYPE html><html><body>{body}</body></html>")
