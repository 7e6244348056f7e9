"""The trade-show import's batches with the in-memory stand-ins: the rotation's turns claimed a block at a time
(the weighted order kept, the unused turns given back), and a person twice in one list is one lead."""

from __future__ import annotations

from collections import Counter

from leads_webhook.imports import ReservedRotation, import_digests, import_rows
from leads_webhook.routing import InMemoryRotationRepository

from tests.unit.leads.leads_fakes import services


class CountingRotation(InMemoryRotationRepository):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def advance(self, pool_id: str, expected: int, new: int) -> bool:
        self.writes += 1
        return super().advance(pool_id, expected, new)


def _us_list(people: int) -> bytes:
    rows = [f"p{n}@example.com,P{n},US" for n in range(people)]
    return ("Email,First Name,Country\n" + "\n".join(rows) + "\n").encode()


def test_pool_turns_are_claimed_in_blocks_in_order_and_the_rest_given_back():
    svc = services()
    svc.rotation = rotation = CountingRotation()
    # When 300 people of the alice/bob pool are imported on 8 threads
    run = import_rows(_us_list(300), key="imports/leads/us.csv", etag="e", services=svc)
    # Then the pool alternates exactly, the stored turn is where the last lead left it, with a handful of writes
    owners = Counter(r.owner for r in run.results)
    assert owners == {"alice": 150, "bob": 150}
    assert rotation.turns["p"] == 300
    assert rotation.writes <= 300 // 64 + 2


def test_a_block_raced_by_another_writer_is_claimed_again_from_the_stored_turn():
    base = InMemoryRotationRepository()
    reserved = ReservedRotation(base, block=10)
    assert reserved.advance("p", reserved.current_turn("p"), 1)  # claims turns up to 11 in one write
    assert base.turns["p"] == 11
    assert base.advance("p", 11, 12)  # a form post elsewhere takes turn 11
    assert reserved.advance("p", reserved.current_turn("p"), 2)  # within the block: no write
    assert not reserved.advance("p", 2, 12)  # past the block, raced: read again
    turn = reserved.current_turn("p")
    assert turn == 12 and reserved.advance("p", turn, 13)
    reserved.give_back()
    assert base.turns["p"] == 13


def test_a_person_twice_in_one_list_is_one_lead_merged_by_the_second_row():
    svc = services()
    data = b"Email,First Name,Country,Title\nann@example.com,Ann,DE,\nbo@example.com,Bo,DE,\nANN@example.com,Ann,DE,CTO\n"
    run = import_rows(data, key="imports/leads/twice.csv", etag="e", services=svc)
    assert [(r.row, r.outcome) for r in run.results] == [(2, "created"), (3, "created"), (4, "merged")]
    assert run.results[0].lead_id == run.results[2].lead_id
    assert len(svc.leads.leads) == 2
    assert svc.leads.leads[run.results[0].lead_id].title == "CTO"


def test_an_import_run_again_after_a_crash_announces_the_same_leads_to_the_same_reps():
    from datetime import UTC, datetime

    svc = services()
    now = datetime(2026, 12, 2, tzinfo=UTC)
    # Given an import that wrote every lead, then died before its digests (the retry finds every row done)
    first = import_rows(_us_list(120), key="imports/leads/us.csv", etag="e", services=svc)
    again = import_rows(_us_list(120), key="imports/leads/us.csv", etag="e", services=svc)
    assert {r.outcome for r in again.results} == {"created"}  # a repeat answers its first outcome
    # Then the retry's digests are the first run's: each rep, each of their leads, with the list's names
    digests = import_digests(again, key="imports/leads/us.csv", etag="e", now=now)
    assert digests == import_digests(first, key="imports/leads/us.csv", etag="e", now=now)
    assert {d.rep_id: d.count for d in digests} == {"alice": 60, "bob": 60}
    assert digests[0].leads[0] == {"lead_id": first.results[0].lead_id, "email": "p0@example.com",
                                   "first_name": "P0", "country": "US"}  # fmt: skip


def test_a_new_lead_is_one_item_written_and_a_redelivered_list_writes_none():
    from leads_webhook.storage import StoreLeadRepository

    from shared.store.crm import InMemoryCrmStore

    store = InMemoryCrmStore()
    svc = services()
    svc.leads = StoreLeadRepository(store)
    # When a list of 250 new people is imported, then delivered again (the same object: key and ETag)
    first = import_rows(_us_list(250), key="imports/leads/us.csv", etag="e", services=svc)
    written = store.writes
    again = import_rows(_us_list(250), key="imports/leads/us.csv", etag="e", services=svc)
    # Then each new lead is one item written (the lead, its first submission kept on it; was two), and the
    # redelivery answers every row as the first time without writing anything
    assert Counter(r.outcome for r in first.results) == {"created": 250}
    assert written == 250
    assert store.writes == written
    assert [(r.outcome, r.lead_id) for r in again.results] == [(r.outcome, r.lead_id) for r in first.results]
    assert all("already imported" in r.reason for r in again.results)
    assert all(len(store.lead_submissions(r.lead_id)) == 1 for r in first.results)
