"""config/alerts.yaml: the shipped document validates, a bad one is refused field by field."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.config_schemas.alerts import AlertsConfig
from shared.config_schemas.registry import model_for
from shared.config_store import ConfigError, validate_document

ROOT = Path(__file__).resolve().parents[3]


def test_the_shipped_document_is_valid_and_equals_the_defaults() -> None:
    shipped = validate_document("alerts.yaml", (ROOT / "config" / "alerts.yaml").read_bytes(), AlertsConfig)
    assert shipped == AlertsConfig()
    assert model_for("alerts.yaml") is AlertsConfig


def test_an_empty_document_is_the_defaults() -> None:
    assert validate_document("alerts.yaml", b"", AlertsConfig) == AlertsConfig()


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (b"recipients: {lead_assigned: {to: [boss]}}", "recipients.lead_assigned.to.0"),
        (b"recipients: {lead_asigned: {to: [owner]}}", "recipients.lead_asigned"),
        (b"speed_to_lead: {remind_after_hours: 8, manager_after_hours: 4}", "speed_to_lead"),
        (b"stale_opportunity: {stages: {Lost: -1}}", "stale_opportunity.stages"),
        (b"default_timezone: Mars/Olympus", "default_timezone"),
        (b"fallback_email: 'a@b.com, c@d.com'", "fallback_email"),
        (b"urgent_kinds: [everything]", "urgent_kinds.0"),
        (b"quiet_hours: {start: '25:00'}", "quiet_hours.start"),
        (b"digest: {max_per_day: 0}", "digest.max_per_day"),
    ],
)
def test_a_bad_document_names_the_field(document: bytes, field: str) -> None:
    with pytest.raises(ConfigError) as refused:
        validate_document("alerts.yaml", document, AlertsConfig)
    assert field in [e["field"] for e in refused.value.errors]


def test_quiet_hours_wrap_midnight() -> None:
    from datetime import time

    quiet = AlertsConfig().quiet_hours
    assert quiet.contains(time(22, 0)) and quiet.contains(time(6, 59)) and not quiet.contains(time(7, 0))
