"""The plan's read routes under moto: node figures, 409 for an id naming two types, the tree, the
pipeline funnel and a rep's attainment, read from the rollups plan_rollup wrote."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from tests.conftest import http_event
from tests.handlers.test_plan_rollup_handler import crm, put_crm_items

D = Decimal
YEAR = datetime.now(UTC).year - 1  # a past year: ytd covers all four quarters


@pytest.fixture
def world(aws: Any, lambda_context: Any) -> Any:
    """A tree, plans, orders, an opportunity and activities, rolled up by the nightly recompute."""
    from plan_rollup import app as rollup_app
    from plan_rollup import wiring
    from reports_api import plan_routes

    from shared.store.plan import DynamoPlanStore, PlanFigure

    wiring.store.cache_clear()
    plan_routes._store.cache_clear()
    items = [
        crm("TERRITORY", territory_id="world", name="World", owner="vp", gsi1pk="TERRITORIES", gsi1sk="world"),
        crm("TERRITORY", territory_id="west", name="West", parent_id="world", gsi1pk="TERRITORIES", gsi1sk="west"),
        crm("TERRITORY", territory_id="x", name="X territory", parent_id="world", gsi1pk="TERRITORIES", gsi1sk="x"),
        crm("ACCOUNT", account_id="x", name="X Corp", territory_id="west", owner="rep-1", gsi1pk="ACCOUNTS", gsi1sk="x",
            aliases=[], alias_keys=[]),
        crm("OPPORTUNITY", opportunity_id="op1", account_id="x", name="Deal", stage="Verbal Approval",
            probability=D("80"), amount=D("1000"), close_date=f"{YEAR}-05-10", gsi1pk="ACCOUNT#x",
            gsi1sk="OPPORTUNITY#op1"),
        crm("ORDER", order_id="o1", account_id="x", amount=D("300"), currency="USD",
            booked_at=f"{YEAR}-02-01T00:00:00.000000Z", gsi1pk=f"ORDERS#{YEAR}", gsi1sk="o1"),
        crm("ORDER", order_id="o0", account_id="x", amount=D("200"), currency="USD",
            booked_at=f"{YEAR - 1}-02-01T00:00:00.000000Z", gsi1pk=f"ORDERS#{YEAR - 1}", gsi1sk="o0"),
        crm("REP", rep_id="rep-1", name="Nick Points", email="n@example.com", quota={"default": D("1000")},
            activity_points_quota=D("500"), gsi1pk="REPS", gsi1sk="rep-1"),
        crm("ACTIVITY", activity_id="act1", rep_id="rep-1", points=D("450"), type="1st Appointment",
            at=f"{YEAR}-03-04T10:00:00.000000Z", gsi1pk="REP#rep-1#ACTIVITIES", gsi1sk=f"{YEAR}-03-04#act1"),
    ]  # fmt: skip
    put_crm_items(items)
    plans = DynamoPlanStore()
    for node_type, node_id, amount in (("territory", "world", "1000"), ("territory", "west", "600"),
                                       ("territory", "x", "500"), ("account", "x", "400")):  # fmt: skip
        plans.put_plan_figure_if_newer(PlanFigure(node_type, node_id, YEAR, 1, D(amount)),
                                       occurred_at=datetime(YEAR, 1, 1, tzinfo=UTC), event_id="e", source="t")  # fmt: skip
    rollup_app.handler({"schedule": "plan-nightly"}, lambda_context)

    def get(path: str) -> tuple[int, Any]:
        from reports_api.app import handler

        answer = handler(http_event("GET", path, authorized=True), lambda_context)
        return answer["statusCode"], json.loads(answer["body"])

    return get


def test_a_node_shows_plan_actual_variance_and_its_reconciliation(world: Any) -> None:
    status, body = world(f"/plan/{YEAR}/nodes/world")
    assert status == 200
    assert body["node"] == {
        "id": "world",
        "type": "territory",
        "name": "World",
        "owner": "vp",
        "parent_id": None,
    }
    q1 = body["quarters"]["1"]
    assert (q1["plan"], q1["actual"], q1["variance"], q1["variance_pct"]) == ("1000", "300", "-700", "-0.7")
    assert (q1["children_plan"], q1["plan_gap"], q1["over_assignment_pct"]) == ("1100", "-100", "0.1")
    assert q1["actual_by_source"] == {"orders": "300", "pos": {}}
    assert q1["yoy"] == "0.5" and q1["unconverted"] == {}
    assert body["quarters"]["2"]["weighted_pipeline"] == "800.00"
    assert body["ytd"]["plan"] == "1000" and body["ytd"]["actual"] == "300"
    assert body["last_year"]["quarters"]["1"]["actual"] == "200"
    assert {c["id"] for c in body["children"]} == {"west", "x"}
    assert body["as_of"]


def test_an_id_naming_two_node_types_answers_409_and_type_picks_one(world: Any) -> None:
    status, body = world(f"/plan/{YEAR}/nodes/x")
    assert status == 409 and sorted(body["types"]) == ["account", "territory"]
    status, body = world(f"/plan/{YEAR}/nodes/x?type=account")
    assert status == 200 and body["node"]["parent_id"] == "west"
    assert body["quarters"]["1"]["plan"] == "400"
    assert world(f"/plan/{YEAR}/nodes/nobody")[0] == 404
    assert world("/plan/20x6/nodes/world")[0] == 400


def test_tree_and_pipeline_refuse_a_root_as_the_node_route_does(world: Any) -> None:
    for path in (f"/plan/{YEAR}/tree", f"/pipeline?year={YEAR}"):
        status, body = world(f"{path}{'&' if '?' in path else '?'}root=x")
        assert status == 409 and sorted(body["types"]) == ["account", "territory"], path
        status, _ = world(f"{path}{'&' if '?' in path else '?'}root=x&type=account")
        assert status == 200, path
        assert world(f"{path}{'&' if '?' in path else '?'}root=nobody")[0] == 404, path
        assert world(f"{path}{'&' if '?' in path else '?'}type=planet")[0] == 400, path


def test_the_tree_nests_the_same_figures(world: Any) -> None:
    status, body = world(f"/plan/{YEAR}/tree?root=world&depth=2")
    assert status == 200
    (root,) = body["nodes"]
    west = next(c for c in root["children"] if c["node"]["id"] == "west")
    assert west["quarters"]["1"]["actual"] == "300"
    assert [c["node"]["id"] for c in west["children"]] == ["x"]
    # below the depth asked for, children are listed by id only
    assert west["children"][0]["children"] == [{"id": "op1", "type": "opportunity", "name": "Deal"}]


def test_the_pipeline_funnel_in_catalogue_order(world: Any) -> None:
    status, body = world(f"/pipeline?root=world&year={YEAR}&quarter=2")
    assert status == 200
    stages = {s["stage"]: s for s in body["stages"]}
    assert stages["Verbal Approval"] == {
        **stages["Verbal Approval"],
        "count": 1,
        "amount": "1000",
        "weighted_amount": "800.00",
    }
    assert body["stages"][0]["stage"] == "Qualifying Needs"
    assert body["weighted_pipeline"] == "800.00"
    assert world(f"/pipeline?root=world&year={YEAR}&quarter=1")[1]["count"] == 0


def test_a_reps_attainment_and_pacing(world: Any) -> None:
    status, body = world(f"/reps/rep-1/attainment?year={YEAR}")
    assert status == 200
    assert body["quarters"]["1"] == {"quota": "1000", "actual": "300", "attainment": "0.3"}
    assert body["months"]["3"]["points"] == "450" and body["months"]["3"]["band"] == "behind"
    assert body["months"]["4"]["band"] == "at_risk"
    assert world("/reps/nobody/attainment")[0] == 404
