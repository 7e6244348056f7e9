# ruff: noqa: F811 - the fixtures are imported from the alerts, leads and import tests
"""A trade-show list's leads announced to each rep in one email (issue 14), under moto: the leads function
imports the list, the alerts function gets the CRM stream's records as the template's filter delivers them."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tests.handlers.test_alerts_handler import crm_stream, emails, sent_to  # noqa: F401 - the fixture
from tests.handlers.test_leads_import import _import, _list, _RunsOut
from tests.handlers.test_leads_webhook import leads_hub  # noqa: F401 - the fixture


def _owners(people: int) -> Counter[str]:
    """Whom each imported lead is assigned to, as stored (the routing's decision, not the digest's)."""
    from shared.store import crm

    store = crm.DynamoCrmStore()
    leads = [store.get_lead(store.lead_id_for_email(f"visitor{n}@example.com")) for n in range(people)]
    return Counter(lead.owner for lead in leads if lead is not None and lead.owner)


def _rep_emails() -> dict[str, str]:
    from shared.store import crm

    return {rep.rep_id: rep.email.lower() for rep in crm.DynamoCrmStore().list_reps() if rep.email}


def test_a_list_tells_each_rep_once_in_one_email_listing_their_leads(
    leads_hub: Any, crm_stream: Any, lambda_context: Any
) -> None:
    from alerts.app import handler as alerts

    # Given a list of 40 new people, imported (the routing spreads them over several reps)
    answer = _import(leads_hub, "imports/leads/expo-2026.csv", _list(40), _RunsOut(checks=100))
    assert answer["imports"][0]["counts"] == {"created": 40}
    owners = _owners(40)
    assert len(owners) >= 2 and sum(owners.values()) == 40

    # When the stream delivers what the import wrote (filtered as the template says), twice
    event = crm_stream()
    entities = Counter(r["dynamodb"]["NewImage"]["entity"]["S"] for r in event["Records"])
    assert entities == {"IMPORT_DIGEST": len(owners)}  # no imported lead reaches the alerts function
    assert alerts(event, lambda_context) == {"batchItemFailures": []}
    assert alerts(event, lambda_context) == {"batchItemFailures": []}

    # Then each rep gets one email: how many leads from which list, each of their leads listed
    addresses = _rep_emails()
    assert sorted(to for to, _ in sent_to()) == sorted(addresses[rep] for rep in owners)
    for rep, count in owners.items():
        message = next(m for m in emails() if m.destinations["ToAddresses"][0] == addresses[rep])
        assert message.subject == f"{count} lead{'' if count == 1 else 's'} from expo-2026 assigned to you"
        listed = [n for n in range(40) if f"visitor{n}@example.com" in message.body]
        assert len(listed) == count

    # And the same object delivered again (S3 at least once) announces nothing more
    _import(leads_hub, "imports/leads/expo-2026.csv", _list(40), _RunsOut(checks=100))
    again = crm_stream()
    assert [r for r in again["Records"] if r["eventName"] == "INSERT"] == []  # no new digest, no new lead
    if again["Records"]:
        assert alerts(again, lambda_context) == {"batchItemFailures": []}
    assert len(emails()) == len(owners)
    # (a web-form lead's own alert, through the same filter: test_alerts_handler's assigned/reassigned test)


def test_an_import_continued_by_its_retry_still_tells_each_rep_once_of_every_lead(
    leads_hub: Any, lambda_context: Any
) -> None:
    from leads_webhook.app import handler
    from leads_webhook.imports import ImportOutOfTimeError

    from shared.store import crm
    from tests.helpers import s3_event

    # Given a list of 150 people whose first invocation runs out of time after the first chunk of 100
    key = "imports/leads/long-show.csv"
    try:
        _import(leads_hub, key, _list(150), _RunsOut(checks=1))
        raise AssertionError("the first invocation should have run out of time")
    except ImportOutOfTimeError:
        pass  # Lambda retries the S3 event
    store = crm.DynamoCrmStore()
    assert store.import_digests(key, _etag(leads_hub, key)) == []  # nothing is announced before the last row

    # When the retry finishes it
    handler(s3_event(leads_hub.bucket_name(), key), _RunsOut(checks=100))

    # Then one digest per rep counts every lead the list assigned to them, across both invocations
    digests = store.import_digests(key, _etag(leads_hub, key))
    assert {d.rep_id: d.count for d in digests} == dict(_owners(150))


def _etag(hub: Any, key: str) -> str:
    import boto3

    return str(boto3.client("s3").head_object(Bucket=hub.bucket_name(), Key=key)["ETag"]).strip('"')


def test_a_rep_of_routing_the_crm_does_not_hold_gets_the_digest_at_routings_address(
    leads_hub: Any, crm_stream: Any, lambda_context: Any
) -> None:
    import boto3
    from alerts.app import handler as alerts

    from shared.store import crm

    # Given a list imported while the reps of routing.yaml are known, then the reps' CRM records gone
    # (routing.yaml names reps the CRM has never held: the address comes with routing's assignment)
    answer = _import(leads_hub, "imports/leads/expo-2027.csv", _list(20), _RunsOut(checks=100))
    assert answer["imports"][0]["counts"] == {"created": 20}
    owners, addresses = _owners(20), _rep_emails()
    table = boto3.resource("dynamodb").Table(leads_hub.table_name("CrmTable"))
    for rep_id in owners:
        table.delete_item(Key=dict(zip(("pk", "sk"), crm.rep_key(rep_id), strict=True)))
    assert not set(owners) & set(_rep_emails())

    # When the alerts function gets the import's digests
    assert alerts(crm_stream(), lambda_context) == {"batchItemFailures": []}

    # Then each rep's digest went to the address routing gave, not to the fallback
    assert sorted(to for to, _ in sent_to()) == sorted(addresses[rep] for rep in owners)
