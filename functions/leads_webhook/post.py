"""``POST /leads`` as one function of the request and the intake's services, shared by the handler's direct
path (``leads_webhook.app``) and the resolver that documents the route (``leads_webhook.routes``)."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from leads_webhook.intake import LeadPost, LeadServices, receive_lead_post
from leads_webhook.web import WebAnswer, shape_answer
from shared.http_answers import HttpRequest, request_body
from shared.observability import logger, metrics, tracer
from shared.store.errors import StoreError

_OUTCOME_METRICS = {"created": "LeadsCreated", "merged": "LeadsMerged", "quarantined": "LeadsQuarantined"}


def storage_failed(error: StoreError) -> WebAnswer:
    """The table is busy or unreachable: the sender retries (MailChimp and browsers alike)."""
    logger.warning("storage failed", extra={"error": str(error)})
    return WebAnswer(503, "application/json", {"message": "storage is busy; try again shortly"},
                     {"Retry-After": "5"})  # fmt: skip


@tracer.capture_method
def answer_lead_post(event: HttpRequest, services: LeadServices) -> WebAnswer:
    """A lead from a website form or a landing-page service, answered as the client wants it."""
    body = request_body(event)
    post = LeadPost(
        body=body,
        content_type=event.headers.get("content-type"),
        source_ip=event.source_ip,
        headers=dict(event.headers),
    )
    answer = receive_lead_post(post, services)
    if answer.accepted is not None:
        metrics.add_metric(name=_OUTCOME_METRICS[answer.accepted.outcome], unit=MetricUnit.Count, value=1)
        logger.info(
            "lead received",
            extra={"lead_id": answer.accepted.lead_id, "outcome": answer.accepted.outcome,
                   "repeat_delivery": answer.accepted.repeat_delivery},
        )  # fmt: skip
    else:
        metrics.add_metric(name=f"LeadsAnswered{answer.status}", unit=MetricUnit.Count, value=1)
    web = shape_answer(
        answer.status, answer.body, answer.headers, request_body=body, request_headers=post.headers,
        config=services.leads_config(),
    )  # fmt: skip
    if web.note:
        logger.warning(web.note)
    return web
