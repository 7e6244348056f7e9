"""GET /opportunities/{opportunity_id}: an opportunity as external CRMs last described it, with its stage history."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from reports_api.api_models import OpportunityView
from reports_api.stores import crm_store
from shared.api_models import JWT_SECURITY, UNAUTHORIZED, Message, json_answer
from shared.api_paths import path_value
from shared.store.common import format_time

if TYPE_CHECKING:
    from shared.store.crm import Opportunity  # the record's shape; the store is built on first use

router = APIGatewayHttpRouter()

_FIELDS = (
    "opportunity_id", "account_id", "name", "owner", "stage", "probability", "amount", "close_date", "next_step",
    "next_step_date", "last_activity_at", "stage_entered_at", "previous_stage", "occurred_at", "source",
)  # fmt: skip


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def opportunity_view(opportunity: Opportunity, history: list[dict[str, Any]]) -> dict[str, Any]:
    """The opportunity as the read API shows it (money as exact decimal text when fractional)."""
    view = {name: _json(getattr(opportunity, name)) for name in _FIELDS}
    view["stage_history"] = history
    return view


@router.get(
    "/opportunities/<opportunity_id>",
    summary="An opportunity as external CRMs last described it, with its stage history",
    security=JWT_SECURITY,
    responses={
        200: json_answer(OpportunityView, "The opportunity"),
        401: UNAUTHORIZED,
        404: json_answer(Message, "No such opportunity"),
    },
)
def get_opportunity(opportunity_id: str) -> Response[Any]:
    opportunity_id = path_value(opportunity_id)
    store = crm_store()
    opportunity = store.get_opportunity(opportunity_id)
    if opportunity is None:
        return Response(404, "application/json", {"message": f"no opportunity {opportunity_id}"})
    history = [change.as_dict() for change in store.stage_history(opportunity_id)]
    return Response(200, "application/json", opportunity_view(opportunity, history))
