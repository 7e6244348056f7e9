from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from mailchimp_sync.config import MailchimpConfig
from mailchimp_sync.gateway import MailchimpGateway
from mailchimp_sync.models import MailchimpContact

from hub.fake_mailchimp import FakeMailchimp


@pytest.fixture
def fake() -> Iterator[FakeMailchimp]:
    with FakeMailchimp() as server:
        yield server


@pytest.fixture
def make_gateway(fake: FakeMailchimp) -> Callable[..., MailchimpGateway]:
    """A gateway on the real client pointed at the fake; fast backoff unless a test asks otherwise."""

    def make(**overrides: Any) -> MailchimpGateway:
        options: dict[str, Any] = {
            "api_key": "fake-key-us1",
            "list_id": fake.list_id,
            "base_url": fake.url,
            "backoff_base_s": 0.01,
            "backoff_cap_s": 0.05,
            "timeout_s": 2.0,
        }
        options.update(overrides)
        return MailchimpGateway(MailchimpConfig(**options))

    return make


@pytest.fixture
def gateway(make_gateway: Callable[..., MailchimpGateway]) -> MailchimpGateway:
    return make_gateway()


@pytest.fixture
def make_contact() -> Callable[..., MailchimpContact]:
    return build_contact


def build_contact(email: str = "ada@example.com", **fields: Any) -> MailchimpContact:
    base: dict[str, Any] = {
        "contact_id": f"lead-{email}",
        "email": email,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "company": "Analytical Engines",
        "employee_band": "50-249",
        "revenue_band": "10M-100M",
        "industry": "Automotive",
        "marketing_opt_in": True,
    }
    base.update(fields)
    return MailchimpContact(**base)
