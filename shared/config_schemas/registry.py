"""Which model validates which configuration document (a path below ``config/``).

``config_validator`` checks every upload with it; a function loads its document with the model
directly (``shared.config_store.load_config(name, Model)``). Imported only by the validator, so a
function's cold start does not pay for the other documents' models; and each model is imported when a
document of its name is first checked, so the validator's own cold start pays only for the one in hand.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from pydantic import BaseModel

from shared.config_store import ConfigError


def _routing() -> type[BaseModel]:
    from shared.config_schemas.routing import RoutingConfig

    return RoutingConfig


def _leads() -> type[BaseModel]:
    from shared.config_schemas.leads import LeadsConfig

    return LeadsConfig


def _stages() -> type[BaseModel]:
    from shared.config_schemas.stages import StageCatalog

    return StageCatalog


def _fx() -> type[BaseModel]:
    from shared.config_schemas.fx import FxConfig

    return FxConfig


def _alerts() -> type[BaseModel]:
    from shared.config_schemas.alerts import AlertsConfig

    return AlertsConfig


def _distributor() -> type[BaseModel]:
    from shared.config_schemas.distributors import DistributorProfile

    return DistributorProfile


# Document name (a pattern) -> the model's import, done on first use.
CONFIG_MODELS: dict[str, Callable[[], type[BaseModel]]] = {
    "routing.yaml": _routing,
    "leads.yaml": _leads,
    "stages.yaml": _stages,
    "fx.yaml": _fx,
    "alerts.yaml": _alerts,
    "distributors/*.yaml": _distributor,
}


def model_for(name: str) -> type[BaseModel]:
    """The model that validates document ``name``; ``ConfigError`` for a name no document has."""
    for pattern, model in CONFIG_MODELS.items():
        if fnmatch.fnmatchcase(name, pattern):
            return model()
    raise ConfigError(name, [{"field": "(document)", "message": "no configuration document of this name"}])
