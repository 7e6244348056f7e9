"""``POST /events`` as one function of the request's headers and raw body, shared by the handler's direct
path (``crm_events.app``) and the resolver that documents the route (``crm_events.web``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from crm_events.service import EventsContext, receive_events
from shared.observability import logger, metrics
from shared.store.errors import StoreError

Answer = tuple[int, dict[str, Any], dict[str, str]]  # status, JSON body, headers beside Content-Type


@lru_cache(maxsize=1)
def events_context() -> EventsContext:
    """Built on the first request (never at import), then kept for the life of the process."""
    from crm_events.storage import dynamo_stores
    from shared.config_schemas.stages import StageCatalog
    from shared.config_store import load_config
    from shared.settings import get_settings
    from shared.signing import SsmSourceSecrets

    settings = get_settings()
    return EventsContext(
        store=dynamo_stores(),
        secrets=SsmSourceSecrets(settings.secrets_prefix, max_age=300),
        stages=lambda: load_config("stages.yaml", StageCatalog),
        retention_hours=settings.inbox_retention_hours,
    )


def answer_events(headers: dict[str, str] | None, body: bytes) -> Answer:
    """The answer to one signed request, with its metrics and log lines."""
    try:
        answer = receive_events(headers, body, events_context())
    except StoreError:
        logger.exception("storage failed; the sender should retry")
        return 503, {"message": "storage unavailable, retry"}, {"Retry-After": "5"}
    if answer.status_code == 401:
        logger.warning("signature rejected", extra={"reason": answer.body.get("reason")})
    results = answer.body.get("results", [])
    metrics.add_metric(name="EventsAccepted", unit=MetricUnit.Count, value=answer.body.get("accepted", 0))
    metrics.add_metric(
        name="EventsRejected",
        unit=MetricUnit.Count,
        value=sum(1 for r in results if r["status"] == "rejected"),
    )
    return answer.status_code, answer.body, {}
