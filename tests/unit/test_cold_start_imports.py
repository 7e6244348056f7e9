"""Cold start: importing a packaged handler loads none of the heavy modules a request may never need.

Each handler named in the template is imported in a fresh interpreter, as Lambda's init does, and
the test fails when the X-Ray SDK is loaded at import (the Tracer is built on the first traced
call: ``shared.observability.LazyTracer``), or phonenumbers (importing it loads its metadata) or
pycountry (its data) is: both are imported where a lead's phone or country is first read.
Nor pydantic-settings (the settings are a plain pydantic model), and no handler builds the core
schema of a CRM record, an event model, an answer model or a MailChimp contact, outcome or configuration at
import (``defer_build``: built when a request first uses one; a stream batch with nothing to sync uses none).

Nor does a handler load, at import, a module that only some of its invocations use (``UNUSED_AT_IMPORT``):
another table's store it never reads, the HTTP resolver of a function whose stream invocations never
route, the configuration models of the documents not in hand. A function without powertools' batch utility
reads its HTTP or S3 event without powertools' event data classes (``DATA_CLASSES``: importing one imports
all 35 event sources' modules).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hub.local.template import HubTemplate

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("aws_xray_sdk", "phonenumbers", "pycountry", "pydantic_settings")
HANDLERS = sorted({spec.module for spec in HubTemplate().functions().values()})
DATA_CLASSES = "aws_lambda_powertools.utilities.data_classes"

# handler -> modules its import must not load: each is imported where the invocation that needs it runs.
UNUSED_AT_IMPORT = {
    # a POS run is named with shared.store.pos_keys; the alerts read and write only the CRM table; documents
    # are read from their JSON rendering (shared.config_store), so PyYAML only where a YAML copy is read
    "alerts.app": ("shared.store.pos", "shared.store.plan", "yaml"),
    # the plan store with a plan event (crm_events.storage.dynamo_plan_store); the stages without PyYAML;
    # POST /events is answered without powertools' resolver and the answer models (crm_events.web: the docs)
    "crm_events.app": (
        "shared.store.plan", "yaml", "aws_lambda_powertools.event_handler", "crm_events.web", "shared.api_models",
        "crm_events.api_models", DATA_CLASSES,
    ),
    "plan_rollup.app": ("yaml",),
    # POST /leads is answered without powertools' resolver (leads_webhook.routes: the docs and the preflight) and
    # its event data classes (shared.http_answers.HttpRequest reads the event; the trade-show lists' S3 events too)
    "leads_webhook.app": ("aws_lambda_powertools.event_handler", "leads_webhook.routes", DATA_CLASSES),
    # the stream's invocations never route: the webhook's resolver and parsing come with an HTTP event
    "mailchimp_sync.app": ("aws_lambda_powertools.event_handler", "mailchimp_sync.web", "mailchimp_sync.webhook"),
    # one document per upload: its model is imported when it is checked; the CRM only for routing.yaml
    "config_validator.app": (
        "shared.store.crm", "shared.config_schemas.routing", "shared.config_schemas.leads",
        "shared.config_schemas.alerts", "shared.config_schemas.distributors", "shared.config_schemas.fx",
        DATA_CLASSES,
    ),
    # each route's store with its route: the POS, CRM and plan stores when a POS, CRM or plan route is asked
    # (so pynamodb's models too); the plan's report and the stage catalog (PyYAML) with a plan route
    "reports_api.app": (
        "shared.store.pos", "shared.store.crm", "shared.store.plan", "pynamodb.models",
        "shared.plan_report", "shared.config_schemas.stages", "yaml",
    ),
}  # fmt: skip

PROBE = """
import json, sys, importlib
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in sys.argv[2].split(','))))
"""

# The models whose core schema is built on first use: the names of those built at import.
BUILT = """
import json, sys, importlib
from pydantic import BaseModel
importlib.import_module(sys.argv[1])
deferred = ("shared.store.crm", "shared.api_models", "crm_events.models", "crm_events.api_models",
            "mailchimp_sync.models", "mailchimp_sync.config")
built, pending = [], list(BaseModel.__subclasses__())
while pending:
    model = pending.pop()
    pending.extend(model.__subclasses__())
    if model.__module__ in deferred and model.__pydantic_complete__:
        built.append(f"{model.__module__}.{model.__qualname__}")
print(json.dumps(sorted(set(built))))
"""


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'functions'}",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "LAMBDA_TASK_ROOT": str(ROOT / "functions"),
        "POWERTOOLS_TRACE_DISABLED": "false",
    }


@pytest.mark.parametrize("module", HANDLERS)
def test_handler_import_loads_no_heavy_module(module: str) -> None:
    # Given a fresh interpreter with the function's environment (tracing on, as in Lambda)
    env = _env()
    # When the handler's module is imported
    result = subprocess.run(
        [sys.executable, "-c", PROBE, module, ",".join(HEAVY)],
        capture_output=True, text=True, env=env, check=True, cwd=ROOT,
    )  # fmt: skip
    # Then none of the heavy modules is loaded
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


@pytest.mark.parametrize("module", HANDLERS)
def test_handler_import_loads_no_powertools_parser_model(module: str) -> None:
    # Given powertools' batch utility, which imports every parser model (pydantic models of each event
    # source, built at import: about a fifth of ``import boto3``) when pydantic is imported before it
    # When the handler's module is imported in a fresh interpreter
    loaded = _loaded(f"import {module}", ("aws_lambda_powertools.utilities.parser.models",))
    # Then no parser model is loaded: a handler imports the batch utility before anything imports pydantic
    assert loaded == []


@pytest.mark.parametrize("module", HANDLERS)
def test_handler_import_builds_no_record_event_or_answer_model(module: str) -> None:
    # When the handler's module is imported in a fresh interpreter
    result = subprocess.run(
        [sys.executable, "-c", BUILT, module],
        capture_output=True,
        text=True,
        env=_env(),
        check=True,
        cwd=ROOT,
    )
    # Then no CRM record, event model or answer model has its core schema built yet
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


LOADED = """
import json, sys
exec(sys.argv[1])
print(json.dumps(sorted(m for m in sys.argv[2].split(',') if m in sys.modules)))
"""


def _loaded(code: str, modules: tuple[str, ...]) -> list[str]:
    """Which of ``modules`` running ``code`` in a fresh interpreter loads."""
    result = subprocess.run(
        [sys.executable, "-c", LOADED, code, ",".join(modules)],
        capture_output=True, text=True, env=_env(), check=True, cwd=ROOT,
    )  # fmt: skip
    return list(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("module", sorted(UNUSED_AT_IMPORT))
def test_handler_import_loads_no_module_only_some_invocations_use(module: str) -> None:
    # Given the modules only some of this handler's invocations use
    unused = UNUSED_AT_IMPORT[module]
    # When the handler's module is imported in a fresh interpreter
    loaded = _loaded(f"import {module}", unused)
    # Then none of them is loaded yet
    assert loaded == []
    assert module in HANDLERS  # a handler the template still names


# What a first call runs to read its configuration and build its stores -> modules it must not load.
FIRST_CALL = {
    "from shared.config_store import load_config, RecheckedConfig; import shared.config_schemas.stages, "
    "shared.config_schemas.fx, shared.config_schemas.alerts, shared.config_schemas.leads, "
    "shared.config_schemas.routing, shared.config_schemas.distributors": ("yaml",),
    "import crm_events.app; from crm_events.storage import dynamo_stores; dynamo_stores()": (
        "shared.store.plan", "yaml", "aws_lambda_powertools.event_handler", DATA_CLASSES,
    ),
}  # fmt: skip


@pytest.mark.parametrize("code", sorted(FIRST_CALL))
def test_reading_configuration_and_building_stores_loads_neither_pyyaml_nor_another_store(code: str) -> None:
    # When what a first call imports and builds runs in a fresh interpreter (documents: their JSON rendering)
    loaded = _loaded(code, FIRST_CALL[code])
    # Then none of the modules only other paths use is loaded
    assert loaded == []
