"""Path parameters as API Gateway's HTTP API hands them to a function, and routing on them.

API Gateway matches a route on the path as sent (``/opportunities/OPP%2FSLASH`` is one segment), then
gives the function ``pathParameters`` URL-decoded (``OPP/SLASH``) and ``rawPath`` decoded too, where
an id with a ``/`` now spans two segments and a powertools resolver would not find the route.
``routable_event`` therefore rebuilds the path the resolver routes on from the event's ``routeKey``
with each parameter percent-encoded; a route then takes its parameter with ``path_value``.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, unquote

_PARAMETER = re.compile(r"\{(\w+)\+?\}")


def routable_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event with ``rawPath`` rebuilt from ``routeKey`` and the (decoded) ``pathParameters``,
    each percent-encoded: one path segment per parameter, whatever characters the id holds."""
    parameters = event.get("pathParameters") or {}
    _method, _, template = str(event.get("routeKey") or "").partition(" ")
    if not parameters or not template.startswith("/"):
        return event
    path = _PARAMETER.sub(lambda m: quote(str(parameters.get(m[1], "")), safe=""), template)
    stage = (event.get("requestContext") or {}).get("stage")
    prefix = "" if stage in (None, "", "$default") else f"/{stage}"
    return {**event, "rawPath": prefix + path}


def path_value(segment: str) -> str:
    """A route's parameter as ``routable_event`` encoded it: the id API Gateway decoded."""
    return unquote(segment)
