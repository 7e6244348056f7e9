"""What a contact looks like in MailChimp: merge fields and segment tags. Pure functions.

The employee and revenue bands are the lead's own (``shared.config_schemas.leads.LeadsConfig``, stored on the
lead); this module only names them as MailChimp tags."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mailchimp_sync.models import MailchimpContact

# (tag, label, type) of every merge field the sync writes; `hub mailchimp setup` creates missing ones
MERGE_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("FNAME", "First Name", "text"),
    ("LNAME", "Last Name", "text"),
    ("COMPANY", "Company", "text"),
    ("PHONE", "Phone Number", "phone"),
    ("COUNTRY", "Country", "text"),
    ("EMPBAND", "Employee band", "text"),
    ("REVBAND", "Revenue band", "text"),
    ("INDUSTRY", "Industry", "text"),
)

# a contact has at most one tag per exclusive prefix: the old one is removed when it changes
EXCLUSIVE_PREFIXES = ("employees:", "revenue:", "industry:")
# campaign tags accumulate: having come through a campaign stays true
ADDITIVE_PREFIXES = ("campaign:",)
MAX_TAG_LENGTH = 100


def subscriber_hash(email: str) -> str:
    """MailChimp's member id: MD5 of the lowercased email."""
    return hashlib.md5(email.strip().lower().encode()).hexdigest()  # noqa: S324 - MailChimp's id scheme


def slug(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.strip().lower()).strip("-")


def merge_fields_for(contact: MailchimpContact) -> dict[str, str]:
    """Only the values the CRM knows; an unknown value never blanks what MailChimp holds."""
    values = {
        "FNAME": contact.first_name,
        "LNAME": contact.last_name,
        "COMPANY": contact.company,
        "PHONE": contact.phone,
        "COUNTRY": contact.country,
        "EMPBAND": contact.employee_band,
        "REVBAND": contact.revenue_band,
        "INDUSTRY": contact.industry,
    }
    return {tag: str(value) for tag, value in values.items() if value not in (None, "")}


def tags_for(contact: MailchimpContact) -> set[str]:
    tags: set[str] = set()
    if contact.employee_band:
        tags.add(f"employees:{contact.employee_band}")
    if contact.revenue_band:
        tags.add(f"revenue:{contact.revenue_band}")
    if contact.industry and slug(contact.industry):
        tags.add(f"industry:{slug(contact.industry)}")
    for campaign in contact.campaigns:
        if campaign.strip():
            tags.add(f"campaign:{campaign.strip()}"[:MAX_TAG_LENGTH])
    return tags


@dataclass(frozen=True)
class TagDiff:
    add: tuple[str, ...]
    remove: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.add or self.remove)

    def as_body(self) -> list[dict[str, str]]:
        return [{"name": t, "status": "active"} for t in self.add] + [
            {"name": t, "status": "inactive"} for t in self.remove
        ]


def diff_tags(current: set[str], desired: set[str]) -> TagDiff:
    """Tags to add and remove. MailChimp compares tag names case-insensitively; so do we.

    Only our own prefixes are touched: a tag someone added by hand in MailChimp stays."""
    current_lower = {t.lower(): t for t in current}
    desired_lower = {t.lower(): t for t in desired}
    add = sorted(desired_lower[t] for t in desired_lower if t not in current_lower)
    remove = sorted(
        current_lower[t] for t in current_lower if t.startswith(EXCLUSIVE_PREFIXES) and t not in desired_lower
    )
    return TagDiff(tuple(add), tuple(remove))


def other_band_tags(desired: set[str], band_names: Mapping[str, Iterable[str]]) -> set[str]:
    """Every known band tag the contact should not carry, for writes that cannot read the current
    tags first (batch backfill). ``band_names`` maps a prefix (``employees:``) to the configured
    band names; a prefix the contact has no tag for is left alone."""
    desired_lower = {t.lower() for t in desired}
    others: set[str] = set()
    for prefix, names in band_names.items():
        if any(t.startswith(prefix) for t in desired_lower):
            others |= {f"{prefix}{n}" for n in names if f"{prefix}{n}".lower() not in desired_lower}
    return others
