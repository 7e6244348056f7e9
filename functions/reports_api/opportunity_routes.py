"""GET /opportunities/{opportunity_id}: an opportunity as external CRMs last described it, with its stage history."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from reports_api.api_models import OpportunityView
from shared.api_models import JWT_SECURITY, UNAUTHORIZED, Message, json_answer
from shared.crm_entities import CRM, OPPORTUNITY, DynamoEntityStore, get_entity, stage_history

router = APIGatewayHttpRouter()

_FIELDS = (
    "opportunity_id", "account_id", "name", "owner", "stage", "probability", "amount", "close_date", "next_step",
    "next_step_date", "last_activity_at", "stage_entered_at", "previous_stage", "occurred_at", "source",
)  # fmt: skip


@lru_cache(maxsize=1)
def _store() -> DynamoEntityStore:
    from shared.settings import get_settings

    return DynamoEntityStore({CRM: get_settings().crm_table})


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    return value


def opportunity_view(item: dict[str, Any], history: list[dict[str, Any]]) -> dict[str, Any]:
    """The opportunity as the read API shows it (money as exact decimal text when fractional)."""
    view = {name: _json(item.get(name)) for name in _FIELDS}
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
    store = _store()
    item = get_entity(store, OPPORTUNITY, opportunity_id)
    if item is None:
        return Response(404, "application/json", {"message": f"no opportunity {opportunity_id}"})
    history = [change.as_dict() for change in stage_history(store, opportunity_id)]
    return Response(200, "application/json", opportunity_view(item, history))
