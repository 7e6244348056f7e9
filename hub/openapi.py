"""``docs/openapi.json``: the HTTP API's contract, generated from the functions' powertools resolvers.

Each function that serves routes declares its routes' request and answer models on its resolver
(``enable_validation=True``, ``responses=``); this puts the resolvers' documents together in the
template's order of functions, with the security scheme of the read routes (the JWT authorizer).
``hub openapi`` writes the file; ``hub openapi --check`` (and ``tests/unit/test_openapi_contract.py``)
fails when the code and the file disagree. Integrators build their connectors against the file.
"""

from __future__ import annotations

import copy
import importlib
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OPENAPI_PATH = ROOT / "docs" / "openapi.json"
TITLE = "CRM integration hub"
DESCRIPTION = (
    "Public routes: POST /leads (website forms, CORS for the configured origins), POST /events (signed), "
    "the MailChimp webhook. Read routes need a bearer token (JWT on AWS; the local hub's api_token)."
)
SECURITY_SCHEMES = {"jwt": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
# powertools adds a 422 of its own validation errors to every route of a validating resolver. Our routes
# validate their bodies themselves and answer a parameter powertools refuses (a query parameter given
# twice) with 400 (``shared.api_models.answer_bad_parameters_with_400``), so its 422 comes off.
_POWERTOOLS_422 = "#/components/schemas/HTTPValidationError"


def _route_modules() -> list[str]:
    """The modules whose ``app`` serves the template's HTTP routes, in the template's order."""
    from hub.local.template import HubTemplate

    template = HubTemplate()
    functions = template.functions()
    modules: list[str] = []
    for route in template.routes():
        module = functions[route.function].module
        if module not in modules:
            modules.append(module)
    return modules


def _document_of(module: str) -> dict[str, Any]:
    app = importlib.import_module(module).app
    schema = app.get_openapi_schema(title=TITLE, version="1", security_schemes=SECURITY_SCHEMES)
    return json.loads(schema.model_dump_json(by_alias=True, exclude_none=True))  # type: ignore[no-any-return]


def build_openapi() -> dict[str, Any]:
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": "1", "description": DESCRIPTION},
        "paths": {},
        "components": {"schemas": {}, "securitySchemes": copy.deepcopy(SECURITY_SCHEMES)},
    }
    for module in _route_modules():
        part = _document_of(module)
        for path, operations in part.get("paths", {}).items():
            target = document["paths"].setdefault(path, {})
            for method, operation in operations.items():
                if method in target:
                    raise ValueError(f"{method.upper()} {path} is declared twice ({module})")
                responses = operation.get("responses", {})
                declared = responses.get("422", {}).get("content", {}).get("application/json", {})
                if declared.get("schema", {}).get("$ref") == _POWERTOOLS_422:
                    del responses["422"]
                target[method] = operation
        for name, schema in part.get("components", {}).get("schemas", {}).items():
            known = document["components"]["schemas"].setdefault(name, schema)
            if known != schema:
                raise ValueError(f"two different schemas are named {name} ({module})")
    schemas = document["components"]["schemas"]
    text = json.dumps(document["paths"])
    for name in ("HTTPValidationError", "ResponseValidationError"):
        if f'"#/components/schemas/{name}"' not in text:
            schemas.pop(name, None)  # powertools' own error shapes, where no route of ours answers them
    if "HTTPValidationError" not in schemas and "ResponseValidationError" not in schemas:
        schemas.pop("ValidationError", None)
    if _dangling(document):
        raise ValueError(f"references to undeclared schemas: {sorted(_dangling(document))}")
    return _sorted(document)


def _dangling(document: dict[str, Any]) -> set[str]:
    import re

    names = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(document)))
    return names - set(document["components"]["schemas"])


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def write_openapi(path: Path = OPENAPI_PATH) -> bool:
    """Write the document; True when the file changed."""
    text = render(build_openapi())
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True
