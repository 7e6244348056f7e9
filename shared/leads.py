"""A lead's identity, shared by the functions that meet a person by email (leads_webhook, mailchimp_sync).

The lead itself (the submission model, parsing, normalisation) is `leads_webhook`'s.
"""

from __future__ import annotations

import uuid


def email_key(email: str) -> str:
    """The identity of a person: the address, trimmed and compared case-insensitively."""
    return email.strip().lower()


# A lead's id is derived from its email identity, so the same person always maps to the same
# lead: the intake dedupes with one conditional write, and MailChimp's webhooks find the lead.
LEAD_NAMESPACE = uuid.UUID("5b0f8a3e-6d1c-4e55-9b0a-2f4c7e1d8a90")


def lead_id_for(email_key: str) -> str:
    return uuid.uuid5(LEAD_NAMESPACE, email_key).hex
