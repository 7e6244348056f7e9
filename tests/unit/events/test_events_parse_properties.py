"""Property: no body makes parsing fail other than with BodyError, and what passes is valid."""

import json
from datetime import UTC, datetime

from crm_events.models import EVENT_TYPES, BodyError, parse_events, validate_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.config_schemas.stages import load_stages_file

STAGES = load_stages_file()
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
field_values = st.one_of(
    json_values,
    st.sampled_from(
        ["opp-1", "acc-1", "Job Won", "job won", "Closed", "2026-11-22T10:00:00Z", "2026-11-22", "USD"]
    ),
    st.integers(min_value=-5, max_value=2200),
)
data_keys = st.sampled_from(
    [
        "id",
        "name",
        "account_id",
        "stage",
        "amount",
        "probability",
        "node_type",
        "node_id",
        "year",
        "quarter",
        "lead_id",
        "status",
        "rep_id",
        "at",
        "booked_at",
        "points",
        "part_number",
        "quantity",
        "severity",
        "aliases",
    ]
)
events = st.fixed_dictionaries(
    {},
    optional={
        "event_id": st.one_of(st.text(max_size=30), st.just("evt-1"), json_values),
        "type": st.one_of(st.sampled_from(EVENT_TYPES), st.text(max_size=20), json_values),
        "occurred_at": st.one_of(st.just("2026-11-22T10:00:00Z"), st.datetimes().map(str), json_values),
        "source": st.one_of(st.just("crm-x"), st.text(max_size=10)),
        "data": st.one_of(st.dictionaries(data_keys, field_values, max_size=10), json_values),
    },
)
bodies = st.one_of(
    st.binary(max_size=200),
    events.map(lambda e: json.dumps(e).encode()),
    st.lists(st.one_of(events, json_values), max_size=5).map(lambda es: json.dumps({"events": es}).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(bodies)
def test_any_body_parses_or_is_a_body_error_and_accepted_events_round_trip(body):
    try:
        results = parse_events(body, STAGES, now=NOW)
    except BodyError:
        return
    for result in results:
        assert result.valid != bool(result.errors)
        if result.valid:
            # What would be stored validates again, to the same event.
            again = validate_event(result.event.model_dump(mode="json"), STAGES, now=NOW)
            assert again.valid, again.errors
            assert again.event == result.event
        else:
            assert all(set(e) == {"field", "message"} for e in result.errors)
