"""Spam signals for lead submissions: a spam lead is quarantined (stored, not routed), never dropped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from leads_webhook.submission import LeadSubmission
from shared.config_schemas.leads import SpamSettings
from shared.leads import email_key

SpamReason = Literal["honeypot", "too_fast", "blocked_domain"]


@dataclass(frozen=True)
class SpamVerdict:
    reasons: tuple[SpamReason, ...] = ()

    @property
    def is_spam(self) -> bool:
        return bool(self.reasons)


def classify_spam(submission: LeadSubmission, spam: SpamSettings, *, now: datetime) -> SpamVerdict:
    """The honeypot filled, a form sent faster than a person can fill it, or a blocked email domain."""
    reasons: list[SpamReason] = []
    if submission.website:
        reasons.append("honeypot")
    elapsed = fill_seconds(submission, now)
    if elapsed is not None and elapsed < spam.min_fill_seconds:
        reasons.append("too_fast")
    if domain_blocked(email_key(submission.email).rpartition("@")[2], spam.blocked_domains):
        reasons.append("blocked_domain")
    return SpamVerdict(tuple(reasons))


def fill_seconds(submission: LeadSubmission, now: datetime) -> float | None:
    """How long the person took to fill the form, when the form told us (elapsed wins over render time)."""
    if submission.form_elapsed_ms is not None:
        return submission.form_elapsed_ms / 1000
    if submission.form_rendered_at is not None:
        elapsed = (now - submission.form_rendered_at).total_seconds()
        # A render time in the future is a clock problem, not a spam signal.
        return elapsed if elapsed >= 0 else None
    return None


def domain_blocked(domain: str, blocked: list[str]) -> bool:
    """The domain or any parent of it is listed."""
    return any(domain == d or domain.endswith("." + d) for d in blocked)
