"""The intake's services as deployed: DynamoDB storage, configuration from the bucket, SSM secrets."""

from __future__ import annotations

from functools import lru_cache

from leads_webhook.intake import LeadServices
from shared.leads import LeadsConfig
from shared.routing import RoutingConfig


def leads_config() -> LeadsConfig:
    from shared.config_store import load_config

    return load_config("leads.yaml", LeadsConfig)


def routing_config() -> RoutingConfig:
    from shared.config_store import load_config

    return load_config("routing.yaml", RoutingConfig)


@lru_cache(maxsize=1)
def deployed_services() -> LeadServices:
    """Built once per container, on first use (never at import: moto and the local hub set endpoints first)."""
    from leads_webhook.storage import DynamoLeadRepository, DynamoRateLimiter, DynamoRotationRepository
    from shared.settings import get_settings
    from shared.signing import SsmSourceSecrets

    return LeadServices(
        leads=DynamoLeadRepository(),
        rotation=DynamoRotationRepository(),
        rate_limiter=DynamoRateLimiter(),
        leads_config=leads_config,
        routing_config=routing_config,
        secrets=SsmSourceSecrets(get_settings().secrets_prefix),
    )
