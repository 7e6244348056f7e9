"""The POS store's contract (``shared.store.pos``), the same on memory, moto and DynamoDB Local."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import pytest

from shared.store.errors import Conflict, StoreError, Throttled
from tests.contract.conftest import StoreBackend
from tests.contract.support import ABOUT_100_KB, OVER_400_KB, race


@dataclass(frozen=True)
class Line:
    """A sell-through line as ``pos_ingest`` hands it to the ledger (``shared.store.pos.LedgerLine``)."""

    row: int
    invoice_number: str
    line: str
    extended_amount: Decimal
    invoice_date: str = "2026-11-03"
    period: str = "2026-Q4"
    part_number: str = "PN-100"
    quantity: Decimal = Decimal(1)
    unit_price: Decimal | None = None
    currency: str = "USD"
    end_customer: str = "Acme Corp"
    account: str = "acct-1"
    country: str = "US"


@dataclass(frozen=True)
class Stock:
    """An inventory line (``shared.store.pos.InventoryEntry``)."""

    row: int
    part_number: str
    as_of_date: str
    on_hand: Decimal
    on_order: Decimal | None = None


def stores(backend: StoreBackend) -> tuple[Any, Any]:
    """The POS store, and the plan store that holds the actuals its ledger moves."""
    pos = backend.store("pos")
    return pos, (pos.plan if backend.name == "memory" else backend.store("plan"))


def a_run(key: str = "pos/dist-1/nov.csv", version: str = "v1", **fields: Any) -> Any:
    from shared.store.pos import RunRecord

    return RunRecord(key=key, version=version, distributor="dist-1", kind="sell_through",
                     started_at="2026-11-22T10:00:00.000000Z", **fields)  # fmt: skip


def test_a_run_record_is_created_once(store_backend: StoreBackend) -> None:
    pos, _plan = stores(store_backend)

    # When the same object version's run is created twice
    first = pos.create_run(a_run(rows_total=3))
    second = pos.create_run(a_run(rows_total=99))

    # Then the second is refused and the first stays
    assert first is not None
    assert second is None
    stored = pos.get_run("pos/dist-1/nov.csv", "v1")
    assert stored is not None
    assert stored.rows_total == 3


def test_racing_deliveries_of_one_object_create_exactly_one_run(store_backend: StoreBackend) -> None:
    pos, _plan = stores(store_backend)

    # When eight invocations for the same object version create its run at once
    raced = race(8, lambda i: pos.create_run(a_run(rows_total=i)))

    # Then exactly one creates it; the others are told it exists
    assert raced.errors == [None] * 8
    winners = [r for r in raced.results if r is not None]
    assert len(winners) == 1
    stored = pos.get_run("pos/dist-1/nov.csv", "v1")
    assert stored is not None
    assert stored.rows_total == winners[0].rows_total


def test_run_progress_is_saved_only_by_the_slice_holder_and_never_after_done(
    store_backend: StoreBackend,
) -> None:
    pos, _plan = stores(store_backend)
    run = a_run()
    assert pos.create_run(run) is not None

    # When slice 0's holder saves slice 1, a late holder of slice 0 saves too, then the run finishes
    moved = pos.save_run(a_run(slice=1, status="continuing"), expected_slice=0)
    late = pos.save_run(a_run(slice=1, status="continuing", rows_total=7), expected_slice=0)
    done = pos.save_run(a_run(slice=2, status="done", rows_total=10), expected_slice=1)
    after_done = pos.save_run(a_run(slice=3, status="running"), expected_slice=2)

    # Then only the holder of the expected slice moved it, and a finished run stays finished
    assert (moved, late, done, after_done) == (True, False, True, False)
    stored = pos.get_run("pos/dist-1/nov.csv", "v1")
    assert stored is not None
    assert (stored.status, stored.slice, stored.rows_total) == ("done", 2, 10)


def test_racing_files_restating_one_line_count_it_once(store_backend: StoreBackend) -> None:
    pos, plan = stores(store_backend)

    # When four files (four runs) carry the same invoice line, each with its own amount, at once
    def apply(i: int) -> Any:
        line = Line(row=2, invoice_number="INV-1", line="1", extended_amount=Decimal(100 + i))
        return pos.apply_lines("dist-1", f"pos/dist-1/f{i}.csv@v1", [line])

    raced = race(4, apply)

    # Then each either applied (new or restating) or was refused as a Conflict to retry, and the
    # account's actuals hold exactly one file's amount, never a sum
    assert all(isinstance(e, Conflict) for e in raced.errors if e is not None), raced.errors
    applied = [(i, r) for i, r in enumerate(raced.results) if raced.errors[i] is None]
    assert applied
    assert sum(r.applied for _i, r in applied) == len(applied)
    actuals = plan.actuals_of_account("acct-1", 2026, 4)
    assert len(actuals) == 1
    assert actuals[0].quantity == 1
    assert actuals[0].amount in {Decimal(100 + i) for i, _r in applied}


def test_racing_retries_of_one_run_count_its_lines_once(store_backend: StoreBackend) -> None:
    pos, plan = stores(store_backend)
    lines = [
        Line(row=n, invoice_number=f"INV-{n}", line="1", extended_amount=Decimal("10.25"))
        for n in range(2, 7)
    ]

    # When four invocations of the same run (a retried slice) apply the same lines at once
    raced = race(4, lambda i: pos.apply_lines("dist-1", "pos/dist-1/nov.csv@v1", lines))

    # Then the lines count once
    assert all(isinstance(e, Conflict) for e in raced.errors if e is not None), raced.errors
    assert plan.actuals_of_account("acct-1", 2026, 4)[0].amount == Decimal("51.25")
    if not raced.raised():
        assert sum(o.applied for o in raced.results) == 5
        assert sum(o.already for o in raced.results) == 15


def test_an_older_inventory_snapshot_never_overwrites_a_newer_one(store_backend: StoreBackend) -> None:
    pos, _plan = stores(store_backend)

    newer = pos.put_inventory("dist-1", "r2", [Stock(2, "PN-1", "2026-11-20", Decimal(40))])
    older = pos.put_inventory("dist-1", "r1", [Stock(2, "PN-1", "2026-11-13", Decimal(55))])

    assert (newer, older) == ((1, 0), (0, 1))
    [part] = pos.inventory_of("dist-1")
    assert (part.as_of_date, part.on_hand, part.run_id) == ("2026-11-20", Decimal(40), "r2")


def test_a_run_record_over_400_kb_is_refused(store_backend: StoreBackend) -> None:
    pos, _plan = stores(store_backend)

    # When a run record too big for one item is created
    # Then it is refused as a StoreError (not a crash, not a retryable Throttled), and nothing is kept
    with pytest.raises(StoreError) as refused:
        pos.create_run(a_run(error=OVER_400_KB))
    assert not isinstance(refused.value, Throttled)
    assert pos.get_run("pos/dist-1/nov.csv", "v1") is None


def test_every_run_of_a_key_is_read_beyond_one_page(store_backend: StoreBackend) -> None:
    pos, _plan = stores(store_backend)

    # Given twelve versions' runs of one key, about 100 KB each (over 1 MB together)
    for n in range(12):
        started = f"2026-11-{n + 1:02d}T10:00:00.000000Z"
        run = a_run(version=f"v{n:02d}", error=ABOUT_100_KB)
        run.started_at = started
        assert pos.create_run(run) is not None

    # When the key's runs are listed
    runs = pos.runs_of_key("pos/dist-1/nov.csv")

    # Then all twelve come back, newest first
    assert [r.version for r in runs] == [f"v{n:02d}" for n in reversed(range(12))]


# ---------------------------------------------------------------- a run's commit (issue 13)
def pos_and_plan(backend: StoreBackend) -> tuple[Any, Any]:
    """The POS store and the plan store holding the actuals its commits move."""
    from shared.store.plan import DynamoPlanStore

    pos = backend.store("pos")
    return pos, (pos.plan if backend.name == "memory" else DynamoPlanStore())


def a_plan(run: Any, head: Any, amount: str, *, cells: int = 1) -> Any:
    from shared.store.plan import ActualDelta, DistributorCell
    from shared.store.pos import CommitPlan

    plan = CommitPlan("dist-1", run.run_id, head.version, {3: f"pos-ledger/dist-1/03/{run.token}.json.gz"})
    for n in range(cells):
        plan.totals.append(ActualDelta(f"acct-{n}", 2026, 4, "USD", Decimal(amount), Decimal(1)))
        plan.cells.append(DistributorCell(f"acct-{n}", 2026, 4, "USD", "dist-1", Decimal(amount), Decimal(1),
                                          {"PN-1": (Decimal(amount), Decimal(1))}))  # fmt: skip
    return plan


def two_runs(pos: Any, first: str, second: str) -> tuple[Any, Any]:
    """Two runs of distributor dist-1's files, their records created."""
    runs = a_run(key=f"pos/dist-1/{first}.csv"), a_run(key=f"pos/dist-1/{second}.csv")
    for run in runs:
        pos.create_run(run)
    return runs


def test_the_ledger_lock_is_held_by_one_run_and_released_by_its_commit(store_backend: StoreBackend) -> None:
    pos, plan_store = pos_and_plan(store_backend)
    first, second = two_runs(pos, "a", "b")
    # Given the first run holding the distributor's ledger lock
    head = pos.lock_ledger("dist-1", first.run_id)
    assert head is not None and head.version == 0 and head.shards == {}
    assert pos.lock_ledger("dist-1", first.run_id) is not None  # its own retry keeps it
    assert pos.lock_ledger("dist-1", second.run_id) is None
    # When it commits
    first.status, first.slice = "done", 1
    assert pos.commit_run(a_plan(first, head, "10.00"), first, expected_slice=0)
    # Then actuals, the run record and the ledger head moved together, and the lock is free
    assert [a.amount for a in plan_store.actuals_of_account("acct-0", 2026, 4)] == [Decimal("10.00")]
    assert pos.get_run("pos/dist-1/a.csv", "v1").status == "done"
    later = pos.lock_ledger("dist-1", second.run_id)
    assert (
        later is not None
        and later.version == 1
        and later.shards == {3: f"pos-ledger/dist-1/03/{first.token}.json.gz"}
    )
    # And a commit computed against an older head is refused, changing nothing
    second.status, second.slice = "done", 1
    assert not pos.commit_run(a_plan(second, head, "5.00"), second, expected_slice=0)
    assert [a.amount for a in plan_store.actuals_of_account("acct-0", 2026, 4)] == [Decimal("10.00")]
    assert pos.get_run("pos/dist-1/b.csv", "v1").status == "running"


def test_a_commit_too_big_for_one_transaction_is_applied_in_chunks_exactly_once(
    store_backend: StoreBackend,
) -> None:
    pos, plan_store = pos_and_plan(store_backend)
    run = a_run()
    pos.create_run(run)
    head = pos.lock_ledger("dist-1", run.run_id)
    plan = a_plan(run, head, "1.25", cells=120)  # 240 writes: three chunks
    assert plan.chunk_count() == 3
    run.status, run.slice = "done", 1
    assert pos.commit_run(plan, run, expected_slice=0)
    assert pos.get_run(run.key, run.version).applied == 3
    # the same plan again (a retry after the commit finished) changes nothing
    assert not pos.commit_run(plan, run, expected_slice=0)
    totals = [a.amount for n in range(120) for a in plan_store.actuals_of_account(f"acct-{n}", 2026, 4)]
    assert totals == [Decimal("1.25")] * 120
    parts = plan_store.actual_breakdown("acct-7", 2026, 4, "USD")
    assert [(b.dimension, b.value, b.amount) for b in parts] == [
        ("distributor", "dist-1", Decimal("1.25")), ("part", "PN-1", Decimal("1.25"))]  # fmt: skip


def test_a_run_that_will_not_finish_is_failed_once_and_frees_the_ledger(store_backend: StoreBackend) -> None:
    pos, plan_store = pos_and_plan(store_backend)
    dead, next_run = two_runs(pos, "dead", "next")
    # Given a run holding the ledger lock, its commit never made
    head = pos.lock_ledger("dist-1", dead.run_id)
    assert pos.lock_ledger("dist-1", next_run.run_id) is None
    # When it is failed (its invocations dead-lettered)
    assert pos.fail_run(dead, "the function timed out on every try")
    # Then its record says why, a second failing changes nothing, nothing of it moves on, and the
    # ledger is free for the next run, whose commit counts
    stored = pos.get_run(dead.key, dead.version)
    assert (stored.status, stored.error) == ("failed", "the function timed out on every try")
    assert not pos.fail_run(dead, "again")
    assert pos.get_run(dead.key, dead.version).error == "the function timed out on every try"
    dead.status, dead.slice = "done", 1
    assert not pos.commit_run(a_plan(dead, head, "9.99"), dead, expected_slice=0)
    assert not pos.save_run(dead, expected_slice=0)
    taken = pos.lock_ledger("dist-1", next_run.run_id)
    assert taken is not None
    next_run.status, next_run.slice = "done", 1
    assert pos.commit_run(a_plan(next_run, taken, "1.25"), next_run, expected_slice=0)
    assert [a.amount for a in plan_store.actuals_of_account("acct-0", 2026, 4)] == [Decimal("1.25")]


def test_a_second_chunked_commit_folds_in_what_the_first_staged(
    store_backend: StoreBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from shared.store import pos as pos_module

    monkeypatch.setattr(
        pos_module, "COMMIT_CHUNK", 9
    )  # 24 writes: three chunks (moto copies tables per transaction)

    pos, plan_store = pos_and_plan(store_backend)
    first, second = two_runs(pos, "a", "b")
    # Given a first commit of three chunks (staged, counting once done)
    head = pos.lock_ledger("dist-1", first.run_id)
    first.status, first.slice = "done", 1
    assert pos.commit_run(a_plan(first, head, "1.25", cells=12), first, expected_slice=0)
    # When a second run of the distributor adds 1.00 to every account-quarter, computed as the store
    # shows them (its slices as they count, its slots), in three chunks too
    head = pos.lock_ledger("dist-1", second.run_id)
    keys = [(f"acct-{n}", 2026, 4, "USD") for n in range(12)]
    now = pos.distributor_cells("dist-1", keys)
    plan = a_plan(second, head, "1.00", cells=12)
    plan.cells = [replace(now[k], amount=now[k].amount + 1, quantity=now[k].quantity + 1,
                          parts={"PN-1": (now[k].amount + 1, now[k].quantity + 1)}) for k in keys]  # fmt: skip
    plan.before = dict(now)
    plan.slots, plan.unmatched_slots = pos.commit_slots("dist-1", keys, [])
    second.status, second.slice = "done", 1
    assert plan.chunk_count() == 3 and pos.commit_run(plan, second, expected_slice=0)
    # Then each total and slice counts both, once, to the cent
    totals = [a.amount for n in range(12) for a in plan_store.actuals_of_account(f"acct-{n}", 2026, 4)]
    assert totals == [Decimal("2.25")] * 12
    parts = plan_store.actual_breakdown("acct-7", 2026, 4, "USD")
    assert [(b.dimension, b.value, b.amount) for b in parts] == [
        ("distributor", "dist-1", Decimal("2.25")), ("part", "PN-1", Decimal("2.25"))]  # fmt: skip
    assert [a.amount for a in plan_store.actuals_of_year(2026) if a.account_id == "acct-3"] == [
        Decimal("2.25")
    ]


def test_a_chunked_commit_moving_more_than_one_item_could_list_keeps_its_marker_small(
    store_backend: StoreBackend,
) -> None:
    """A run's commit marker once listed every account-quarter the run moved, in one item: past about
    10,000 of them it reached DynamoDB's 400 KB. Now it lists the last chunk's, and each earlier chunk
    writes a page item with its own transaction. Account ids as long as the actuals' index allows (its
    sort key holds 1 KiB) reach that limit with 430 account-quarters (430 writes, 5 transactions)
    instead of about 10,000 (moto copies its tables on every transaction)."""
    from shared.store.items import MAX_ITEM_BYTES, item_bytes
    from shared.store.plan import commit_marker_key, touched_json

    pos, plan_store = pos_and_plan(store_backend)
    run = a_run()
    pos.create_run(run)
    head = pos.lock_ledger("dist-1", run.run_id)
    plan = a_plan(run, head, "0.01", cells=430)
    long_id = "acct-{:03d}-" + "x" * 950
    plan.totals = [replace(d, account_id=long_id.format(n)) for n, d in enumerate(plan.totals)]
    plan.cells = []  # the totals alone move the account-quarters: half the writes
    # Given a commit whose account-quarters would not fit one item
    assert len(touched_json(plan.touched()).encode()) > MAX_ITEM_BYTES
    # When it is committed
    run.status, run.slice = "done", 1
    assert pos.commit_run(plan, run, expected_slice=0)
    # Then it counts, to the cent
    assert [a.amount for a in plan_store.actuals_of_account(long_id.format(429), 2026, 4)] == [
        Decimal("0.01")
    ]
    # And its marker and pages are each far under the limit and list, together, every account-quarter once
    if store_backend.is_dynamo:
        answer = store_backend.dynamodb().query(
            TableName=store_backend.template.table_name("PlanTable"),  # type: ignore[union-attr]
            KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": commit_marker_key(run.token)[0]}},
            ConsistentRead=True,
        )  # fmt: skip
        items = answer["Items"]
        assert "LastEvaluatedKey" not in answer
        texts = {i["sk"]["S"]: (i["touched"]["S"], i.get("pages", {}).get("N")) for i in items}
        sizes = [item_bytes(i) for i in items]
    else:
        kept = plan_store.pos_commits[run.token]
        texts = {i.sk: (i.touched, str(getattr(i, "pages", None))) for i in kept}  # type: ignore[attr-defined]
        sizes = [item_bytes(i.serialize()) for i in kept]
    assert len(texts) == 5 and texts["COMMIT"][1] == "4"
    assert max(sizes) < MAX_ITEM_BYTES // 2
    listed: dict[str, list[list[int]]] = {}
    for text, _pages in texts.values():
        for account, periods in json.loads(text).items():
            listed.setdefault(account, [])
            listed[account] += [p for p in periods if p not in listed[account]]
    assert listed == plan.touched()


def test_a_chunked_commits_page_items_expire_and_its_marker_stays(
    store_backend: StoreBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page items are read once, when plan_rollup handles the marker's stream record (kept 24 hours), so
    they carry a TTL; the marker decides for as long as its run's staged values stay whether they count."""
    import time

    from shared.store import pos as pos_module
    from shared.store.plan import commit_marker_key

    monkeypatch.setattr(pos_module, "COMMIT_CHUNK", 9)  # 24 writes: three chunks, two pages
    pos, plan_store = pos_and_plan(store_backend)
    run = a_run()
    pos.create_run(run)
    head = pos.lock_ledger("dist-1", run.run_id)
    run.status, run.slice = "done", 1
    # When a commit of three chunks is applied
    assert pos.commit_run(a_plan(run, head, "1.25", cells=12), run, expected_slice=0)
    # Then its two page items expire 30 days on (epoch seconds, the table's TTL attribute), its marker never
    if store_backend.is_dynamo:
        items = store_backend.dynamodb().query(
            TableName=store_backend.template.table_name("PlanTable"),  # type: ignore[union-attr]
            KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": commit_marker_key(run.token)[0]}},
            ConsistentRead=True,
        )["Items"]  # fmt: skip
        expiry = {i["sk"]["S"]: int(i["expires_at"]["N"]) if "expires_at" in i else None for i in items}
    else:
        kept = plan_store.pos_commits[run.token]
        expiry = {
            i.sk: int(i.expires_at.timestamp()) if getattr(i, "expires_at", None) else None for i in kept
        }
    assert expiry.pop("COMMIT") is None
    assert sorted(expiry) == ["TOUCHED#00000", "TOUCHED#00001"]
    days = [(at - time.time()) / 86400 for at in expiry.values()]
    assert all(29.9 < d <= 30 for d in days), days
