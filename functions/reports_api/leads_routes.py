"""GET /leads/{lead_id}."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from reports_api.api_models import LeadView
from shared.api_models import JWT_SECURITY, UNAUTHORIZED, Message, json_answer
from shared.tables import LeadItem

router = APIGatewayHttpRouter()

_FIELDS = (
    "lead_id", "email", "first_name", "last_name", "company", "title", "phone", "country", "state",
    "postal_code", "employees", "employee_band", "annual_revenue", "revenue_band", "industry",
    "product_interest", "campaign", "owner", "territory_id", "status", "source", "quarantined",
    "quarantine_reason", "marketing_opt_in", "marketing_status",
)  # fmt: skip


def lead_view(item: LeadItem) -> dict[str, Any]:
    """The lead as the read API shows it (a storage model never leaks out as is)."""
    view: dict[str, Any] = {name: getattr(item, name) for name in _FIELDS}
    if view["employees"] is not None:
        view["employees"] = int(view["employees"])
    view["assignment"] = item.assignment.as_dict() if item.assignment else None
    view["segments"] = item.segments.as_dict() if item.segments else {}
    view["mailchimp"] = item.mailchimp.as_dict() if item.mailchimp else {"state": "pending"}
    view["created_at"] = item.created_at.isoformat() if item.created_at else None
    view["updated_at"] = item.updated_at.isoformat() if item.updated_at else None
    return view


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
    try:
        item = LeadItem.get(f"LEAD#{lead_id}", "LEAD")
    except LeadItem.DoesNotExist:
        return Response(404, "application/json", {"message": f"no lead {lead_id}"})
    from leads_webhook.read import lead_intake_view

    return Response(200, "application/json", lead_view(item) | lead_intake_view(lead_id))
