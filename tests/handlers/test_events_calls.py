"""AWS calls per batch of 100 events through `POST /events`, counted with a botocore event hook as
bench/events.py counts them (issue 14), on DynamoDB Local: a batch of the kinds written many at once reads what it
needs in one BatchGetItem per table (per 100 keys) and writes in transactions of up to 100 items.

Aim: at most ``BATCH_AIM`` calls for 100 events of 100 opportunities and accounts (a warm
container: the signing secret and the stage catalogue are read on the first request only):
inbox BatchGetItem + inbox TransactWriteItems + CRM BatchGetItem + up to 3 CRM TransactWriteItems
(an opportunity is 2 items: itself and its stage observation), plus one for a late event. Before
this work the same batch took about 450. Plan figures, contacts, escalations, activities and lead
statuses are still written one event at a time (about 1 to 4 calls each)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from tests.handlers.test_events_handler import body_of, ev, events_api  # noqa: F401  (the fixture)
from tests.helpers import counting_aws_calls

BATCH_AIM = 8


# The tables in DynamoDB Local (SSM and S3 stay in moto): moto's TransactWriteItems deep-copies every
# table it touches, stream records included, which made each batch here take seconds.
pytestmark = pytest.mark.ddblocal


@pytest.fixture
def calls(events_api: Any, ddblocal_tables: Any) -> Iterator[Counter[str]]:  # noqa: F811
    """Every botocore client made from now on counts its calls (before-call.<service>.<operation>)."""
    with counting_aws_calls() as counted:
        yield counted


def _batch(start: int, offset_s: int) -> list[dict[str, Any]]:
    events = []
    for n in range(start, start + 100):
        if n % 5:
            data = {"id": f"opp-{n % 80}", "account_id": f"acc-{n % 20}", "name": f"Deal {n}",
                    "stage": "Qualifying Needs" if n < 100 else "Sales Presentation", "amount": 1000 + n}  # fmt: skip
            events.append(ev("opportunity.upserted", data, f"c-{n}", offset_s - 200 + n % 100))
        else:
            data = {"id": f"acc-{n % 20}", "name": f"Account {n}"}
            events.append(ev("account.upserted", data, f"c-{n}", offset_s - 200 + n % 100))
    return events


def test_a_batch_of_100_events_takes_at_most_8_calls(calls: Counter[str], events_api: Any) -> None:  # noqa: F811
    # Given a warm container (one request read the secret and the stage catalogue)
    assert events_api(body_of(ev("account.upserted", {"id": "acc-warm", "name": "Warm"}, "warm")))[0] == 200

    # When a batch of 100 new events comes, then a batch of 100 newer events for the same entities
    calls.clear()
    status, answer = events_api(body_of(*_batch(0, -600)))
    first = Counter(calls)
    calls.clear()
    status_again, answer_again = events_api(body_of(*_batch(100, -300)))
    second = Counter(calls)

    # Then every event is accepted, and each batch stays within the aim
    assert (status, status_again) == (200, 200)
    assert answer["accepted"] == answer_again["accepted"] == 100
    assert sum(first.values()) <= BATCH_AIM, json.dumps(first)
    assert sum(second.values()) <= BATCH_AIM, json.dumps(second)
    assert first["dynamodb.BatchGetItem"] == second["dynamodb.BatchGetItem"] == 2  # the inbox, the CRM


def test_a_redelivered_batch_writes_nothing(calls: Counter[str], events_api: Any) -> None:  # noqa: F811
    # Given a batch of accounts applied once
    batch = [
        ev("account.upserted", {"id": f"acc-{n}", "name": f"Account {n}"}, f"r-{n}", -60) for n in range(100)
    ]
    assert events_api(body_of(*batch))[0] == 200

    # When the same batch comes again
    calls.clear()
    status, answer = events_api(body_of(*batch))

    # Then each event is a duplicate, found by the two reads alone: nothing is written
    assert status == 200
    assert {r["status"] for r in answer["results"]} == {"duplicate"}
    dynamodb = {
        name: n for name, n in calls.items() if name.startswith("dynamodb.")
    }  # not the config's ETag check
    assert dynamodb == {"dynamodb.BatchGetItem": 2}
