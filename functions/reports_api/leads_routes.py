"""GET /leads/{lead_id}: the lead, where it waits, and its submission history (read through the CRM store)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from reports_api.api_models import LeadView
from reports_api.stores import crm_store
from shared.api_models import JWT_SECURITY, UNAUTHORIZED, Message, json_answer
from shared.api_paths import path_value

if TYPE_CHECKING:
    from shared.store.crm import Lead, LeadSubmission  # the records' shape; the store is built on first use

router = APIGatewayHttpRouter()

_FIELDS = (
    "lead_id", "email", "first_name", "last_name", "company", "title", "phone", "country", "state",
    "postal_code", "employees", "employee_band", "revenue_band", "industry", "product_interest", "campaign",
    "owner", "territory_id", "status", "source", "quarantined", "marketing_opt_in", "marketing_status",
)  # fmt: skip


def _json(value: Any) -> Any:
    """Numbers in maps as JSON numbers (whole ones as int)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json(v) for v in value]
    return value


def lead_view(lead: Lead) -> dict[str, Any]:
    """The lead as the read API shows it."""
    view: dict[str, Any] = {name: getattr(lead, name) for name in _FIELDS}
    view["annual_revenue"] = None if lead.annual_revenue is None else str(lead.annual_revenue)
    view["quarantine_reason"] = ",".join(lead.quarantine_reasons) or None
    view["assignment"] = _json(lead.assignment) if lead.assignment else None
    view["segments"] = _json(lead.segments) if lead.segments else {}
    view["mailchimp"] = _json(lead.mailchimp) if lead.mailchimp else {"state": "pending"}
    view["created_at"] = lead.created_at.isoformat() if lead.created_at else None
    view["updated_at"] = lead.updated_at.isoformat() if lead.updated_at else None
    return view


def submission_view(submission: LeadSubmission) -> dict[str, Any]:
    return {
        "submission_id": submission.submission_id,
        "received_at": submission.received_at.isoformat(),
        "source": submission.source,
        "campaign": submission.campaign,
        "utm_source": submission.utm_source,
        "utm_medium": submission.utm_medium,
        "utm_campaign": submission.utm_campaign,
        "outcome": submission.outcome,
        "quarantine_reasons": list(submission.quarantine_reasons),
        "fields": _json(submission.fields),
    }


@router.get(
    "/leads/<lead_id>",
    summary="A lead with its owner, the reason, segments, MailChimp sync state and submission history",
    security=JWT_SECURITY,
    responses={
        200: json_answer(LeadView, "The lead"),
        401: UNAUTHORIZED,
        404: json_answer(Message, "No such lead"),
    },
)
def get_lead(lead_id: str) -> Response[Any]:
    lead_id = path_value(lead_id)
    store = crm_store()
    lead = store.get_lead(lead_id)
    if lead is None:
        return Response(404, "application/json", {"message": f"no lead {lead_id}"})
    intake = {
        "queue": lead.queue,
        "quarantine_reasons": list(lead.quarantine_reasons),
        "submissions": [submission_view(s) for s in store.lead_submissions(lead_id)],
    }
    return Response(200, "application/json", lead_view(lead) | intake)
