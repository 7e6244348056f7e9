"""Which alerts a CRM change calls for: pure functions over the stream's old and new images."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class AlertNeed:
    """One alert to send: ``key`` makes it idempotent (the same change never alerts twice)."""

    kind: str
    key: str
    recipient_rep: str | None = None
    recipient_email: str | None = None
    fallback_email: str | None = None
    subject_fields: dict[str, Any] = field(default_factory=dict)
    item: dict[str, Any] = field(default_factory=dict)


def alerts_for_change(new: dict[str, Any] | None, old: dict[str, Any] | None) -> list[AlertNeed]:
    """The alerts that one CRM item change calls for."""
    if not new:
        return []
    entity = new.get("entity")
    old = old or {}
    if entity == "LEAD":
        return _lead_assigned(new, old)
    if entity == "OPPORTUNITY":
        return _opportunity_stage_changed(new, old)
    if entity == "ESCALATION":
        return _escalation_assigned(new, old)
    return []


def _lead_assigned(new: dict[str, Any], old: dict[str, Any]) -> list[AlertNeed]:
    owner = new.get("owner")
    if not owner or new.get("quarantined") or owner == old.get("owner"):
        return []
    # Routing may name a rep of routing.yaml that the CRM does not hold: the assignment
    # carries that rep's address, used when the CRM has no record.
    fallback_email = (new.get("assignment") or {}).get("owner_email")
    return [
        AlertNeed(
            kind="prospect_assigned",
            key=f"lead-assigned#{new['lead_id']}#{owner}",
            recipient_rep=str(owner),
            fallback_email=str(fallback_email) if fallback_email else None,
            item=new,
        )
    ]


def _opportunity_stage_changed(new: dict[str, Any], old: dict[str, Any]) -> list[AlertNeed]:
    stage, before = new.get("stage"), old.get("stage")
    owner = new.get("owner")
    if not owner or not stage or stage == before:
        return []
    opp_id = new.get("opportunity_id") or new.get("id") or new.get("pk")
    return [
        AlertNeed(
            kind="opportunity_stage_changed",
            key=f"opp-stage#{opp_id}#{before}#{stage}#{new.get('occurred_at', '')}",
            recipient_rep=str(owner),
            item={**new, "old_stage": before},
        )
    ]


def _escalation_assigned(new: dict[str, Any], old: dict[str, Any]) -> list[AlertNeed]:
    assignee = new.get("assignee")
    if not assignee or assignee == old.get("assignee"):
        return []
    esc_id = new.get("escalation_id") or new.get("id") or new.get("pk")
    return [
        AlertNeed(
            kind="escalation_assigned",
            key=f"escalation#{esc_id}#{assignee}",
            recipient_rep=str(assignee),
            item=new,
        )
    ]
