"""Alert rules as data (``config/alerts.yaml``): who is told what, when, and how often.

Validated by ``AlertsConfig`` when the document is uploaded (``config_validator``) and when it is
loaded (``shared.config_store.load_config``): an unknown kind, an unknown recipient role or a bad
threshold is refused with the field and the reason, and the last good document stays in force.
Every field has a default, so an empty document is the shipped behaviour.

Recipients of a kind are roles, resolved per alert (``owner``, ``owner_manager``, ``assignee``,
``assignee_manager``, ``account_owner``, ``channel_manager``, ``contact``), or a fixed address. The board
report (``board_report``: the monthly plan-vs-actual report is ready, with its links) belongs to no
rep: its recipients are fixed addresses only (the executives, the board).
"""

from __future__ import annotations

import re
from datetime import time
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

ROLES = (
    "owner",
    "owner_manager",
    "assignee",
    "assignee_manager",
    "account_owner",
    "channel_manager",
    "contact",
)

# Every kind of alert the hub sends; the order is the order a digest lists them in.
STREAM_KINDS = (
    "lead_assigned",
    "leads_imported",
    "lead_reassigned",
    "opportunity_stage",
    "opportunity_won",
    "opportunity_lost",
    "escalation_assigned",
    "escalation_resolved",
    "escalation_outcome",
    "pos_rejects",
    "board_report",
)
SWEEP_KINDS = (
    "speed_to_lead",
    "speed_to_lead_manager",
    "next_step_missing",
    "next_step_overdue",
    "opportunity_stale",
    "escalation_overdue",
    "sample_follow_up_due",
    "activity_overdue",
)
KINDS = STREAM_KINDS + SWEEP_KINDS
Kind = Literal[
    "lead_assigned",
    "leads_imported",
    "lead_reassigned",
    "opportunity_stage",
    "opportunity_won",
    "opportunity_lost",
    "escalation_assigned",
    "escalation_resolved",
    "escalation_outcome",
    "pos_rejects",
    "board_report",
    "speed_to_lead",
    "speed_to_lead_manager",
    "next_step_missing",
    "next_step_overdue",
    "opportunity_stale",
    "escalation_overdue",
    "sample_follow_up_due",
    "activity_overdue",
]

_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")


def _address(value: str) -> str:
    value = value.strip()
    if not _ADDRESS.match(value) or len(value) > 254:
        raise ValueError(f"{value!r} is not a single plain email address")
    return value.lower()


def _recipient(value: str) -> str:
    value = value.strip()
    if value in ROLES:
        return value
    if "@" in value:
        return _address(value)
    raise ValueError(f"{value!r} is neither a role ({', '.join(ROLES)}) nor an email address")


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value!r}") from exc
    return value


Address = Annotated[str, AfterValidator(_address)]
Recipient = Annotated[str, AfterValidator(_recipient)]
Zone = Annotated[str, AfterValidator(_zone)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KindRule(_Strict):
    """Whether a kind is sent, and to whom."""

    enabled: bool = True
    to: tuple[Recipient, ...] = Field(min_length=1, max_length=10)


def _rule(*to: str) -> KindRule:
    return KindRule(to=to)


class Recipients(_Strict):
    """Who each kind goes to (roles or fixed addresses)."""

    lead_assigned: KindRule = _rule("owner")
    # A trade-show list's leads: one email per rep per import (its leads' own lead_assigned are not sent).
    leads_imported: KindRule = _rule("owner")
    lead_reassigned: KindRule = _rule("owner")
    opportunity_stage: KindRule = _rule("owner")
    opportunity_won: KindRule = _rule("owner", "owner_manager")
    opportunity_lost: KindRule = _rule("owner", "owner_manager")
    escalation_assigned: KindRule = _rule("assignee")
    escalation_resolved: KindRule = _rule("account_owner")
    escalation_outcome: KindRule = _rule("contact")
    pos_rejects: KindRule = _rule("channel_manager")
    # The monthly board report is ready (plan vs actual per level of the tree): its links, once a month.
    board_report: KindRule = _rule("board@example.com")
    speed_to_lead: KindRule = _rule("owner")
    speed_to_lead_manager: KindRule = _rule("owner_manager")
    next_step_missing: KindRule = _rule("owner")
    next_step_overdue: KindRule = _rule("owner")
    opportunity_stale: KindRule = _rule("owner")
    escalation_overdue: KindRule = _rule("assignee")
    sample_follow_up_due: KindRule = _rule("owner")
    activity_overdue: KindRule = _rule("owner")

    def rule(self, kind: str) -> KindRule:
        return getattr(self, kind)  # type: ignore[no-any-return]

    @field_validator("board_report")
    @classmethod
    def _addresses_only(cls, rule: KindRule) -> KindRule:
        roles = [to for to in rule.to if to in ROLES]
        if roles:
            raise ValueError(
                f"the board report goes to fixed addresses only (no rep owns it), not the role {roles[0]!r}"
            )
        return rule


class NotableStages(_Strict):
    """Which stage moves alert: the named stages, and every won / lost stage of the catalogue."""

    stages: tuple[str, ...] = ("Verbal Approval",)
    won: bool = True
    lost: bool = True


class SpeedToLead(_Strict):
    """A lead assigned and untouched (still its first status, no activity)."""

    remind_after_hours: float = Field(default=4, gt=0, le=24 * 30)
    manager_after_hours: float = Field(default=24, gt=0, le=24 * 60)
    # Older leads are no longer a speed-to-lead matter (and the sweep reads no further back).
    look_back_days: int = Field(default=14, ge=1, le=365)

    @model_validator(mode="after")
    def _manager_later(self) -> SpeedToLead:
        if self.manager_after_hours <= self.remind_after_hours:
            raise ValueError("manager_after_hours must be later than remind_after_hours")
        return self


class StaleOpportunity(_Strict):
    """No activity for longer than the stage allows (days); repeated every ``repeat_every_days``."""

    default_days: float = Field(default=14, gt=0, le=365)
    stages: dict[str, float] = Field(
        default_factory=lambda: {
            "Qualifying Needs": 21.0,
            "Proposal Delivered": 10.0,
            "Verbal Approval": 5.0,
            "Formal Approval": 5.0,
        }
    )
    repeat_every_days: float = Field(default=7, gt=0, le=365)

    @field_validator("stages")
    @classmethod
    def _positive(cls, stages: dict[str, float]) -> dict[str, float]:
        for name, days in stages.items():
            if days <= 0 or days > 365:
                raise ValueError(f"{name!r}: days must be in (0, 365], not {days}")
        return stages

    def days_for(self, stage: str) -> float:
        folded = {" ".join(k.split()).casefold(): v for k, v in self.stages.items()}
        return folded.get(" ".join(stage.split()).casefold(), self.default_days)


class Repeat(_Strict):
    repeat_every_days: float = Field(default=7, gt=0, le=365)


class EscalationOverdue(_Strict):
    """An open escalation past its due time: told every ``repeat_every_hours``; from the
    ``manager_after_repeats``-th reminder on, the assignee's manager is told too."""

    repeat_every_hours: float = Field(default=24, gt=0, le=24 * 30)
    manager_after_repeats: int = Field(default=2, ge=1, le=100)
    manager: Recipient = "assignee_manager"


class Digest(_Strict):
    """More than ``max_per_day`` non-urgent alerts to one recipient in a day become one digest;
    alerts held for a digest go out at ``send_at`` in the recipient's time zone."""

    max_per_day: int = Field(default=10, ge=1, le=1000)
    send_at: time = time(17, 0)


class QuietHours(_Strict):
    """Non-urgent mail waits from ``start`` to ``end`` (the recipient's time zone).

    ``applies_to: reminders`` (the default) holds the sweeps' reminders only: news of a change (a
    prospect assigned, an escalation handed over) goes at once, since speed to lead is measured from
    the assignment; ``all`` holds every non-urgent kind.
    """

    enabled: bool = True
    start: time = time(20, 0)
    end: time = time(7, 0)
    applies_to: Literal["reminders", "all"] = "reminders"

    def holds(self, kind: str) -> bool:
        return self.enabled and (self.applies_to == "all" or kind in SWEEP_KINDS)

    def contains(self, moment: time) -> bool:
        if not self.enabled or self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


class AlertsConfig(_Strict):
    """The validated ``config/alerts.yaml``."""

    version: Literal[1] = 1
    fallback_email: Address = "sales-ops@example.com"
    default_timezone: Zone = "UTC"
    recipients: Recipients = Recipients()
    notable_stages: NotableStages = NotableStages()
    speed_to_lead: SpeedToLead = SpeedToLead()
    stale_opportunity: StaleOpportunity = StaleOpportunity()
    next_step: Repeat = Repeat(repeat_every_days=3)
    escalation_overdue: EscalationOverdue = EscalationOverdue()
    sample_follow_up: Repeat = Repeat(repeat_every_days=3)
    activity_overdue: Repeat = Repeat(repeat_every_days=1)
    urgent_kinds: tuple[Kind, ...] = ("escalation_overdue", "opportunity_won", "opportunity_lost")
    digest: Digest = Digest()
    quiet_hours: QuietHours = QuietHours()

    def is_urgent(self, kind: str) -> bool:
        return kind in self.urgent_kinds


def default_alerts_config() -> AlertsConfig:
    return AlertsConfig()
