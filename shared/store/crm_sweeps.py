"""CRM table: what the alert sweeps read (issue 10), through indexes, never a scan.

Sparse indexes, written with the items by their writer (``sweep_index_*`` below, the only place
these key patterns are spelled) and absent once nothing is due:

- ``gsi2`` (due-time index): ``gsi2pk=OPEN_OPPORTUNITIES#<stage>``, ``gsi2sk=<last touch>#<id>`` for an
  open opportunity (its last activity, else when it entered the stage); ``gsi2pk=SAMPLES_DUE``,
  ``gsi2sk=<follow_up_at>#<id>`` while a sample's follow-up is not done; ``gsi2pk=ACTIVITIES_DUE``,
  ``gsi2sk=<due_at>#<id>`` while a scheduled activity is not done; alert records use it too
  (``ALERTS#PENDING``, ``shared.store.crm_alerts``).
- ``gsi3`` (next-step index): ``gsi3pk=NEXT_STEPS``, ``gsi3sk=<next_step_date>#<id>`` for an open
  opportunity with a dated next step, ``0000-00-00#<id>`` for one with no next step at all.

Existing ``gsi1`` entries serve the rest: a rep's open leads (``OWNER#<rep>`` / ``OPEN#<created>#<id>``)
and open escalations by due time (``ESCALATIONS`` / ``<status>#<due_at>#<id>``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from botocore.client import BaseClient

Item = dict[str, Any]

NO_NEXT_STEP = "0000-00-00"
SAMPLE_DONE_STATUSES = ("followed_up", "closed")
OPEN_ESCALATION_STATUSES = ("open", "in_progress")


# ------------------------------------------------------------------ keys
def open_opportunities_key(stage: str) -> str:
    return f"OPEN_OPPORTUNITIES#{stage}"


NEXT_STEPS = "NEXT_STEPS"
SAMPLES_DUE = "SAMPLES_DUE"
ACTIVITIES_DUE = "ACTIVITIES_DUE"


def sweep_index_opportunity(item: Mapping[str, Any], is_open: bool) -> Item:
    """The sweep index entries of an opportunity (None removes them: closed or parked)."""
    if not is_open:
        return {"gsi2pk": None, "gsi2sk": None, "gsi3pk": None, "gsi3sk": None}
    oid = item["opportunity_id"]
    touched = item.get("last_activity_at") or item.get("stage_entered_at") or item.get("occurred_at") or ""
    entry: Item = {"gsi2pk": open_opportunities_key(str(item["stage"])), "gsi2sk": f"{touched}#{oid}"}
    if item.get("next_step_date"):
        entry |= {"gsi3pk": NEXT_STEPS, "gsi3sk": f"{str(item['next_step_date'])[:10]}#{oid}"}
    elif not str(item.get("next_step") or "").strip():
        entry |= {"gsi3pk": NEXT_STEPS, "gsi3sk": f"{NO_NEXT_STEP}#{oid}"}
    else:  # a next step without a date: nothing to chase
        entry |= {"gsi3pk": None, "gsi3sk": None}
    return entry


def sweep_index_sample(item: Mapping[str, Any]) -> Item:
    if item.get("follow_up_at") and str(item.get("status") or "") not in SAMPLE_DONE_STATUSES:
        return {"gsi2pk": SAMPLES_DUE, "gsi2sk": f"{item['follow_up_at']}#{item['sample_id']}"}
    return {"gsi2pk": None, "gsi2sk": None}


def sweep_index_activity(item: Mapping[str, Any]) -> Item:
    if item.get("due_at") and not item.get("done"):
        return {"gsi2pk": ACTIVITIES_DUE, "gsi2sk": f"{item['due_at']}#{item['activity_id']}"}
    return {"gsi2pk": None, "gsi2sk": None}


# ------------------------------------------------------------------ access patterns
class SweepReads(Protocol):
    """What the alert sweeps read. Every method is one index query (paged), never a scan."""

    def list_rep_ids(self) -> list[str]: ...

    def open_leads_created_between(self, rep_id: str, start: str, end: str) -> Iterator[Item]:
        """A rep's open leads created in [start, end] (``gsi1`` ``OWNER#<rep>``, ``OPEN#...``)."""
        ...

    def stale_opportunities(self, stage: str, touched_before: str) -> Iterator[Item]:
        """Open opportunities in ``stage`` last touched before the time (``gsi2``)."""
        ...

    def opportunities_next_step_due(self, before_date: str) -> Iterator[Item]:
        """Open opportunities with no next step or one dated before ``before_date`` (``gsi3``)."""
        ...

    def open_escalations_due(self, now: str) -> Iterator[Item]:
        """Open and in-progress escalations due before now (``gsi1`` ``ESCALATIONS``)."""
        ...

    def samples_due(self, now: str) -> Iterator[Item]:
        """Samples whose follow-up is due and not done (``gsi2`` ``SAMPLES_DUE``)."""
        ...

    def activities_due(self, now: str) -> Iterator[Item]:
        """Scheduled activities due and not done (``gsi2`` ``ACTIVITIES_DUE``)."""
        ...

    def opportunity_owners(self, opportunity_ids: Iterable[str]) -> dict[str, str]:
        """Owner of each opportunity (BatchGetItem)."""
        ...


# ------------------------------------------------------------------ in memory
class InMemorySweepReads:
    """The same reads over a list of items that carry the index attributes."""

    def __init__(self, items: Iterable[Item] = ()) -> None:
        self.items: list[Item] = list(items)
        self.items_read = 0

    def _index(self, name: str, pk: str, low: str = "", high: str = "\uffff") -> Iterator[Item]:
        found = [i for i in self.items if i.get(f"{name}pk") == pk and low <= i.get(f"{name}sk", "") <= high]
        for item in sorted(found, key=lambda i: i[f"{name}sk"]):
            self.items_read += 1
            yield dict(item)

    def list_rep_ids(self) -> list[str]:
        return [i["rep_id"] for i in self._index("gsi1", "REPS")]

    def open_leads_created_between(self, rep_id: str, start: str, end: str) -> Iterator[Item]:
        return self._index("gsi1", f"OWNER#{rep_id}", f"OPEN#{start}", f"OPEN#{end}")

    def stale_opportunities(self, stage: str, touched_before: str) -> Iterator[Item]:
        return self._index("gsi2", open_opportunities_key(stage), "", touched_before)

    def opportunities_next_step_due(self, before_date: str) -> Iterator[Item]:
        return self._index("gsi3", NEXT_STEPS, "", before_date)

    def open_escalations_due(self, now: str) -> Iterator[Item]:
        for status in OPEN_ESCALATION_STATUSES:
            yield from self._index("gsi1", "ESCALATIONS", f"{status}#", f"{status}#{now}")

    def samples_due(self, now: str) -> Iterator[Item]:
        return self._index("gsi2", SAMPLES_DUE, "", f"{now}#\uffff")

    def activities_due(self, now: str) -> Iterator[Item]:
        return self._index("gsi2", ACTIVITIES_DUE, "", f"{now}#\uffff")

    def opportunity_owners(self, opportunity_ids: Iterable[str]) -> dict[str, str]:
        wanted = set(opportunity_ids)
        return {
            i["opportunity_id"]: i["owner"]
            for i in self.items
            if i.get("entity") == "OPPORTUNITY" and i.get("opportunity_id") in wanted and i.get("owner")
        }


# ------------------------------------------------------------------ DynamoDB
class DynamoSweepReads:
    """The sweep reads on the CRM table. Low-level client: the items span entity kinds whose
    pynamodb models do not declare gsi2 / gsi3, and the sweeps want plain dicts."""

    def __init__(self, table: str, client: BaseClient | None = None) -> None:
        from boto3.dynamodb.types import TypeDeserializer

        self.table = table
        self._client = client
        self._decode = TypeDeserializer().deserialize
        self.items_read = 0
        self.calls = 0

    @property
    def client(self) -> BaseClient:
        if self._client is None:
            from shared.aws import client

            self._client = client("dynamodb")
        return self._client

    def _query(self, index: str, pk: str, low: str, high: str) -> Iterator[Item]:
        from shared.store.errors import translated

        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": f"{index}pk = :pk AND {index}sk BETWEEN :low AND :high",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":low": {"S": low}, ":high": {"S": high}},
        }
        while True:
            with translated():
                page = self.client.query(**kwargs)
            self.calls += 1
            for raw in page.get("Items", []):
                self.items_read += 1
                yield {k: self._decode(v) for k, v in raw.items()}
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def list_rep_ids(self) -> list[str]:
        return [str(i["rep_id"]) for i in self._query("gsi1", "REPS", " ", "\uffff") if i.get("rep_id")]

    def open_leads_created_between(self, rep_id: str, start: str, end: str) -> Iterator[Item]:
        return self._query("gsi1", f"OWNER#{rep_id}", f"OPEN#{start}", f"OPEN#{end}")

    def stale_opportunities(self, stage: str, touched_before: str) -> Iterator[Item]:
        return self._query("gsi2", open_opportunities_key(stage), " ", touched_before)

    def opportunities_next_step_due(self, before_date: str) -> Iterator[Item]:
        return self._query("gsi3", NEXT_STEPS, " ", before_date)

    def open_escalations_due(self, now: str) -> Iterator[Item]:
        for status in OPEN_ESCALATION_STATUSES:
            yield from self._query("gsi1", "ESCALATIONS", f"{status}#", f"{status}#{now}")

    def samples_due(self, now: str) -> Iterator[Item]:
        return self._query("gsi2", SAMPLES_DUE, " ", f"{now}#\uffff")

    def activities_due(self, now: str) -> Iterator[Item]:
        return self._query("gsi2", ACTIVITIES_DUE, " ", f"{now}#\uffff")

    def opportunity_owners(self, opportunity_ids: Iterable[str]) -> dict[str, str]:
        from shared.store.errors import translated

        ids = sorted(set(opportunity_ids))
        owners: dict[str, str] = {}
        for start in range(0, len(ids), 100):
            keys = [
                {"pk": {"S": f"OPPORTUNITY#{i}"}, "sk": {"S": "OPPORTUNITY"}}
                for i in ids[start : start + 100]
            ]
            request: dict[str, Any] = {self.table: {"Keys": keys, "ProjectionExpression": "opportunity_id, #o",
                                                    "ExpressionAttributeNames": {"#o": "owner"}}}  # fmt: skip
            while request:
                with translated():
                    answer = self.client.batch_get_item(RequestItems=request)
                self.calls += 1
                for raw in answer.get("Responses", {}).get(self.table, []):
                    self.items_read += 1
                    item = {k: self._decode(v) for k, v in raw.items()}
                    if item.get("owner"):
                        owners[str(item["opportunity_id"])] = str(item["owner"])
                request = answer.get("UnprocessedKeys") or {}
        return owners
