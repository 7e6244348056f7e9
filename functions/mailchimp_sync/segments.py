"""What a contact looks like in MailChimp: merge fields and segment tags. Pure functions."""

from __future__ import annotations

import hashlib
import re
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

EMPLOYEE_BANDS: tuple[tuple[int, str], ...] = (
    (10, "1-10"),
    (50, "11-50"),
    (200, "51-200"),
    (500, "201-500"),
    (1000, "501-1000"),
    (5000, "1001-5000"),
)
EMPLOYEE_TOP_BAND = "5001+"

REVENUE_BANDS: tuple[tuple[float, str], ...] = (
    (1e6, "0-1m"),
    (10e6, "1m-10m"),
    (50e6, "10m-50m"),
    (100e6, "50m-100m"),
    (500e6, "100m-500m"),
    (1e9, "500m-1b"),
)
REVENUE_TOP_BAND = "1b+"

# a contact has at most one tag per exclusive prefix: the old one is removed when it changes
EXCLUSIVE_PREFIXES = ("employees:", "revenue:", "industry:")
# campaign tags accumulate: having come through a campaign stays true
ADDITIVE_PREFIXES = ("campaign:",)
MAX_TAG_LENGTH = 100


def subscriber_hash(email: str) -> str:
    """MailChimp's member id: MD5 of the lowercased email."""
    return hashlib.md5(email.strip().lower().encode()).hexdigest()  # noqa: S324 - MailChimp's id scheme


def employee_band(employees: int | None) -> str | None:
    if employees is None or employees < 1:
        return None
    for upper, band in EMPLOYEE_BANDS:
        if employees <= upper:
            return band
    return EMPLOYEE_TOP_BAND


def revenue_band(annual_revenue: float | None) -> str | None:
    if annual_revenue is None or annual_revenue < 0:
        return None
    for upper, band in REVENUE_BANDS:
        if annual_revenue < upper:
            return band
    return REVENUE_TOP_BAND


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
        "EMPBAND": employee_band(contact.employees),
        "REVBAND": revenue_band(contact.annual_revenue),
        "INDUSTRY": contact.industry,
    }
    return {tag: str(value) for tag, value in values.items() if value not in (None, "")}


def tags_for(contact: MailchimpContact) -> set[str]:
    tags: set[str] = set()
    if band := employee_band(contact.employees):
        tags.add(f"employees:{band}")
    if band := revenue_band(contact.annual_revenue):
        tags.add(f"revenue:{band}")
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


def all_other_band_tags(desired: set[str]) -> set[str]:
    """Every band tag the contact should not carry, for writes that cannot read the current tags
    first (batch backfill). Industry values are open-ended, so only known bands are listed."""
    employees = {f"employees:{b}" for _, b in EMPLOYEE_BANDS} | {f"employees:{EMPLOYEE_TOP_BAND}"}
    revenue = {f"revenue:{b}" for _, b in REVENUE_BANDS} | {f"revenue:{REVENUE_TOP_BAND}"}
    desired_lower = {t.lower() for t in desired}
    return {t for t in employees | revenue if t.lower() not in desired_lower and _prefix_present(t, desired)}


def _prefix_present(tag: str, desired: set[str]) -> bool:
    prefix = tag.split(":", 1)[0] + ":"
    return any(d.startswith(prefix) for d in desired)
