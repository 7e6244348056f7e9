"""Property: whatever a client sends to the form parser, it answers a submission or field errors."""

import json
from urllib.parse import urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from leads_webhook.submission import FIELD_LIMITS, LeadSubmission, parse_lead_body

FIELDS = [*LeadSubmission.model_fields]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=300),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=8,
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/x-www-form-urlencoded",
        "Application/X-WWW-Form-Urlencoded; charset=UTF-8",
    ]
)


def check(result):
    if result.ok:
        assert result.errors == []
        sub = result.submission
        assert sub.email
        for name, limit in FIELD_LIMITS.items():
            value = getattr(sub, name)
            assert value is None or len(value) <= limit
    else:
        assert result.errors
        assert all(e.field and e.message for e in result.errors)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=2000), content_type=CONTENT_TYPES)
def test_any_bytes_give_a_result(body, content_type):
    check(parse_lead_body(body, content_type))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), JSON_VALUES, max_size=12))
def test_any_json_object_gives_a_result(fields):
    body = json.dumps(fields, allow_nan=True).encode()
    check(parse_lead_body(body, "application/json"))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=300), max_size=12))
def test_any_form_gives_a_result(fields):
    check(parse_lead_body(urlencode(fields).encode(), "application/x-www-form-urlencoded"))
