"""plan_rollup under moto with real stream shapes: CRM changes are mirrored, plan-table changes recompute
the node and its ancestors, the nightly recompute corrects drift, a redelivered batch changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.helpers import stream_event

D = Decimal


def crm(entity: str, **fields: Any) -> dict[str, Any]:
    ident = fields[f"{entity.lower()}_id"]
    return {"pk": f"{entity}#{ident}", "sk": entity, "entity": entity, "occurred_at": "2026-11-22T10:00:00.000000Z",
            "last_event_id": f"ev-{ident}", **fields}  # fmt: skip


def plan_stream_for(store: Any, refs: list[Any], order_ids: list[str]) -> dict[str, Any]:
    """The plan table's stream records the mirror writes made (what the stream would carry)."""
    from shared.store.plan import node_item, node_key, order_item, order_mirror_key

    changes: list[tuple[str, dict[str, Any] | None, dict[str, Any] | None]] = []
    for ref in refs:
        node = store.get_node(ref)
        changes.append(("INSERT", {**node_key(ref), **node_item(node)}, None))
    for order in store.all_orders():
        if order.order_id in order_ids:
            for ref in order.refs():
                key = order_mirror_key(ref, order.period, order.order_id)
                changes.append(("INSERT", {**key, "entity": "NODE_ORDER", **order_item(order)}, None))
    return stream_event(changes)


def put_crm_items(items: list[dict[str, Any]]) -> None:
    """Items written straight into the CRM table (as the demo loader or an older writer leaves them)."""
    from boto3.dynamodb.types import TypeSerializer

    from shared.aws import client
    from shared.settings import get_settings

    serialize = TypeSerializer().serialize
    for item in items:
        client("dynamodb").put_item(
            TableName=get_settings().crm_table,
            Item={k: serialize(v) for k, v in item.items() if v is not None},
        )


@pytest.fixture
def rollup(aws: Any, lambda_context: Any) -> Any:
    from plan_rollup import app, wiring

    wiring.store.cache_clear()
    return lambda event: app.handler(event, lambda_context)


def test_crm_changes_build_the_tree_and_orders_roll_up_in_company_currency(rollup: Any) -> None:
    from shared.store.plan import ACCOUNT, TERRITORY, DynamoPlanStore, NodeRef, PlanFigure
    from shared.store.plan import DynamoRollupStore as Store

    # Given a tree and an order in EUR arriving on the CRM stream
    batch = stream_event([
        ("INSERT", crm("TERRITORY", territory_id="root", name="World"), None),
        ("INSERT", crm("TERRITORY", territory_id="west", name="West", parent_id="root"), None),
        ("INSERT", crm("ACCOUNT", account_id="a1", name="Acme", territory_id="west", owner="rep-1"), None),
        ("INSERT", crm("ORDER", order_id="o1", account_id="a1", amount=D("100"), currency="EUR",
                       booked_at="2026-02-01T09:00:00.000000Z"), None),
    ])  # fmt: skip
    assert rollup(batch) == {"batchItemFailures": []}
    store = Store()
    refs = [NodeRef(TERRITORY, "root"), NodeRef(TERRITORY, "west"), NodeRef(ACCOUNT, "a1")]
    assert [store.get_node(r) is not None for r in refs] == [True, True, True]
    # And a plan figure written by crm_events
    DynamoPlanStore().put_plan_figure_if_newer(
        PlanFigure("territory", "root", 2026, 1, D("150")),
        occurred_at=datetime(2026, 11, 22, tzinfo=UTC), event_id="p1", source="crm-x",
    )  # fmt: skip
    # When the plan table's stream delivers the mirror and the plan figure
    plan_batch = plan_stream_for(store, refs, ["o1"])
    plan_batch["Records"] += stream_event(
        [
            (
                "INSERT",
                {"pk": "PLAN#TERRITORY#root", "sk": "2026#Q1", "entity": "PLAN", "amount": D("150")},
                None,
            )
        ]
    )["Records"]
    assert rollup(plan_batch) == {"batchItemFailures": []}
    # Then the actual rolls up converted at the quarter's rate (config/fx.yaml: 1.17)
    root = store.get_cell(NodeRef(TERRITORY, "root"), (2026, 1))
    assert root is not None and root.actual == D("117.00") and root.plan == D("150")
    assert store.get_cell(NodeRef(TERRITORY, "west"), (2026, 1)).actual == D("117.00")  # type: ignore[union-attr]
    # And a redelivery changes nothing
    before = dict((r, p, c.to_json()) and ((r, p), c.to_json()) for r, p, c in store.all_cells())
    assert rollup(plan_batch) == {"batchItemFailures": []}
    assert dict(((r, p), c.to_json()) for r, p, c in store.all_cells()) == before


def test_a_pos_actual_moves_the_accounts_ancestors(rollup: Any) -> None:
    from shared.store.plan import ACCOUNT, TERRITORY, ActualDelta, DynamoPlanStore, NodeRef
    from shared.store.plan import DynamoRollupStore as Store

    rollup(stream_event([
        ("INSERT", crm("TERRITORY", territory_id="root", name="World"), None),
        ("INSERT", crm("ACCOUNT", account_id="a1", name="Acme", territory_id="root"), None),
    ]))  # fmt: skip
    store = Store()
    rollup(plan_stream_for(store, [NodeRef(TERRITORY, "root"), NodeRef(ACCOUNT, "a1")], []))
    DynamoPlanStore().add_actuals([
        ActualDelta("a1", 2026, 3, "USD", D("250.10"), D("5")),
        ActualDelta("a1", 2026, 3, "USD", D("250.10"), D("5"), "DIST#northwind"),
    ])  # fmt: skip
    rollup(stream_event([("MODIFY", {"pk": "ACTUAL#ACCOUNT#a1", "sk": "2026#Q3#USD", "entity": "ACTUAL",
                                     "amount": D("250.10")}, None)]))  # fmt: skip
    root = store.get_cell(NodeRef(TERRITORY, "root"), (2026, 3))
    assert root is not None and root.pos == {"northwind": D("250.10")}
    # the next quarter now expects northwind's report
    assert store.get_cell(NodeRef(TERRITORY, "root"), (2026, 4)).pos_expected == {"northwind": 1}  # type: ignore[union-attr]


def test_a_staged_pos_slice_reaches_the_rollup_once_its_commit_marker_says_done(rollup: Any) -> None:
    from shared.store.plan import (
        ACCOUNT,
        TERRITORY,
        DistributorCell,
        NodeRef,
        PosCommitItem,
        commit_marker_key,
        distributor_cell_write,
    )  # fmt: skip
    from shared.store.plan import DynamoRollupStore as Store

    rollup(stream_event([
        ("INSERT", crm("TERRITORY", territory_id="root", name="World"), None),
        ("INSERT", crm("ACCOUNT", account_id="a1", name="Acme", territory_id="root"), None),
    ]))  # fmt: skip
    store = Store()
    rollup(plan_stream_for(store, [NodeRef(TERRITORY, "root"), NodeRef(ACCOUNT, "a1")], []))
    # Given a distributor slice staged by a chunked POS commit that has not finished
    cell = DistributorCell(
        "a1", 2026, 3, "USD", "northwind", D("99.99"), D("3"), {"P1": (D("99.99"), D("3"))}
    )
    item, _condition = distributor_cell_write(cell, None, "tok1", staged=True, stamp="2026-12-01T00:00:00Z")
    item.save()
    rollup(
        stream_event([("MODIFY", {"pk": "ACTUAL#ACCOUNT#a1", "sk": "2026#Q3#USD", "entity": "ACTUAL"}, None)])
    )
    # Then the rollup does not count it
    root = store.get_cell(NodeRef(TERRITORY, "root"), (2026, 3))
    assert root is None or not root.pos
    # When the commit's last transaction writes its marker, and the stream brings the marker
    marker = {"run_id": "pos/northwind/a.csv@v1", "distributor": "northwind", "status": "done",
              "touched": '{"a1":[[2026,3]]}'}  # fmt: skip
    PosCommitItem(*commit_marker_key("tok1"), **marker).save()
    pk, sk = commit_marker_key("tok1")
    rollup(stream_event([("INSERT", {"pk": pk, "sk": sk, "entity": "POS_COMMIT", **marker}, None)]))
    # Then the slice counts, to the cent, up the tree
    root = store.get_cell(NodeRef(TERRITORY, "root"), (2026, 3))
    assert root is not None and root.pos == {"northwind": D("99.99")}


def test_the_nightly_recompute_rebuilds_from_the_sources_and_counts_drift(rollup: Any) -> None:

    from shared.store.plan import ACCOUNT, TERRITORY, NodeRef, RollupCell
    from shared.store.plan import DynamoRollupStore as Store

    # Given CRM items the stream never delivered (e.g. loaded before the mapping existed)
    put_crm_items([
        crm("TERRITORY", territory_id="root", name="World", gsi1pk="TERRITORIES", gsi1sk="root"),
        crm("ACCOUNT", account_id="a1", name="Acme", territory_id="root", gsi1pk="ACCOUNTS", gsi1sk="a1",
            aliases=[], alias_keys=[]),
        crm("ORDER", order_id="o1", account_id="a1", amount=D("10.50"), currency="USD",
            booked_at="2026-05-01T00:00:00.000000Z", gsi1pk="ORDERS#2026", gsi1sk="2026-05-01#o1"),
    ])  # fmt: skip
    store = Store()
    store.put_cell(NodeRef(TERRITORY, "ghost"), (2026, 1), RollupCell(orders=D("1")))
    # When the nightly schedule runs
    first = rollup({"schedule": "plan-nightly"})
    # Then the tree, the order and the rollups are rebuilt and every difference is counted
    assert first["drift_node"] == 2 and first["drift_order"] == 1
    assert first["drift_rollup"] == 3  # root and a1 were missing, ghost was extra
    assert store.get_cell(NodeRef(TERRITORY, "root"), (2026, 2)).actual == D("10.50")  # type: ignore[union-attr]
    assert store.get_cell(NodeRef(ACCOUNT, "a1"), (2026, 2)) is not None
    assert store.get_cell(NodeRef(TERRITORY, "ghost"), (2026, 1)) is None
    # And a second run finds nothing to correct
    assert rollup({"schedule": "plan-nightly"})["drift"] == 0


def test_the_monthly_export_writes_the_board_report_to_s3(rollup: Any) -> None:
    from datetime import date

    from shared.aws import client
    from shared.settings import get_settings

    year = date.today().year - 1 if date.today().month == 1 else date.today().year  # January: the final one
    put_crm_items([
        crm("TERRITORY", territory_id="root", name="World", gsi1pk="TERRITORIES", gsi1sk="root"),
        crm("ACCOUNT", account_id="a1", name="=cmd|' /C calc'!A0", territory_id="root", gsi1pk="ACCOUNTS",
            gsi1sk="a1", aliases=[], alias_keys=[]),
        crm("ORDER", order_id="o1", account_id="a1", amount=D("10.50"), currency="USD",
            booked_at=f"{year}-01-05T00:00:00.000000Z", gsi1pk=f"ORDERS#{year}", gsi1sk="o1"),
    ])  # fmt: skip
    rollup({"schedule": "plan-nightly"})
    answer = rollup({"schedule": "plan-monthly-export"})
    assert answer["nodes"] == 2
    s3 = client("s3")
    keys = sorted(answer["keys"])
    assert [k.rsplit(".", 1)[1] for k in keys] == ["csv", "html", "xlsx"]
    assert all(k.startswith(f"reports/plan/{date.today():%Y-%m}/plan-{year}") for k in keys)
    page = s3.get_object(Bucket=get_settings().bucket, Key=keys[1])["Body"].read().decode()
    assert "<svg" in page and "<script" not in page
    assert f"money in {get_settings().company_currency}, the company currency" in page  # the setting's
    text = s3.get_object(Bucket=get_settings().bucket, Key=keys[0])["Body"].read().decode()
    assert "'=cmd|" in text and "10.50" in text


class _Collect:
    """A runtime that keeps what the stream pump would deliver (the records themselves are the test)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        self.records += event["Records"]
        return {"batchItemFailures": []}


def plan_stream(aws: Any) -> tuple[Any, _Collect]:
    """The template's mapping of the plan table's stream to plan_rollup, opened now (filtered as on AWS)."""
    import boto3

    from hub.local.streams import MappingPump

    mapping = next(
        m for m in aws.stream_mappings() if m.table == "PlanTable" and m.function == "PlanRollupFunction"
    )
    collected = _Collect()
    pump = MappingPump(
        mapping, aws.physical["PlanTable"]["StreamArn"], boto3.client("dynamodbstreams", region_name="us-east-1"),
        boto3.client("sqs", region_name="us-east-1"), None, collected, "us-east-1",  # type: ignore[arg-type]
    )  # fmt: skip
    pump.start_position(latest=True)
    return pump, collected


def test_a_chunked_pos_commit_costs_the_rollup_no_read_per_staged_total_and_counts_from_its_marker(
    aws: Any, rollup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13: a chunked commit's staged writes on account totals (the distributor's slot, before the
    marker says done) change nothing that counts; the rollup skips their records before any read, and
    recomputes those account-quarters once, from the marker's record."""
    from pos_ingest import wiring

    from hub.local.runtime import LocalContext
    from shared.store import pos
    from shared.store.plan import ACCOUNT, TERRITORY, NodeRef, is_slot_attribute
    from shared.store.plan import DynamoRollupStore as Store
    from tests.handlers.test_pos_handler import csv_body, pos_world, put_and_ingest
    from tests.helpers import counting_aws_calls

    world = pos_world(aws)
    hub = next(world)
    rollup(stream_event([
        ("INSERT", crm("TERRITORY", territory_id="root", name="World"), None),
        ("INSERT", crm("ACCOUNT", account_id="acct-acme", name="Acme Corporation", territory_id="root"), None),
        ("INSERT", crm("ACCOUNT", account_id="acct-globex", name="Globex", territory_id="root"), None),
    ]))  # fmt: skip
    store = Store()
    accounts = [NodeRef(ACCOUNT, "acct-acme"), NodeRef(ACCOUNT, "acct-globex")]
    rollup(plan_stream_for(store, [NodeRef(TERRITORY, "root"), *accounts], []))
    monkeypatch.setattr(pos, "COMMIT_CHUNK", 3)  # 2 accounts x 2 quarters: 8 writes, 3 transactions
    context = LocalContext(function_name="pos-ingest", timeout_seconds=900)

    def file(price: str) -> bytes:
        return csv_body([[f"{m:02d}/15/2026", f"I-{m}-{c}", "1", "P1", "2", price, str(D(price) * 2), customer]
                         for m in (8, 11) for c, customer in enumerate(["Acme Corporation", "Globex"])])  # fmt: skip

    def commit_and_deliver(key: str, price: str) -> list[tuple[str, int]]:
        """The file's commit; then each plan-stream record it made, delivered alone: (kind, AWS calls)."""
        pump, collected = plan_stream(aws)
        assert put_and_ingest(hub, key, file(price), context)["files"][0]["status"] == "done"
        pump.poll()
        calls = []
        for record in collected.records:
            image = record["dynamodb"].get("NewImage") or {}
            kind = image["entity"]["S"] + (" staged" if any(map(is_slot_attribute, image)) else "")
            with counting_aws_calls() as counted:
                assert rollup({"Records": [record]}) == {"batchItemFailures": []}
            calls.append((kind, sum(counted.values())))
        return calls

    # When a distributor's file is committed in three transactions, staging 4 account totals
    first = commit_and_deliver("pos/northwind/q.csv", "5.00")
    # Then the staged totals' records cost the rollup nothing, and the marker's record recomputes
    assert sorted(k for k, _ in first) == ["ACTUAL staged"] * 4 + ["POS_COMMIT"]
    assert [n for k, n in first if k == "ACTUAL staged"] == [0, 0, 0, 0]
    assert next(n for k, n in first if k == "POS_COMMIT") > 0
    for ref in accounts:
        assert store.get_cell(ref, (2026, 3)).pos == {"northwind": D("10.00")}  # type: ignore[union-attr]
    assert store.get_cell(NodeRef(TERRITORY, "root"), (2026, 4)).pos == {"northwind": D("20.00")}  # type: ignore[union-attr]
    # When a restatement is committed the same way: its staged writes fold the first run's counted slots
    # into the totals (amount moves, what counts does not)
    second = commit_and_deliver("pos/northwind/q.csv", "7.50")
    assert sorted(k for k, _ in second) == ["ACTUAL staged"] * 4 + ["POS_COMMIT"]
    assert [n for k, n in second if k == "ACTUAL staged"] == [0, 0, 0, 0]
    # Then the rollup holds the restated figures, to the cent
    assert store.get_cell(NodeRef(TERRITORY, "root"), (2026, 3)).pos == {"northwind": D("30.00")}  # type: ignore[union-attr]
    wiring.store.cache_clear()
    world.close()
