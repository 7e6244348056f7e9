"""The local hub's stream poller honours the template's FilterCriteria as Lambda does (issue 14): the
alerts function is not given a lead a trade-show list created (its import's digest announces it), and a
pattern Lambda would refuse is refused here too."""

from __future__ import annotations

from typing import Any

import pytest

from hub.local.filters import FilterPattern, FilterPatternError, matches_any
from hub.local.template import HubTemplate


def record(event: str, entity: str, **new: str) -> dict[str, Any]:
    image = {"entity": {"S": entity}, **{k: {"S": v} for k, v in new.items()}}
    return {"eventName": event, "eventSource": "aws:dynamodb", "dynamodb": {"NewImage": image}}


@pytest.fixture(scope="module")
def alerts_crm_filter() -> list[FilterPattern]:
    mapping = next(
        m for m in HubTemplate().stream_mappings() if m.function == "AlertsFunction" and m.table == "CrmTable"
    )
    return [FilterPattern.load(p) for p in mapping.filters]


def test_the_alerts_function_is_given_web_leads_and_digests_but_not_an_imported_lead(alerts_crm_filter):
    def delivered(r: dict[str, Any]) -> bool:
        return matches_any(alerts_crm_filter, r)

    # a web-form lead, created or changed (an owner moved): delivered
    assert delivered(record("INSERT", "LEAD", source="web_form", owner="rep-sam"))
    assert delivered(record("MODIFY", "LEAD", source="import:imports/leads/x.csv", imported_from="x"))
    # a lead a trade-show list created: not delivered; its import's digest record is, once (INSERT)
    assert not delivered(record("INSERT", "LEAD", imported_from="imports/leads/expo.csv", owner="rep-sam"))
    assert delivered(record("INSERT", "IMPORT_DIGEST", rep_id="rep-sam"))
    assert not delivered(record("MODIFY", "IMPORT_DIGEST", rep_id="rep-sam"))
    # opportunities and escalations as before; what alerts never reads is dropped
    assert delivered(record("MODIFY", "OPPORTUNITY")) and delivered(record("INSERT", "ESCALATION"))
    for entity in ("ALERT", "LEAD_SUBMISSION", "REP"):
        assert not delivered(record("INSERT", entity))
    assert not delivered({"eventName": "REMOVE", "dynamodb": {"OldImage": {"entity": {"S": "LEAD"}}}})


def test_every_pattern_of_the_template_is_one_lambda_accepts():
    for mapping in HubTemplate().stream_mappings():
        for pattern in mapping.filters:
            FilterPattern.load(pattern)  # raises FilterPatternError for an operator Lambda does not have


@pytest.mark.parametrize(
    ("rule", "value", "expected"),
    [
        ("LEAD", "LEAD", True),
        ("LEAD", "LEADS", False),
        ({"prefix": "import:"}, "import:imports/leads/a.csv", True),
        ({"prefix": "import:"}, "web_form", False),
        ({"suffix": ".csv"}, "a.csv", True),
        ({"equals-ignore-case": "done"}, "DONE", True),
        ({"anything-but": ["done", "failed"]}, "running", True),
        ({"anything-but": "done"}, "done", False),
        ({"numeric": [">", 0, "<=", 5]}, 5, True),
        ({"numeric": [">", 0, "<=", 5]}, 6, False),
        ({"numeric": [">", 0]}, "7", False),  # a string is not a number
        ({"exists": True}, "x", True),
    ],
)
def test_each_operator_matches_as_lambda_documents(rule: Any, value: Any, expected: bool):
    pattern = FilterPattern.load({"detail": {"field": [rule]}})
    assert pattern.matches({"detail": {"field": value}}) is expected


def test_exists_false_matches_a_missing_field_and_a_list_value_matches_by_any_element():
    absent = FilterPattern.load({"a": {"b": [{"exists": False}]}})
    assert absent.matches({"a": {}}) and absent.matches({}) and not absent.matches({"a": {"b": "x"}})
    assert FilterPattern.load({"tags": ["red"]}).matches({"tags": ["blue", "red"]})
    assert not FilterPattern.load({"missing": ["x"]}).matches({})


@pytest.mark.parametrize(
    "pattern",
    [
        {"source": [{"anything-but": {"prefix": "import:"}}]},  # EventBridge has it, Lambda does not
        {"source": [{"wildcard": "import:*"}]},
        {"source": "LEAD"},  # a leaf must be a list
        {"source": []},
        {"n": [{"numeric": ["~", 1]}]},
    ],
)
def test_a_pattern_lambda_refuses_is_refused(pattern: dict[str, Any]):
    with pytest.raises(FilterPatternError):
        FilterPattern.load(pattern)
