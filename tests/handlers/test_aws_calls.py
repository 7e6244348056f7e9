"""AWS calls per lead through `POST /leads`, counted with a botocore event hook as bench/leads.py counts them:
at most 4 for a new person, at most 3 for a repeat (issue 14).

The configuration's ETag re-check (a conditional GET of a document at most every 30 s per container,
``shared.config_store.RecheckedConfig``) and the reps' re-read (at most every 5 s, ``RecheckedReps``) are not
per-lead costs: they are counted apart and bounded by time."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.handlers.test_leads_webhook import leads_hub, post  # noqa: F401  (the fixture)
from tests.helpers import counting_aws_calls

NEW_LEAD_AIM, REPEAT_AIM = 4, 3


@pytest.fixture
def calls(leads_hub: Any) -> Iterator[Counter[str]]:  # noqa: F811
    """Every botocore client made from now on counts its calls; a config re-check is named as such."""

    def name(operation: str, params: Any) -> str:
        # params: the serialised request (its url_path names the object, its body the keys read)
        if operation == "s3.GetObject" and "/config-good/" in str((params or {}).get("url_path", "")):
            return "config re-check"
        if operation == "dynamodb.BatchGetItem" and _reads_only_reps((params or {}).get("body")):
            return "reps re-check"  # leads_webhook.wiring.RecheckedReps: bounded by time, not per lead
        return operation

    with counting_aws_calls(name) as counted:
        yield counted


def _reads_only_reps(body: Any) -> bool:
    try:
        request = json.loads(body)
    except (TypeError, ValueError):
        return False
    keys = [
        key["pk"]["S"] for table in request.get("RequestItems", {}).values() for key in table.get("Keys", [])
    ]
    return bool(keys) and all(pk.startswith("REP#") for pk in keys)


def _person(i: int) -> dict[str, Any]:
    countries = ["US", "DE", "JP", "FR", "BR"]
    return {"email": f"count.{i}@example.com", "first_name": f"P{i}", "company": f"Co {i % 7}",
            "country": countries[i % len(countries)], "state": "CA" if i % 3 == 0 else "NY",
            "employees": (i * 37) % 3000, "product_interest": "sensors"}  # fmt: skip


def test_new_leads_take_at_most_4_calls_and_repeats_at_most_3(
    calls: Counter[str], lambda_context: Any
) -> None:
    # Given warm services (configuration and rep records read once, as in a warm container)
    assert post(lambda_context, {"email": "warm@example.com"})[0] == 202
    people = [_person(i) for i in range(20)]

    # When 20 new people post, then each posts again with something new
    calls.clear()
    started = time.monotonic()
    for person in people:
        assert post(lambda_context, person)[0] == 202
    new = Counter(calls)
    calls.clear()
    for person in people:
        assert post(lambda_context, {**person, "phone": "+1 415 555 0100", "campaign": "again"})[0] == 202
    repeat = Counter(calls)
    elapsed = time.monotonic() - started

    # Then the calls per lead stay within the aims, and the configuration is re-checked only with time
    rechecks = new.pop("config re-check", 0) + repeat.pop("config re-check", 0)
    assert rechecks <= 2 * (1 + elapsed // 30)  # leads.yaml and routing.yaml
    reps = new.pop("reps re-check", 0) + repeat.pop("reps re-check", 0)
    assert reps <= 1 + elapsed // 5
    per_new, per_repeat = sum(new.values()) / len(people), sum(repeat.values()) / len(people)
    assert per_new <= NEW_LEAD_AIM, json.dumps(new)
    assert per_repeat <= REPEAT_AIM, json.dumps(repeat)
