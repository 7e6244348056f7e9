"""GET /leads/{lead_id}: the lead, where it waits, and its submission history (read through the CRM store);
GET /leads/imports/results: a trade-show list's results file (from the hub's bucket, ``reports_api.files``)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from reports_api.api_models import LeadView
from reports_api.files import Refusal, file_route_docs, hand_over
from reports_api.stores import crm_store
from shared.api_models import JWT_SECURITY, UNAUTHORIZED, Message, json_answer
from shared.api_paths import path_value
from shared.downloads import IMPORT_PREFIX, IMPORT_RESULTS_ROUTE, is_import_key, key_problem, results_key
from shared.store.files import FileStore, file_store

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


def import_results(files: FileStore, key: str) -> Response[Any]:
    """The results file of the trade-show list ``key`` (``imports/leads/<name>.csv``), once imported."""
    problem = key_problem(key)
    if problem is None and not is_import_key(key):
        problem = f"the key must be a trade-show list's key ({IMPORT_PREFIX}<name>.csv, not its results file)"
    if problem is not None:
        return Refusal(400, f"{problem}: give the list's own key, as it was uploaded").answer()
    return hand_over(files, results_key(key), f"no results for {key}: not imported (yet), or still importing")


@router.get(
    IMPORT_RESULTS_ROUTE,
    summary="Every row of a trade-show list with its outcome, lead and owner (the import's results CSV)",
    **file_route_docs(
        "the trade-show list (imports/leads/<name>.csv)",
        "row, email, outcome, lead_id, owner, reason",
        "No key, or not a trade-show list's key",
        "The list has not been imported (yet)",
    ),
)
def get_import_results(
    key: Annotated[str | None, Query(description="the trade-show list's S3 key")] = None,
) -> Response[Any]:
    return import_results(file_store(), key or "")
