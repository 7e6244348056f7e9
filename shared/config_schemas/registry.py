"""Which model validates which configuration document (a path below ``config/``).

``config_validator`` checks every upload with it; a function loads its document with the model
directly (``shared.config_store.load_config(name, Model)``). Imported only by the validator, so a
function's cold start does not pay for the other documents' models; and each model is imported when a
document of its name is first checked, so the validator's own cold start pays only for the one in hand.
"""

from __future__ import annotations

import fnmatch

from pydantic import BaseModel

from shared.config_store import ConfigError

# The document names (patterns) that have a model.
DOCUMENTS = ("routing.yaml", "leads.yaml", "stages.yaml", "fx.yaml", "alerts.yaml", "distributors/*.yaml")


def _model_of(pattern: str) -> type[BaseModel]:
    """The model of the documents named like ``pattern``, imported when first asked for (the others are not)."""
    model: type[BaseModel]
    match pattern:
        case "routing.yaml":
            from shared.config_schemas.routing import RoutingConfig as model
        case "leads.yaml":
            from shared.config_schemas.leads import LeadsConfig as model
        case "stages.yaml":
            from shared.config_schemas.stages import StageCatalog as model
        case "fx.yaml":
            from shared.config_schemas.fx import FxConfig as model
        case "alerts.yaml":
            from shared.config_schemas.alerts import AlertsConfig as model
        case _:
            from shared.config_schemas.distributors import DistributorProfile as model
    return model


def model_for(name: str) -> type[BaseModel]:
    """The model that validates document ``name``; ``ConfigError`` for a name no document has."""
    for pattern in DOCUMENTS:
        if fnmatch.fnmatchcase(name, pattern):
            return _model_of(pattern)
    raise ConfigError(name, [{"field": "(document)", "message": "no configuration document of this name"}])
