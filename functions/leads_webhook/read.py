"""What `GET /leads/{lead_id}` adds about the intake: the submission history and where the lead waits."""

from __future__ import annotations

from typing import Any

from leads_webhook.intake import LeadRepository
from leads_webhook.records import SubmissionRecord


def submission_view(submission: SubmissionRecord) -> dict[str, Any]:
    return {
        "submission_id": submission.submission_id,
        "received_at": submission.received_at.isoformat(),
        "source": submission.source,
        "campaign": submission.campaign,
        "utm_source": submission.utm_source,
        "utm_medium": submission.utm_medium,
        "utm_campaign": submission.utm_campaign,
        "outcome": submission.outcome,
        "quarantine_reasons": list(submission.quarantine_reasons),
        "fields": submission.fields,
    }


def lead_intake_view(lead_id: str, leads: LeadRepository | None = None) -> dict[str, Any]:
    """`submissions` (oldest first), `queue` and `quarantine_reasons`, to merge into the lead's view."""
    if leads is None:
        from leads_webhook.storage import DynamoLeadRepository

        leads = DynamoLeadRepository()
    lead = leads.get(lead_id)
    if lead is None:
        return {}
    return {
        "queue": lead.queue,
        "quarantine_reasons": list(lead.quarantine_reasons),
        "submissions": [submission_view(s) for s in leads.history(lead_id)],
    }
