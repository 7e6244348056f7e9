"""Which model validates which configuration document (a path below ``config/``).

``config_validator`` checks every upload with it; a function loads its document with the model
directly (``shared.config_store.load_config(name, Model)``). Imported only by the validator, so a
function's cold start does not pay for the other documents' models.
"""

from __future__ import annotations

import fnmatch

from pydantic import BaseModel

from shared.config_schemas.alerts import AlertsConfig
from shared.config_schemas.distributors import DistributorProfile
from shared.config_schemas.fx import FxConfig
from shared.config_schemas.leads import LeadsConfig
from shared.config_schemas.routing import RoutingConfig
from shared.config_schemas.stages import StageCatalog
from shared.config_store import ConfigError

CONFIG_MODELS: dict[str, type[BaseModel]] = {
    "routing.yaml": RoutingConfig,
    "leads.yaml": LeadsConfig,
    "stages.yaml": StageCatalog,
    "fx.yaml": FxConfig,
    "alerts.yaml": AlertsConfig,
    "distributors/*.yaml": DistributorProfile,
}


def model_for(name: str) -> type[BaseModel]:
    """The model that validates document ``name``; ``ConfigError`` for a name no document has."""
    for pattern, model in CONFIG_MODELS.items():
        if fnmatch.fnmatchcase(name, pattern):
            return model
    raise ConfigError(name, [{"field": "(document)", "message": "no configuration document of this name"}])
