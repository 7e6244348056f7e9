"""The resolver that declares ``POST /leads`` and its CORS preflight to ``docs/openapi.json`` (``hub openapi``
reads ``leads_webhook.app.app``, which is this one), and answers every request but ``POST /leads``, which
the handler answers directly (``leads_webhook.app``: the resolver and the answer models cost about a sixth
of ``import boto3`` at each cold start)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.params import Header

from leads_webhook.post import answer_lead_post
from leads_webhook.post import storage_failed as storage_failed_answer
from leads_webhook.web import POST_LEADS_RESPONSES, PREFLIGHT_RESPONSES, post_leads_openapi, preflight
from leads_webhook.wiring import deployed_services
from shared.api_models import answer_bad_parameters_with_400
from shared.http_answers import HttpRequest
from shared.store.errors import StoreError

app = APIGatewayHttpResolver(enable_validation=True)  # the routes' declared models: docs/openapi.json
answer_bad_parameters_with_400(app)


@app.exception_handler(StoreError)
def storage_failed(error: StoreError) -> Response[Any]:
    """The table is busy or unreachable: the sender retries (MailChimp and browsers alike)."""
    web = storage_failed_answer(error)
    return Response(web.status, web.content_type, web.body, web.headers)


@app.post(
    "/leads",
    summary="A lead from a website form (JSON, urlencoded or multipart) or a signed landing-page service",
    responses=POST_LEADS_RESPONSES,
    openapi_extensions=post_leads_openapi(),
)
def post_lead():  # unannotated: powertools would read "Response" in the tracer wrapper's globals
    web = answer_lead_post(HttpRequest(app.current_event.raw_event), deployed_services())
    return Response(web.status, web.content_type, web.body, web.headers)


@app.route(
    "/leads",
    method="OPTIONS",
    summary="CORS preflight of POST /leads (allowed origins only)",
    responses=PREFLIGHT_RESPONSES,
)
def preflight_lead(
    origin: Annotated[str | None, Header(description="the page's origin")] = None,
    access_control_request_method: Annotated[str | None, Header(description="POST")] = None,
    access_control_request_headers: Annotated[str | None, Header(description="e.g. content-type")] = None,
) -> Response[Any]:
    """The CORS preflight of a page that posts JSON with fetch(): allowed origins only."""
    status, headers = preflight(dict(app.current_event.headers), deployed_services().leads_config().cors)
    return Response(status, "text/plain", "", headers)
