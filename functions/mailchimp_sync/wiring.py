"""The sync's collaborators as deployed, built on first use and kept for the life of the container:
MailChimp's setup, the gateway (its connection cap spans all threads) and the contact repository."""

from __future__ import annotations

from functools import lru_cache

from mailchimp_sync.config import MailchimpNotConfiguredError, MailchimpSetup, load_setup
from mailchimp_sync.gateway import MailchimpGateway
from mailchimp_sync.repository import DynamoContactRepository
from shared.settings import get_settings


@lru_cache(maxsize=1)
def mailchimp_setup() -> MailchimpSetup:
    return load_setup(get_settings())


@lru_cache(maxsize=4)
def gateway_for(setup: MailchimpSetup) -> MailchimpGateway:
    """One gateway per configuration, kept across invocations (its cap spans all threads)."""
    return MailchimpGateway(setup.config)


@lru_cache(maxsize=1)
def repository() -> DynamoContactRepository:
    return DynamoContactRepository()


def webhook_token() -> str:
    try:
        return mailchimp_setup().webhook_token
    except MailchimpNotConfiguredError:
        return ""


def list_id() -> str | None:
    try:
        return mailchimp_setup().config.list_id
    except MailchimpNotConfiguredError:
        return None
