"""The CRM store's contract (``shared.store.crm``), the same on memory, moto and DynamoDB Local."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.store.errors import Conflict, StoreError, Throttled
from tests.contract.conftest import StoreBackend
from tests.contract.support import ABOUT_100_KB, OVER_400_KB, race

CREATED = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


def a_lead(lead_id: str = "lead-1", **fields: Any) -> Any:
    from shared.store.crm import Lead

    return Lead(lead_id=lead_id, email=f"{lead_id}@example.com", created_at=CREATED, **fields)


def a_submission(lead_id: str = "lead-1", n: int = 0, **fields: Any) -> Any:
    from shared.store.crm import LeadSubmission

    fields = {"source": "web_form", "outcome": "created", **fields}
    return LeadSubmission(
        submission_id=f"sub-{n:03d}", lead_id=lead_id, received_at=CREATED + timedelta(seconds=n), **fields
    )


def version(minute: int, event_id: str = "e") -> Any:
    from shared.store.common import Version

    return Version(CREATED + timedelta(minutes=minute), f"{event_id}{minute:02d}")


def test_a_lead_is_created_once_and_a_submission_recorded_once(store_backend: StoreBackend) -> None:
    from shared.store.crm import LeadExists, SubmissionExists

    crm = store_backend.store("crm")
    crm.create_lead(a_lead(), a_submission(n=0))

    # When the same person is created again (a new submission), and a submission is repeated
    with pytest.raises(LeadExists):
        crm.create_lead(a_lead(first_name="Other"), a_submission(n=1))
    with pytest.raises(SubmissionExists):
        crm.add_lead_submission(a_submission(n=0))

    # Then the lead is the first one, with its one submission; both refusals are Conflicts
    assert issubclass(LeadExists, Conflict) and issubclass(SubmissionExists, Conflict)
    lead = crm.get_lead("lead-1")
    assert lead is not None and lead.first_name is None
    assert [s.submission_id for s in crm.lead_submissions("lead-1")] == ["sub-000"]


def test_racing_intakes_of_one_person_create_exactly_one_lead(store_backend: StoreBackend) -> None:
    from shared.store.crm import LeadExists

    crm = store_backend.store("crm")

    # When eight submissions of one new person arrive at once
    raced = race(8, lambda i: crm.create_lead(a_lead(first_name=f"Name{i}"), a_submission(n=i)))

    # Then exactly one creates the lead (with its submission); the others are told it exists
    assert len(raced.values()) == 1
    assert len(raced.raised(LeadExists)) == 7
    [winner] = raced.values()
    lead = crm.get_lead("lead-1")
    assert lead is not None and lead.first_name == winner.first_name
    assert len(crm.lead_submissions("lead-1")) == 1


def test_racing_updates_of_one_lead_version_exactly_one_wins(store_backend: StoreBackend) -> None:
    crm = store_backend.store("crm")
    crm.create_lead(a_lead(), a_submission())
    read = crm.get_lead("lead-1")
    assert read is not None

    # When eight writers, each having read the same version, assign the lead at once
    # (``status`` and ``source`` are DynamoDB reserved words)
    def assign(i: int) -> Any:
        changes = {"owner": f"rep-{i}", "status": "Working", "source": f"writer-{i}"}
        return crm.update_lead("lead-1", changes, expected_version=read.version)

    raced = race(8, assign)

    # Then exactly one wins; the others get a Conflict; the lead moved on by one version
    assert len(raced.values()) == 1
    assert len(raced.raised(Conflict)) == 7
    [winner] = raced.values()
    stored = crm.get_lead("lead-1")
    assert stored is not None
    assert (stored.owner, stored.status, stored.version) == (winner.owner, "Working", read.version + 1)
    assert crm.open_lead_count(winner.owner) == 1
    assert [lead.lead_id for lead in crm.leads_of_owner(winner.owner, open_only=True)] == ["lead-1"]


def test_an_update_on_a_stale_version_is_a_conflict(store_backend: StoreBackend) -> None:
    crm = store_backend.store("crm")
    crm.create_lead(a_lead(), a_submission())
    read = crm.get_lead("lead-1")
    assert read is not None
    crm.update_lead("lead-1", {"status": "Working"}, expected_version=read.version)

    with pytest.raises(Conflict):
        crm.update_lead("lead-1", {"status": "Lost"}, expected_version=read.version)
    stored = crm.get_lead("lead-1")
    assert stored is not None and stored.status == "Working"


def test_a_lead_over_400_kb_is_refused(store_backend: StoreBackend) -> None:
    crm = store_backend.store("crm")

    # When a lead too big for one item is created
    # Then it is refused as a StoreError (not a crash, not a retryable Throttled), and nothing is kept
    with pytest.raises(StoreError) as refused:
        crm.create_lead(a_lead(message=OVER_400_KB), a_submission())
    assert not isinstance(refused.value, Throttled | Conflict)
    assert crm.get_lead("lead-1") is None
    assert crm.lead_submissions("lead-1") == []


def test_an_update_growing_a_lead_over_400_kb_is_refused(store_backend: StoreBackend) -> None:
    crm = store_backend.store("crm")
    crm.create_lead(a_lead(message="short"), a_submission())
    read = crm.get_lead("lead-1")
    assert read is not None

    with pytest.raises(StoreError) as refused:
        crm.update_lead("lead-1", {"message": OVER_400_KB}, expected_version=read.version)

    assert not isinstance(refused.value, Throttled | Conflict)
    stored = crm.get_lead("lead-1")
    assert stored is not None
    assert (stored.message, stored.version) == ("short", read.version)


def test_a_submission_history_beyond_one_page_is_read_whole(store_backend: StoreBackend) -> None:
    crm = store_backend.store("crm")
    crm.create_lead(a_lead(), a_submission(n=0))

    # Given twelve more submissions of about 100 KB each (over 1 MB in the lead's partition)
    for n in range(1, 13):
        crm.add_lead_submission(a_submission(n=n, outcome="merged", fields={"message": ABOUT_100_KB}))

    # When the history is read
    history = crm.lead_submissions("lead-1")

    # Then every submission comes back, oldest first, whole
    assert [s.submission_id for s in history] == [f"sub-{n:03d}" for n in range(13)]
    assert history[-1].fields["message"] == ABOUT_100_KB


def test_a_rep_is_written_only_by_a_newer_event(store_backend: StoreBackend) -> None:
    from shared.store.common import Outcome
    from shared.store.crm import Rep

    crm = store_backend.store("crm")
    rep = Rep(rep_id="rep-1", name="Ada", email="ada@example.com", capacity=5)

    newer = crm.upsert_rep(rep.model_copy(update={"name": "Ada L."}), version(5))
    older = crm.upsert_rep(rep, version(1))
    again = crm.upsert_rep(rep.model_copy(update={"name": "Ada L."}), version(5))

    assert (newer, older, again) == (Outcome.APPLIED, Outcome.STALE, Outcome.DUPLICATE)
    stored = crm.get_rep("rep-1")
    assert stored is not None and stored.name == "Ada L."


def test_racing_events_for_one_rep_leave_the_newest(store_backend: StoreBackend) -> None:
    from shared.store.common import Outcome
    from shared.store.crm import Rep

    crm = store_backend.store("crm")

    # When eight events for one rep, each at its own time, are applied at once
    raced = race(8, lambda i: crm.upsert_rep(Rep(rep_id="rep-1", name=f"v{i}", capacity=i), version(i)))

    # Then the newest event's values are stored, whatever the order they landed in
    assert raced.errors == [None] * 8
    assert set(raced.results) <= {Outcome.APPLIED, Outcome.STALE}
    stored = crm.get_rep("rep-1")
    assert stored is not None and (stored.name, stored.capacity) == ("v7", 7)
    assert [r.rep_id for r in crm.list_reps()] == ["rep-1"]


def test_many_people_are_read_at_once_with_their_aliases_and_suppressions(
    store_backend: StoreBackend,
) -> None:
    from shared.leads import lead_id_for
    from shared.store.crm import Lead, Suppression

    crm = store_backend.store("crm")
    # Given 120 addresses (more than one BatchGetItem's 100 keys): one with a lead, one an alias of
    # that lead, one unsubscribed before it had a person
    known = lead_id_for("known@example.com")
    crm.create_lead(Lead(lead_id=known, email="known@example.com", created_at=CREATED), a_submission(known))
    assert crm.add_email_alias("moved@example.com", known)
    crm.record_suppression(Suppression(email="gone@example.com", status="unsubscribed", at=CREATED))
    others = [f"new{i}@example.com" for i in range(117)]

    # When they are read together (one address written twice, in another case)
    people = crm.read_people(
        ["KNOWN@example.com", "moved@example.com", "gone@example.com", *others, "known@example.com"]
    )

    # Then each address is read once, by its email key, as read_person reads it
    assert len(people) == 120
    assert people["known@example.com"].lead is not None and people["known@example.com"].lead_id == known
    assert people["moved@example.com"].lead_id == known and people["moved@example.com"].lead is not None
    gone = people["gone@example.com"]
    assert gone.lead is None and gone.suppression is not None and gone.suppression.suppressed
    assert all(people[e].lead is None and people[e].lead_id == lead_id_for(e) for e in others)
    assert people["new5@example.com"] == crm.read_person("new5@example.com")


def test_many_new_leads_are_created_in_one_write_each_refusal_alone(store_backend: StoreBackend) -> None:
    from shared.store.crm import LeadExists, SubmissionExists

    crm = store_backend.store("crm")
    crm.create_lead(a_lead("lead-3"), a_submission("lead-3", n=99))
    crm.create_lead(a_lead("lead-9"), a_submission("lead-9", n=0))

    # When 60 new leads are created together (two transactions), one of them existing already and
    # one carrying a submission recorded before (a retried import)
    new = [(a_lead(f"lead-{i}"), a_submission(f"lead-{i}", n=i)) for i in range(60)]
    new[9] = (a_lead("lead-9", first_name="Again"), a_submission("lead-9", n=0))
    refused = crm.create_leads(new)

    # Then every other lead is written with its submission, and the two are told why not
    assert isinstance(refused[3], LeadExists) and isinstance(refused[9], SubmissionExists)
    assert [i for i, r in enumerate(refused) if r is not None] == [3, 9]
    assert all(crm.get_lead(f"lead-{i}") is not None for i in range(60))
    assert crm.get_lead("lead-9").first_name is None  # type: ignore[union-attr]
    assert [s.submission_id for s in crm.lead_submissions("lead-3")] == ["sub-099"]
    assert len(crm.lead_submissions("lead-42")) == 1
