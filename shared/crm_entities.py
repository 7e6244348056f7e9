"""Entities that external CRMs send, as stored for alerts, routing, POS matching and the plan rollup.

One item per entity, written only by a newer event: each item carries the ``occurred_at`` and
``last_event_id`` of the event that wrote it, and a write is a read followed by a put conditioned
on the item being exactly as read (or absent). So an older event changes nothing, the same event
twice changes nothing, and two writers racing on one entity cannot interleave. Ties on
``occurred_at`` are broken by ``event_id``, so the result never depends on delivery order.

Some facts are kept as write-once items beside the entity (an opportunity's stage observations,
a lead's status changes): an older event still adds its observation in its place in time, which
is how the stage history stays complete when events arrive out of order, while the entity's
current state is untouched by it.

Keys are listed in ``docs/data-model.md`` (section "CRM events"). Storage errors become
``EntityStoreError``.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from botocore.client import BaseClient

Item = dict[str, Any]
Merge = Callable[[Item | None, Item], Item]


class EntityStoreError(Exception):
    """Storage failed (throttled, unavailable, or too much contention): the write may be retried."""


class Outcome(StrEnum):
    """What applying one event did to its entity."""

    APPLIED = "applied"  # the entity now reflects the event
    STALE = "stale"  # a newer event is already stored: nothing changed
    DUPLICATE = "duplicate"  # this very event is already stored: nothing changed
    MISSING = "missing"  # the entity it amends does not exist (yet): nothing changed


def format_time(value: datetime) -> str:
    """UTC, fixed width, so that stored times sort as strings in time order."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def updated_now() -> str:
    """``updated_at`` as pynamodb's UTCDateTimeAttribute writes it (``shared.tables`` reads these items)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def parse_time(value: str) -> datetime:
    """A stored time: ours, or any ISO 8601 text other writers (the demo loader) used."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


_BEGINNING = datetime.min.replace(tzinfo=UTC)


def normalise_name(name: str) -> str:
    """Company names as compared for matching: case, accents, punctuation and spacing folded."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").casefold()
    kept = "".join(c if c.isalnum() else " " for c in folded)
    return " ".join(kept.split())


@dataclass(frozen=True, order=True)
class Version:
    """The order of events on one entity: ``occurred_at``, then ``event_id`` on a tie."""

    occurred_at: datetime
    event_id: str

    def attributes(self) -> Item:
        return {"occurred_at": format_time(self.occurred_at), "last_event_id": self.event_id}

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> Version:
        """The version of a stored item; one written by other means (the demo) is older than any event."""
        occurred_at = item.get("occurred_at")
        return cls(parse_time(occurred_at) if occurred_at else _BEGINNING, str(item.get("last_event_id", "")))


@dataclass(frozen=True)
class Key:
    """Where an item lives: the logical table (``crm`` or ``plan``), and its key."""

    table: str
    pk: str
    sk: str


class EntityStore(Protocol):
    """The storage the apply logic needs; DynamoDB in the functions, a dict in unit tests."""

    def get(self, key: Key) -> Item | None: ...

    def put_if_unchanged(self, key: Key, item: Item, current: Item | None) -> bool:
        """Put ``item`` if the stored one still carries the version of ``current`` (None: is absent)."""
        ...

    def put_if_older(self, key: Key, item: Item, version: Version) -> bool:
        """Put ``item`` (carrying ``version``) unless the stored one is as new or newer; one write."""
        ...

    def put_once(self, key: Key, item: Item) -> bool:
        """Put ``item`` unless the key exists; True when written."""
        ...

    def put_many(self, items: list[tuple[Key, Item]]) -> None:
        """Put every item unconditionally, in as few calls as the store allows."""
        ...

    def update_if_newer(self, key: Key, attributes: Item, version: Version, *, stamp: str) -> Outcome:
        """Set ``attributes`` on an existing item owned by someone else, unless its
        ``<stamp>_occurred_at`` / ``<stamp>_event_id`` are as new or newer. None removes."""
        ...

    def query(self, table: str, pk: str, sk_prefix: str = "") -> list[Item]: ...

    def query_index(self, table: str, gsi1pk: str, sk_from: str = "") -> Iterator[Item]:
        """Items on gsi1 under ``gsi1pk`` with ``gsi1sk >= sk_from``, in ``gsi1sk`` order."""
        ...


def _stamp_outcome(current: Item | None, version: Version, stamp: str) -> Outcome | None:
    """Why a guarded update may not go ahead, or None when it may."""
    if current is None:
        return Outcome.MISSING
    stored_at = current.get(f"{stamp}_occurred_at")
    if stored_at is None:
        return None
    stored = Version(parse_time(stored_at), str(current.get(f"{stamp}_event_id", "")))
    if stored == version:
        return Outcome.DUPLICATE
    return Outcome.STALE if stored > version else None


def upsert_if_newer(
    store: EntityStore,
    key: Key,
    attributes: Item,
    version: Version,
    *,
    merge: Merge | None = None,
    tries: int = 5,
) -> Outcome:
    """Write an entity from an event, unless the stored entity is as new or newer.

    ``merge(previous, new)`` may derive fields from what was stored (stage entered at, ...).
    """
    if merge is None:
        # Nothing to derive from what is stored: one conditional write, a read only if it is refused.
        item = {**attributes, **version.attributes(), "updated_at": updated_now()}
        if store.put_if_older(key, item, version):
            return Outcome.APPLIED
    for _ in range(tries):
        current = store.get(key)
        if current is not None:
            stored = Version.of(current)
            if stored == version:
                return Outcome.DUPLICATE
            if stored > version:
                return Outcome.STALE
        item = {**attributes, **version.attributes(), "updated_at": updated_now()}
        if merge is not None:
            item = merge(current, item)
        if store.put_if_unchanged(key, item, current):
            return Outcome.APPLIED
    raise EntityStoreError(f"{key.pk} kept changing under {tries} attempts")


# ------------------------------------------------------------------ keys
CRM = "crm"
PLAN = "plan"

# The kinds of entity kept one item each in the CRM table, under "<KIND>#<id>" / "<KIND>".
TERRITORY = "TERRITORY"
REP = "REP"
ACCOUNT = "ACCOUNT"
CONTACT = "CONTACT"
OPPORTUNITY = "OPPORTUNITY"
ESCALATION = "ESCALATION"
SAMPLE = "SAMPLE"
ACTIVITY = "ACTIVITY"
ORDER = "ORDER"
LEAD = "LEAD"


def entity_key(kind: str, entity_id: str) -> Key:
    return Key(CRM, f"{kind}#{entity_id}", kind)


def stage_observation_key(opportunity_id: str, version: Version) -> Key:
    """One stage observation of an opportunity, in its partition, sorted by time."""
    return Key(
        CRM, f"{OPPORTUNITY}#{opportunity_id}", f"STAGE#{format_time(version.occurred_at)}#{version.event_id}"
    )


def lead_status_key(lead_id: str, version: Version) -> Key:
    """One status change of a lead, in its own partition (the lead's belongs to the leads webhook)."""
    return Key(CRM, f"LEAD_STATUS#{lead_id}", f"{format_time(version.occurred_at)}#{version.event_id}")


def plan_key(node_type: str, node_id: str, year: int, quarter: int) -> Key:
    """A plan figure: per node, year and quarter, in the plan table."""
    return Key(PLAN, f"PLAN#{node_type.upper()}#{node_id}", f"{year:04d}#Q{quarter}")


def plan_index(node_type: str, node_id: str, year: int, quarter: int) -> Item:
    """All plan figures of a year on gsi1, for the rollup."""
    return {"gsi1pk": f"PLAN#{year:04d}", "gsi1sk": f"{node_type.upper()}#{node_id}#Q{quarter}"}


# ------------------------------------------------------------------ in memory (unit tests, what-ifs)
def _version_raw(item: Mapping[str, Any]) -> tuple[Any, Any]:
    return item.get("occurred_at"), item.get("last_event_id")


class InMemoryEntityStore:
    """A dict with the same conditional semantics as the DynamoDB store."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str, str], Item] = {}
        self.writes: Counter[str] = Counter()  # per logical table

    def get(self, key: Key) -> Item | None:
        found = self.items.get((key.table, key.pk, key.sk))
        return dict(found) if found is not None else None

    def put_if_unchanged(self, key: Key, item: Item, current: Item | None) -> bool:
        stored = self.items.get((key.table, key.pk, key.sk))
        if (stored is None) != (current is None):
            return False
        if stored is not None and current is not None and _version_raw(stored) != _version_raw(current):
            return False
        self.items[(key.table, key.pk, key.sk)] = {**item, "pk": key.pk, "sk": key.sk}
        self.writes[key.table] += 1
        return True

    def put_if_older(self, key: Key, item: Item, version: Version) -> bool:
        stored = self.items.get((key.table, key.pk, key.sk))
        if stored is not None and Version.of(stored) >= version:
            return False
        self.items[(key.table, key.pk, key.sk)] = {**item, "pk": key.pk, "sk": key.sk}
        self.writes[key.table] += 1
        return True

    def put_many(self, items: list[tuple[Key, Item]]) -> None:
        for key, item in items:
            self.items[(key.table, key.pk, key.sk)] = {**item, "pk": key.pk, "sk": key.sk}
            self.writes[key.table] += 1

    def put_once(self, key: Key, item: Item) -> bool:
        if (key.table, key.pk, key.sk) in self.items:
            return False
        self.items[(key.table, key.pk, key.sk)] = {**item, "pk": key.pk, "sk": key.sk}
        self.writes[key.table] += 1
        return True

    def update_if_newer(self, key: Key, attributes: Item, version: Version, *, stamp: str) -> Outcome:
        current = self.items.get((key.table, key.pk, key.sk))
        refused = _stamp_outcome(current, version, stamp)
        if refused is not None or current is None:
            return refused or Outcome.MISSING
        current.update(attributes)
        for name in [k for k, v in current.items() if v is None]:
            del current[name]
        current[f"{stamp}_occurred_at"] = format_time(version.occurred_at)
        current[f"{stamp}_event_id"] = version.event_id
        current["updated_at"] = updated_now()
        current["version"] = current.get("version", 0) + 1
        self.writes[key.table] += 1
        return Outcome.APPLIED

    def query(self, table: str, pk: str, sk_prefix: str = "") -> list[Item]:
        found = [
            dict(item)
            for (t, p, s), item in self.items.items()
            if t == table and p == pk and s.startswith(sk_prefix)
        ]
        return sorted(found, key=lambda item: item["sk"])

    def query_index(self, table: str, gsi1pk: str, sk_from: str = "") -> Iterator[Item]:
        found = [
            dict(item)
            for (t, _, _), item in self.items.items()
            if t == table and item.get("gsi1pk") == gsi1pk and item.get("gsi1sk", "") >= sk_from
        ]
        yield from sorted(found, key=lambda item: item["gsi1sk"])


# ------------------------------------------------------------------ DynamoDB
class DynamoEntityStore:
    """The CRM and plan tables through the low-level client (conditional puts, typed values)."""

    def __init__(self, tables: Mapping[str, str], client: BaseClient | None = None) -> None:
        self.tables = dict(tables)
        self._client = client
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self._serializer = TypeSerializer()
        self._deserializer = TypeDeserializer()

    @property
    def client(self) -> BaseClient:
        if self._client is None:
            from shared.aws import client

            self._client = client("dynamodb")
        return self._client

    def _table(self, logical: str) -> str:
        return self.tables[logical]

    def _encode(self, item: Mapping[str, Any]) -> dict[str, Any]:
        return {k: self._serializer.serialize(v) for k, v in item.items() if v is not None}

    def _decode(self, item: Mapping[str, Any]) -> Item:
        return {k: self._deserializer.deserialize(v) for k, v in item.items()}

    def _call(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise
            raise EntityStoreError(f"{operation} failed: {exc}") from exc
        except BotoCoreError as exc:
            raise EntityStoreError(f"{operation} failed: {exc}") from exc

    def get(self, key: Key) -> Item | None:
        answer = self._call(
            "get_item",
            TableName=self._table(key.table),
            Key={"pk": {"S": key.pk}, "sk": {"S": key.sk}},
            ConsistentRead=True,
        )
        return self._decode(answer["Item"]) if "Item" in answer else None

    def _conditional_put(self, key: Key, item: Item, condition: str, values: dict[str, Any] | None) -> bool:
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {
            "TableName": self._table(key.table),
            "Item": self._encode({**item, "pk": key.pk, "sk": key.sk}),
            "ConditionExpression": condition,
        }
        if values:
            kwargs["ExpressionAttributeValues"] = values
        try:
            self._call("put_item", **kwargs)
        except ClientError:
            return False
        return True

    def put_if_unchanged(self, key: Key, item: Item, current: Item | None) -> bool:
        if current is None:
            return self._conditional_put(key, item, "attribute_not_exists(pk)", None)
        # Compared as stored (raw), so items written by other means (no last_event_id) work too.
        parts, values = ["attribute_exists(pk)"], {}
        for name, placeholder in (("occurred_at", ":t"), ("last_event_id", ":e")):
            if current.get(name) is None:
                parts.append(f"attribute_not_exists({name})")
            else:
                parts.append(f"{name} = {placeholder}")
                values[placeholder] = self._serializer.serialize(current[name])
        return self._conditional_put(key, item, " AND ".join(parts), values)

    def put_if_older(self, key: Key, item: Item, version: Version) -> bool:
        # Stored times are fixed-width UTC text (``format_time``), so they compare as strings.
        values = {":t": {"S": format_time(version.occurred_at)}, ":e": {"S": version.event_id}}
        condition = (
            "attribute_not_exists(pk) OR occurred_at < :t OR (occurred_at = :t AND last_event_id < :e)"
        )
        return self._conditional_put(key, item, condition, values)

    def put_once(self, key: Key, item: Item) -> bool:
        return self._conditional_put(key, item, "attribute_not_exists(pk)", None)

    def put_many(self, items: list[tuple[Key, Item]]) -> None:
        import time

        unique = {(k.table, k.pk, k.sk): (k, item) for k, item in items}  # a batch may not repeat a key
        requests: dict[str, list[dict[str, Any]]] = {}
        for key, item in unique.values():
            encoded = self._encode({**item, "pk": key.pk, "sk": key.sk})
            requests.setdefault(self._table(key.table), []).append({"PutRequest": {"Item": encoded}})
        pending = [(table, request) for table, batch in requests.items() for request in batch]
        retries = 0
        while pending:
            chunk, pending = pending[:25], pending[25:]
            by_table: dict[str, list[dict[str, Any]]] = {}
            for table, request in chunk:
                by_table.setdefault(table, []).append(request)
            answer = self._call("batch_write_item", RequestItems=by_table)
            left = [(t, r) for t, rs in answer.get("UnprocessedItems", {}).items() for r in rs]
            if left:
                retries += 1
                if retries > 8:
                    raise EntityStoreError(f"{len(left) + len(pending)} items left unwritten after retries")
                pending = left + pending
                time.sleep(min(0.05 * 2**retries, 1.0))

    def update_if_newer(self, key: Key, attributes: Item, version: Version, *, stamp: str) -> Outcome:
        from botocore.exceptions import ClientError

        sets = {**{k: v for k, v in attributes.items() if v is not None}, "updated_at": updated_now()}
        sets[f"{stamp}_occurred_at"] = format_time(version.occurred_at)
        sets[f"{stamp}_event_id"] = version.event_id
        removes = [k for k, v in attributes.items() if v is None]
        names = {f"#n{i}": name for i, name in enumerate([*sets, *removes])}
        by_name = {name: placeholder for placeholder, name in names.items()}
        values = {f":v{i}": self._serializer.serialize(v) for i, v in enumerate(sets.values())}
        expression = "SET " + ", ".join(f"{by_name[k]} = :v{i}" for i, k in enumerate(sets))
        if removes:
            expression += " REMOVE " + ", ".join(by_name[k] for k in removes)
        # The leads webhook writes the lead with optimistic locking on "version": bump it.
        names["#version"] = "version"
        expression += " ADD #version :one"
        values[":one"] = {"N": "1"}
        t, e = by_name[f"{stamp}_occurred_at"], by_name[f"{stamp}_event_id"]
        tv, ev = f":v{len(sets) - 2}", f":v{len(sets) - 1}"
        condition = f"attribute_exists(pk) AND (attribute_not_exists({t}) OR {t} < {tv} OR ({t} = {tv} AND {e} < {ev}))"
        try:
            self._call(
                "update_item",
                TableName=self._table(key.table),
                Key={"pk": {"S": key.pk}, "sk": {"S": key.sk}},
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError:
            return _stamp_outcome(self.get(key), version, stamp) or Outcome.STALE
        return Outcome.APPLIED

    def query(self, table: str, pk: str, sk_prefix: str = "") -> list[Item]:
        return list(self._query(table, pk, sk_prefix))

    def _query(self, table: str, pk: str, sk_prefix: str) -> Iterator[Item]:
        values = {":pk": {"S": pk}, **({":sk": {"S": sk_prefix}} if sk_prefix else {})}
        return self._pages(
            TableName=self._table(table),
            KeyConditionExpression="pk = :pk" + (" AND begins_with(sk, :sk)" if sk_prefix else ""),
            ExpressionAttributeValues=values,
        )

    def query_index(self, table: str, gsi1pk: str, sk_from: str = "") -> Iterator[Item]:
        return self._pages(
            TableName=self._table(table),
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk AND gsi1sk >= :from",
            ExpressionAttributeValues={":pk": {"S": gsi1pk}, ":from": {"S": sk_from}},
        )

    def _pages(self, **kwargs: Any) -> Iterator[Item]:
        while True:
            page = self._call("query", **kwargs)
            for item in page.get("Items", []):
                yield self._decode(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# ------------------------------------------------------------------ reads
@dataclass(frozen=True)
class StageChange:
    """One step of an opportunity's stage history."""

    from_stage: str | None
    to_stage: str
    at: datetime
    event_id: str

    def as_dict(self) -> Item:
        return {"from_stage": self.from_stage, "to_stage": self.to_stage, "at": format_time(self.at)}


def stage_history(store: EntityStore, opportunity_id: str) -> list[StageChange]:
    """The stage changes of an opportunity in time order, from its stage observations.

    Derived when read, so an observation that arrived late still takes its place in time.
    """
    changes: list[StageChange] = []
    last: str | None = None
    for observation in store.query(CRM, f"{OPPORTUNITY}#{opportunity_id}", "STAGE#"):
        if observation["stage"] != last:
            changes.append(
                StageChange(
                    last, observation["stage"], parse_time(observation["at"]), observation["event_id"]
                )
            )
            last = observation["stage"]
    return changes


def get_entity(store: EntityStore, kind: str, entity_id: str) -> Item | None:
    return store.get(entity_key(kind, entity_id))
