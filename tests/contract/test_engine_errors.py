"""What each DynamoDB engine answers, as ``shared.store.errors.translated()`` sees it.

The stores rely on ``translated()`` to turn an engine's refusal into the ``StoreError`` family. The
engines word their refusals differently (moto is lenient where DynamoDB is strict), so these
tests drive the refusals the stores meet through pynamodb, against moto and DynamoDB Local, and
check the family member each becomes.
"""

from __future__ import annotations

import pytest
from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.connection import Connection
from pynamodb.models import Model
from pynamodb.transactions import TransactWrite

from shared.settings import get_settings
from shared.store.errors import Conflict, StoreError, Throttled, translated
from tests.contract.conftest import StoreBackend


class Probe(Model):
    """A test-only item in the state table (``pk`` / ``sk``, as every hub table but idempotency)."""

    class Meta:
        table_name = get_settings().state_table
        region = get_settings().region

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    body = UnicodeAttribute(null=True)
    count = NumberAttribute(null=True)  # a reserved word in DynamoDB expressions
    status = UnicodeAttribute(null=True)  # another


def test_create_once_refused_is_a_conflict(dynamo_backend: StoreBackend) -> None:
    # Given an item that exists
    Probe(pk="PROBE#1", sk="A").save(condition=Probe.pk.does_not_exist())

    # When it is created again on condition it does not exist
    # Then the refusal is a Conflict
    with pytest.raises(Conflict), translated():
        Probe(pk="PROBE#1", sk="A").save(condition=Probe.pk.does_not_exist())


def test_transaction_with_a_failed_condition_is_a_conflict(dynamo_backend: StoreBackend) -> None:
    # Given one of two items exists
    Probe(pk="PROBE#2", sk="A").save()

    # When a transaction creates both, each on condition it does not exist
    # Then the whole transaction is refused as a Conflict and writes nothing
    with pytest.raises(Conflict), translated(), TransactWrite(connection=Connection()) as tx:
        tx.save(Probe(pk="PROBE#2", sk="B"), condition=Probe.pk.does_not_exist())
        tx.save(Probe(pk="PROBE#2", sk="A"), condition=Probe.pk.does_not_exist())
    assert [p.sk for p in Probe.query("PROBE#2")] == ["A"]


def test_an_item_over_400_kb_is_a_store_error_and_not_retryable(dynamo_backend: StoreBackend) -> None:
    # Given an item just over DynamoDB's 400 KB limit
    item = Probe(pk="PROBE#3", sk="BIG", body="x" * (400 * 1024))

    # When it is saved
    # Then it is refused as a StoreError, and not as Throttled (retrying cannot help)
    with pytest.raises(StoreError) as refused, translated():
        item.save()
    assert not isinstance(refused.value, Throttled), refused.value
    assert list(Probe.query("PROBE#3")) == []


def test_an_item_over_400_kb_in_a_transaction_is_a_store_error(dynamo_backend: StoreBackend) -> None:
    # Given a transaction that writes a small item and one over 400 KB
    # When it is committed
    # Then it is refused as a non-retryable StoreError and writes nothing
    with pytest.raises(StoreError) as refused, translated(), TransactWrite(connection=Connection()) as tx:
        tx.save(Probe(pk="PROBE#6", sk="SMALL", body="x"))
        tx.save(Probe(pk="PROBE#6", sk="BIG", body="x" * (400 * 1024)))
    assert not isinstance(refused.value, (Throttled, Conflict)), refused.value
    assert list(Probe.query("PROBE#6")) == []


def test_reserved_words_as_attribute_names(dynamo_backend: StoreBackend) -> None:
    # Given an item whose attributes are named with reserved words (count, status)
    Probe(pk="PROBE#4", sk="A", count=1, status="open").save()
    item = Probe.get("PROBE#4", "A", consistent_read=True)

    # When it is updated on a condition naming them
    with translated():
        item.update(
            actions=[Probe.count.add(1), Probe.status.set("closed")],
            condition=(Probe.status == "open") & (Probe.count == 1),
        )

    # Then the update applied, and a stale condition is a Conflict
    stored = Probe.get("PROBE#4", "A", consistent_read=True)
    assert (stored.count, stored.status) == (2, "closed")
    with pytest.raises(Conflict), translated():
        item.update(actions=[Probe.count.add(1)], condition=Probe.status == "open")


def test_a_query_beyond_one_page_is_read_to_the_end(dynamo_backend: StoreBackend) -> None:
    # Given more than 1 MB under one partition key (DynamoDB answers at most 1 MB per page)
    body = "y" * (100 * 1024)
    with Probe.batch_write() as batch:
        for n in range(14):
            batch.save(Probe(pk="PROBE#5", sk=f"{n:03d}", body=body))

    # When the partition is queried
    items = list(Probe.query("PROBE#5"))

    # Then every item comes back, though the engine answered in more than one page
    assert [p.sk for p in items] == [f"{n:03d}" for n in range(14)]
    first_page = dynamo_backend.dynamodb().query(
        TableName=Probe.Meta.table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "PROBE#5"}},
    )
    assert "LastEvaluatedKey" in first_page
    assert len(first_page["Items"]) < 14
