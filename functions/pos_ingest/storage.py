"""POS storage in DynamoDB: run records, the line ledger, actuals, unmatched customers, inventory.

The line ledger is what makes counting exact. Every accepted line is kept under its restatement key
(distributor, invoice number, line) with the run that wrote it. A line is written together with the
changes it makes to the totals, in one transaction, conditioned on the ledger entry being exactly
as read: so a later file that restates a line moves the totals by the difference, an object
delivered twice (same run) changes nothing, and a line repeated within one file is caught even
when the two copies fall in different invocations. Keys are listed in docs/data-model.md ("POS").

Storage errors become ``PosStoreError``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from pos_ingest.customers import UNMATCHED, is_unmatched
from pos_ingest.validate import ZERO, InventoryLine, PosLine, Reject

if TYPE_CHECKING:
    from botocore.client import BaseClient

LINES_PER_TRANSACTION = 40  # a group whose writes exceed DynamoDB's 100 per transaction is halved
MAX_TRANSACTION_ITEMS = 100
_TRIES = 4


class PosStoreError(Exception):
    """DynamoDB refused or kept conflicting: the work may be retried."""


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ------------------------------------------------------------------ keys
def run_key(object_key: str, version: str) -> dict[str, str]:
    return {"pk": f"RUN#{object_key}", "sk": f"VERSION#{version}"}


def line_key(distributor: str, invoice: str, line: str) -> dict[str, str]:
    return {"pk": f"LINE#{distributor}#{invoice}", "sk": f"LINE#{line}"}


def actual_key(account: str, period: str, currency: str, breakdown: str = "") -> dict[str, str]:
    year, quarter = period.split("-Q")
    sk = f"{year}#Q{quarter}#{currency}" + (f"#{breakdown}" if breakdown else "")
    return {"pk": f"ACTUAL#ACCOUNT#{account}", "sk": sk}


def unmatched_key(normalised: str) -> dict[str, str]:
    return {"pk": "UNMATCHED", "sk": f"NAME#{normalised}"}


def inventory_key(distributor: str, part: str) -> dict[str, str]:
    return {"pk": f"INVENTORY#{distributor}", "sk": f"PART#{part}"}


@dataclass
class RunRecord:
    """One object's ingestion: what the run record in the POS table holds."""

    key: str
    version: str
    distributor: str
    kind: str
    status: str = "running"  # running | continuing | done | failed
    rows_total: int = 0
    accepted: int = 0
    rejected: int = 0
    blank: int = 0
    footer: int = 0
    amount_accepted: dict[str, str] = field(default_factory=dict)
    started_at: str = ""
    finished_at: str | None = None
    slice: int = 0
    rejects_key: str | None = None
    error: str | None = None
    checkpoint: str | None = None

    @property
    def run_id(self) -> str:
        return f"{self.key}@{self.version}"

    def view(self) -> dict[str, Any]:
        """The record as GET /pos/runs shows it."""
        data = {k: v for k, v in self.__dict__.items() if k != "checkpoint"}
        data["run_id"] = self.run_id
        return data


def _item_to_run(item: dict[str, Any]) -> RunRecord:
    names = RunRecord.__dataclass_fields__
    values = {k: v for k, v in item.items() if k in names}
    for name in ("rows_total", "accepted", "rejected", "blank", "footer", "slice"):
        values[name] = int(values.get(name, 0))
    return RunRecord(**values)


@dataclass
class LedgerOutcome:
    applied: int = 0  # lines new or restating another file's line
    restated: int = 0
    already: int = 0  # lines this very run had written before (a retried slice)
    repeats: list[Reject] = field(default_factory=list)  # the same line twice in one file
    repeated_lines: list[PosLine] = field(default_factory=list)  # the lines of those rejects


class PosStore(Protocol):
    """What ingestion needs from storage (``DynamoPosStore`` here; a fake in tests may stand in)."""

    def get_run(self, object_key: str, version: str) -> RunRecord | None: ...

    def create_run(self, run: RunRecord) -> RunRecord | None: ...

    def save_run(self, run: RunRecord, *, expected_slice: int) -> bool: ...

    def apply_lines(
        self, distributor: str, run_id: str, pairs: list[tuple[PosLine, list[str]]]
    ) -> LedgerOutcome: ...

    def put_inventory(
        self, distributor: str, run_id: str, lines: Iterable[InventoryLine]
    ) -> tuple[int, int]: ...


class DynamoPosStore:
    """The POS table and the actuals in the plan table, through the low-level DynamoDB client."""

    def __init__(self, pos_table: str, plan_table: str, dynamodb: BaseClient | None = None) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self.pos_table = pos_table
        self.plan_table = plan_table
        self._client = dynamodb
        self._ser = TypeSerializer()
        self._de = TypeDeserializer()

    @property
    def client(self) -> BaseClient:
        if self._client is None:
            from shared.aws import client

            self._client = client("dynamodb")
        return self._client

    def _dump(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: self._ser.serialize(v) for k, v in item.items() if v is not None}

    def _load(self, item: dict[str, Any]) -> dict[str, Any]:
        return {k: self._de.deserialize(v) for k, v in item.items()}

    def _call(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in ("ConditionalCheckFailedException", "TransactionCanceledException"):
                raise
            raise PosStoreError(f"{operation} failed: {code}") from error
        except BotoCoreError as error:
            raise PosStoreError(f"{operation} failed: {error}") from error

    # ---- runs --------------------------------------------------------------------------------------
    def get_run(self, object_key: str, version: str) -> RunRecord | None:
        answer = self._call("get_item", TableName=self.pos_table, Key=self._dump(run_key(object_key, version)),
                            ConsistentRead=True)  # fmt: skip
        item = answer.get("Item")
        return _item_to_run(self._load(item)) if item else None

    def runs_for_key(self, object_key: str) -> list[RunRecord]:
        items = self._query(self.pos_table, f"RUN#{object_key}", "VERSION#")
        return sorted((_item_to_run(i) for i in items), key=lambda r: r.started_at, reverse=True)

    def create_run(self, run: RunRecord) -> RunRecord | None:
        """Store a new run record; None when this object version already has one."""
        from botocore.exceptions import ClientError

        item = {**run_key(run.key, run.version), **run.__dict__, "entity": "POS_RUN",
                "gsi1pk": f"RUNS#{run.distributor}", "gsi1sk": f"{run.started_at}#{run.key}"}  # fmt: skip
        try:
            self._call("put_item", TableName=self.pos_table, Item=self._dump(item),
                       ConditionExpression="attribute_not_exists(pk)")  # fmt: skip
        except ClientError:
            return None
        return run

    def save_run(self, run: RunRecord, *, expected_slice: int) -> bool:
        """Write the run's progress if no other invocation moved it on (slice number unchanged)."""
        from botocore.exceptions import ClientError

        item = {**run_key(run.key, run.version), **run.__dict__, "entity": "POS_RUN",
                "gsi1pk": f"RUNS#{run.distributor}", "gsi1sk": f"{run.started_at}#{run.key}"}  # fmt: skip
        try:
            self._call("put_item", TableName=self.pos_table, Item=self._dump(item),
                       ConditionExpression="#s = :slice AND #st <> :done",
                       ExpressionAttributeNames={"#s": "slice", "#st": "status"},
                       ExpressionAttributeValues=self._dump({":slice": expected_slice, ":done": "done"}))  # fmt: skip
        except ClientError:
            return False
        return True

    # ---- the line ledger ---------------------------------------------------------------------------
    def apply_lines(
        self, distributor: str, run_id: str, pairs: list[tuple[PosLine, list[str]]]
    ) -> LedgerOutcome:
        outcome = LedgerOutcome()
        for start in range(0, len(pairs), LINES_PER_TRANSACTION):
            self._apply_group(distributor, run_id, pairs[start : start + LINES_PER_TRANSACTION], outcome)
        return outcome

    def _apply_group(
        self, distributor: str, run_id: str, pairs: list[tuple[PosLine, list[str]]], outcome: LedgerOutcome
    ) -> None:
        from botocore.exceptions import ClientError

        for _attempt in range(_TRIES):
            current = self._batch_get(self.pos_table, [line_key(distributor, p[0].invoice_number, p[0].line)
                                                       for p in pairs])  # fmt: skip
            writes: list[dict[str, Any]] = []
            deltas: dict[tuple[str, str], list[Any]] = {}
            group = LedgerOutcome()
            for line, cells in pairs:
                key = line_key(distributor, line.invoice_number, line.line)
                previous = current.get((key["pk"], key["sk"]))
                if previous is not None and previous["run_id"] == run_id:
                    if int(previous["row"]) == line.row:
                        group.already += 1
                    else:
                        group.repeated_lines.append(line)
                        group.repeats.append(Reject(line.row, cells, (
                            f"line repeated within the file (invoice {line.invoice_number} line {line.line} "
                            f"came earlier, at row {int(previous['row'])})")))  # fmt: skip
                    continue
                writes.append(self._line_put(key, distributor, run_id, line, previous))
                self._add_deltas(deltas, distributor, line, 1)
                if previous is not None:
                    self._add_deltas(deltas, distributor, _stored_line(previous), -1)
                    group.restated += 1
                group.applied += 1
            writes.extend(self._delta_updates(deltas, distributor))
            if len(writes) > MAX_TRANSACTION_ITEMS and len(pairs) > 1:
                half = len(pairs) // 2  # lines and their totals stay in one transaction: fewer lines
                self._apply_group(distributor, run_id, pairs[:half], outcome)
                self._apply_group(distributor, run_id, pairs[half:], outcome)
                return
            try:
                if writes:
                    self._call("transact_write_items", TransactItems=writes)
            except ClientError as error:
                if "TransactionCanceled" not in str(error):
                    raise PosStoreError(f"ledger write failed: {error}") from error
                continue  # a concurrent writer changed a line: read again
            outcome.applied += group.applied
            outcome.restated += group.restated
            outcome.already += group.already
            outcome.repeats.extend(group.repeats)
            outcome.repeated_lines.extend(group.repeated_lines)
            return
        raise PosStoreError("ledger lines kept changing under concurrent writers")

    def _line_put(
        self,
        key: dict[str, str],
        distributor: str,
        run_id: str,
        line: PosLine,
        previous: dict[str, Any] | None,
    ) -> dict[str, Any]:
        item = {
            **key,
            "entity": "POS_LINE",
            "distributor": distributor,
            "run_id": run_id,
            "row": line.row,
            "invoice_number": line.invoice_number,
            "line": line.line,
            "invoice_date": line.invoice_date,
            "period": line.period,
            "part_number": line.part_number,
            "quantity": line.quantity,
            "unit_price": str(line.unit_price) if line.unit_price is not None else None,
            "amount": line.extended_amount,
            "currency": line.currency,
            "end_customer": line.end_customer,
            "account": line.account,
            "country": line.country or None,
            "updated_at": now_iso(),
        }
        put: dict[str, Any] = {"TableName": self.pos_table, "Item": self._dump(item)}
        if previous is None:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "run_id = :run AND #row = :row"
            put["ExpressionAttributeNames"] = {"#row": "row"}
            put["ExpressionAttributeValues"] = self._dump(
                {":run": previous["run_id"], ":row": previous["row"]}
            )
        return {"Put": put}

    @staticmethod
    def _add_deltas(
        deltas: dict[tuple[str, str], list[Any]], distributor: str, line: PosLine, sign: int
    ) -> None:
        amount, quantity = sign * line.extended_amount, sign * line.quantity
        if is_unmatched(line.account):
            targets = [("U", f"{line.account[len(UNMATCHED) :]}#{line.currency}#{line.end_customer}")]
        else:
            targets = [("T", ""), ("B", f"DIST#{distributor}"), ("B", f"PART#{line.part_number}")]
        for kind, suffix in targets:
            slot = deltas.setdefault(
                (kind, f"{line.account}|{line.period}|{line.currency}|{suffix}"), [ZERO, ZERO, 0]
            )
            slot[0] += amount
            slot[1] += quantity
            slot[2] += sign

    def _delta_updates(self, deltas: dict[tuple[str, str], list[Any]], distributor: str) -> Iterator[dict]:
        stamp = now_iso()
        unmatched: dict[str, list[Any]] = {}
        for (kind, ident), (amount, quantity, count) in deltas.items():
            account, period, currency, suffix = ident.split("|", 3)
            if kind == "U":
                name, _currency, customer = suffix.split("#", 2)
                slot = unmatched.setdefault(f"{name}#{currency}", [ZERO, 0, set(), name, currency])
                slot[0] += amount
                slot[1] += count
                slot[2].add(customer)
                continue
            if not amount and not quantity:
                continue
            year, quarter = period.split("-Q")
            values: dict[str, Any] = {":a": amount, ":q": quantity, ":now": stamp, ":acc": account,
                                      ":y": int(year), ":qt": int(quarter), ":cur": currency}  # fmt: skip
            set_parts = (
                "account_id = :acc, #yr = :y, quarter = :qt, currency = :cur, updated_at = :now, entity = :e"
            )
            if kind == "T":
                values[":e"] = "ACTUAL"
                values[":g"] = f"ACTUAL#{year}"
                values[":gs"] = f"ACCOUNT#{account}#Q{quarter}#{currency}"
                set_parts += ", gsi1pk = :g, gsi1sk = :gs"
            else:
                values[":e"] = "ACTUAL_BREAKDOWN"
                values[":b"] = suffix
                set_parts += ", breakdown = :b"
            yield {
                "Update": {
                    "TableName": self.plan_table,
                    "Key": self._dump(actual_key(account, period, currency, suffix)),
                    "UpdateExpression": f"ADD amount :a, quantity :q SET {set_parts}",
                    "ExpressionAttributeNames": {"#yr": "year"},
                    "ExpressionAttributeValues": self._dump(values),
                }
            }
        for amount, count, customers, name, currency in unmatched.values():
            yield {
                "Update": {
                    "TableName": self.pos_table,
                    "Key": self._dump(unmatched_key(name)),
                    "UpdateExpression": (
                        "ADD #amt :a, line_count :n, distributors :d SET entity = :e, normalised_name = :name, "
                        "updated_at = :now" + (", end_customer = :c" if customers else "")
                    ),
                    "ExpressionAttributeNames": {"#amt": f"amount_{currency}"},
                    "ExpressionAttributeValues": self._dump(
                        {
                            ":a": amount,
                            ":n": count,
                            ":d": {distributor},
                            ":e": "POS_UNMATCHED",
                            ":name": name,
                            ":now": stamp,
                            **({":c": sorted(customers)[0]} if customers else {}),
                        }
                    ),
                }
            }

    # ---- inventory ---------------------------------------------------------------------------------
    def put_inventory(self, distributor: str, run_id: str, lines: Iterable[InventoryLine]) -> tuple[int, int]:
        """Latest snapshot per part: an older as-of date never overwrites a newer one. (written, stale)"""
        from botocore.exceptions import ClientError

        written = stale = 0
        stamp = now_iso()
        for line in lines:
            item = {**inventory_key(distributor, line.part_number), "entity": "POS_INVENTORY",
                    "distributor": distributor, "part_number": line.part_number, "as_of_date": line.as_of_date,
                    "on_hand": line.on_hand, "on_order": line.on_order, "run_id": run_id, "row": line.row,
                    "updated_at": stamp}  # fmt: skip
            try:
                self._call("put_item", TableName=self.pos_table, Item=self._dump(item),
                           ConditionExpression="attribute_not_exists(pk) OR as_of_date <= :d",
                           ExpressionAttributeValues=self._dump({":d": line.as_of_date}))  # fmt: skip
                written += 1
            except ClientError:
                stale += 1
        return written, stale

    # ---- reads -------------------------------------------------------------------------------------
    def inventory(self, distributor: str) -> list[dict[str, Any]]:
        return self._query(self.pos_table, f"INVENTORY#{distributor}", "PART#")

    def unmatched(self) -> list[dict[str, Any]]:
        return self._query(self.pos_table, "UNMATCHED", "NAME#")

    def actuals(self, account: str, sk_prefix: str = "") -> list[dict[str, Any]]:
        return self._query(self.plan_table, f"ACTUAL#ACCOUNT#{account}", sk_prefix)

    def line(self, distributor: str, invoice: str, line: str) -> dict[str, Any] | None:
        found = self._batch_get(self.pos_table, [line_key(distributor, invoice, line)])
        return next(iter(found.values()), None)

    def _query(self, table: str, pk: str, sk_prefix: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :sk)",
            "ExpressionAttributeValues": self._dump({":pk": pk, ":sk": sk_prefix}),
            "ConsistentRead": True,
        }
        while True:
            answer = self._call("query", **kwargs)
            items.extend(self._load(i) for i in answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                return items
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def _batch_get(self, table: str, keys: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        found: dict[tuple[str, str], dict[str, Any]] = {}
        unique = list({(k["pk"], k["sk"]): k for k in keys}.values())
        for start in range(0, len(unique), 100):
            request = {
                table: {"Keys": [self._dump(k) for k in unique[start : start + 100]], "ConsistentRead": True}
            }
            for _attempt in range(8):
                answer = self._call("batch_get_item", RequestItems=request)
                for item in answer.get("Responses", {}).get(table, []):
                    loaded = self._load(item)
                    found[(loaded["pk"], loaded["sk"])] = loaded
                request = answer.get("UnprocessedKeys") or {}
                if not request:
                    break
            else:
                raise PosStoreError("batch_get_item kept leaving keys unprocessed")
        return found


def _stored_line(item: dict[str, Any]) -> PosLine:
    return PosLine(
        int(item["row"]),
        item["invoice_number"],
        item["line"],
        item["invoice_date"],
        item["period"],
        item["part_number"],
        Decimal(item["quantity"]),
        Decimal(item["unit_price"]) if item.get("unit_price") else None,
        Decimal(item["amount"]),
        item["currency"],
        item.get("end_customer", ""),
        item["account"],
        item.get("country", ""),
        "",
        "",
    )


def checkpoint_json(value: str | None) -> dict[str, Any] | None:
    return json.loads(value) if value else None
