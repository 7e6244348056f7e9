"""What the handler builds once per process: the store and the rollup's configuration."""

from __future__ import annotations

from functools import lru_cache

from plan_rollup.rollup import RollupContext
from shared.config_schemas.fx import FxConfig
from shared.config_schemas.stages import StageCatalog
from shared.config_store import ConfigError, load_config
from shared.settings import get_settings
from shared.store.plan import DynamoRollupStore


@lru_cache(maxsize=1)
def store() -> DynamoRollupStore:
    return DynamoRollupStore()


def context() -> RollupContext:
    """The exchange rates and the stage catalogue in force (re-read when their documents change)."""
    fx = load_config("fx.yaml", FxConfig)
    company = get_settings().company_currency
    if fx.company_currency != company:
        raise ConfigError(
            "fx.yaml",
            [
                {
                    "field": "company_currency",
                    "message": f"{fx.company_currency} is not the company's {company}",
                }
            ],
        )
    return RollupContext(fx=fx, stages=load_config("stages.yaml", StageCatalog))
