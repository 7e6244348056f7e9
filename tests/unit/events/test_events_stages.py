"""The stage catalogue (config/stages.yaml, shared/config_schemas/stages.py)."""

import pytest

from shared.config_schemas.stages import StagesConfigError, load_stages_file, parse_stages

SEED_LEAD_STATUSES = [
    "New",
    "Identified Prospect",
    "Qualified Prospect",
    "Sales Call Planning",
    "Qualified Lead",
    "Marketing & Presentation",
    "Verbal Agreement to Discuss",
    "On Hold",
    "No Value",
    "Lost",
    "Converted",
]


def test_shipped_catalogue_holds_the_seed_lead_statuses_in_order():
    assert load_stages_file().lead_status_names() == SEED_LEAD_STATUSES


def test_shipped_catalogue_runs_from_qualifying_needs_to_job_won_then_hold_and_lost():
    names = load_stages_file().opportunity_stage_names()
    assert names[0] == "Qualifying Needs"
    assert names[-3:] == ["Job Won", "On Hold", "Lost"]
    assert len(names) == 12


def test_open_stage_probabilities_rise_with_order():
    catalog = load_stages_file()
    open_stages = [s for s in catalog.opportunity_stages if s.outcome == "open"]
    probabilities = [s.probability for s in sorted(open_stages, key=lambda s: s.order)]
    assert probabilities == sorted(probabilities)
    assert catalog.opportunity_stage("Job Won").probability == 100
    assert catalog.opportunity_stage("Lost").is_closed


@pytest.mark.parametrize("spelling", ["job won", "JOB  WON", " Job Won "])
def test_names_match_case_and_space_insensitively(spelling):
    assert load_stages_file().opportunity_stage(spelling).name == "Job Won"


def test_aliases_resolve_to_the_canonical_name():
    catalog = load_stages_file()
    assert catalog.opportunity_stage("BDM and PM develops proposal").name == "Proposal Delivered"
    assert catalog.lead_status("Sales Call Planning and Execution").name == "Sales Call Planning"


def test_unknown_names_are_none():
    assert load_stages_file().opportunity_stage("Closed Won") is None


MINIMAL = """
lead_statuses:
  - {name: New, order: 1, probability: 0}
opportunity_stages:
  - {name: Open, order: 1, probability: 10}
"""


def test_a_minimal_document_is_valid():
    assert parse_stages(MINIMAL).opportunity_stage_names() == ["Open"]


@pytest.mark.parametrize(
    ("document", "field", "reason"),
    [
        (MINIMAL.replace("probability: 10", "probability: 101"), "opportunity_stages.0.probability", "100"),
        (MINIMAL.replace("probability: 10", "probability: -1"), "opportunity_stages.0.probability", "0"),
        (MINIMAL + "  - {name: open, order: 2, probability: 20}\n", "opportunity_stages", "reuses the name"),
        (MINIMAL + "  - {name: Other, order: 1, probability: 20}\n", "opportunity_stages", "order 1"),
        (
            MINIMAL + "  - {name: Other, order: 2, probability: 20, aliases: [OPEN]}\n",
            "opportunity_stages",
            "reuses the name",
        ),
        (
            MINIMAL.replace("order: 1, probability: 0", "order: 1, probability: 0, colour: red"),
            "colour",
            "Extra",
        ),
        ("lead_statuses: []\nopportunity_stages: []\n", "lead_statuses", "at least 1"),
        ("[1, 2", "", "not valid YAML"),
        ("just text", "", "valid dictionary"),
    ],
)
def test_bad_documents_are_refused_with_field_and_reason(document, field, reason):
    with pytest.raises(StagesConfigError) as err:
        parse_stages(document)
    assert any(field in e["field"] and reason in e["message"] for e in err.value.errors), err.value.errors
