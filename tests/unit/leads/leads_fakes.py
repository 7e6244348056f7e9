"""In-memory stand-ins for the leads storage, the rate limit and the CRM's rep records (thread-safe, like the real ones)."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, date, datetime

from leads_webhook.intake import KnownPerson, LeadServices, WriteResult
from leads_webhook.records import OPEN_STATUSES, StoredLead, SubmissionRecord
from leads_webhook.routing import InMemoryRotationRepository

from shared.config_schemas.leads import LeadsConfig, default_leads_config
from shared.config_schemas.routing import RoutingConfig
from shared.leads import lead_id_for
from shared.signing import StaticSourceSecrets
from shared.store.crm import AwayPeriod, Rep


class InMemoryLeadRepository:
    def __init__(self) -> None:
        self.leads: dict[str, StoredLead] = {}
        self.submissions: dict[tuple[str, str], SubmissionRecord] = {}
        self.aliases: dict[str, str] = {}  # email key -> lead id (an email change)
        self.suppressed: dict[str, str] = {}  # email key -> unsubscribed / cleaned
        self._lock = threading.Lock()

    def create(self, lead: StoredLead, submission: SubmissionRecord) -> WriteResult:
        with self._lock:
            if (lead.lead_id, submission.submission_id) in self.submissions:
                return WriteResult.SUBMISSION_EXISTS
            if lead.lead_id in self.leads:
                return WriteResult.LEAD_EXISTS
            self.leads[lead.lead_id] = lead
            self.submissions[(lead.lead_id, submission.submission_id)] = submission
            return WriteResult.DONE

    def update(self, lead, *, expected_version, submission=None, previous=None):
        with self._lock:
            if submission is not None and (lead.lead_id, submission.submission_id) in self.submissions:
                return WriteResult.SUBMISSION_EXISTS
            current = self.leads.get(lead.lead_id)
            if current is None or current.version != expected_version:
                return WriteResult.VERSION_CONFLICT
            self.leads[lead.lead_id] = lead
            if submission is not None:
                self.submissions[(lead.lead_id, submission.submission_id)] = submission
            return WriteResult.DONE

    def add_submission(self, submission):
        with self._lock:
            key = (submission.lead_id, submission.submission_id)
            if key in self.submissions:
                return WriteResult.SUBMISSION_EXISTS
            self.submissions[key] = submission
            return WriteResult.DONE

    def get(self, lead_id):
        with self._lock:
            return self.leads.get(lead_id)

    def lead_id_for_email(self, email_key):
        with self._lock:
            return self.aliases.get(email_key) or lead_id_for(email_key)

    def suppression(self, email_key):
        with self._lock:
            return self.suppressed.get(email_key)

    def read_people(self, email_keys, *, remaining_ms=None):
        found = {}
        for key in email_keys:
            lead_id = self.lead_id_for_email(key)
            found[key] = KnownPerson(lead_id, self.get(lead_id), self.suppression(key))
        return found

    def create_many(self, new):
        return [self.create(lead, submission) for lead, submission in new]

    def get_submission(self, lead_id, submission_id):
        with self._lock:
            return self.submissions.get((lead_id, submission_id))

    def history(self, lead_id):
        with self._lock:
            found = [s for (lid, _), s in self.submissions.items() if lid == lead_id]
        return sorted(found, key=lambda s: (s.received_at, s.submission_id))

    def quarantined(self, limit=100):
        with self._lock:
            return sorted((x for x in self.leads.values() if x.quarantined), key=lambda x: x.created_at)[
                :limit
            ]

    def recent(self, limit=100):
        with self._lock:
            found = sorted((x for x in self.leads.values() if not x.quarantined), key=lambda x: x.created_at)
        return found[::-1][:limit]

    def open_leads(self, rep_id):
        with self._lock:
            return sum(1 for x in self.leads.values() if x.owner == rep_id and x.status in OPEN_STATUSES)


class InMemoryRateLimiter:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = defaultdict(int)
        self._lock = threading.Lock()

    def allow(self, key, *, limit, window_seconds, now):
        window = int(now.timestamp()) // window_seconds
        with self._lock:
            self.counts[(key, window)] += 1
            return self.counts[(key, window)] <= limit


class Clock:
    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


ALWAYS = ((date.min, date.max),)  # out of office on every day


def crm_rep(rep_id: str, *, out_of_office: tuple[tuple[date, date], ...] = (), **fields) -> Rep:
    """A CRM rep record (what routing reads: email, capacity, out-of-office periods)."""
    away = tuple(AwayPeriod(start=start, end=end) for start, end in out_of_office)
    data = {"rep_id": rep_id, "name": rep_id.title(), "email": f"{rep_id}@example.com", **fields}
    return Rep(**data, out_of_office=away)


class InMemoryReps:
    """The CRM's rep records, in a dict, counting batch reads (`CrmStore.get_reps`'s semantics)."""

    def __init__(self, *reps: Rep) -> None:
        self.reps = {r.rep_id: r for r in reps}
        self.reads = 0

    def get_reps(self, rep_ids):
        self.reads += 1
        return {i: self.reps[i] for i in rep_ids if i in self.reps}

    def with_reps(self, *reps: Rep) -> InMemoryReps:
        return InMemoryReps(*self.reps.values(), *reps)


REPS = InMemoryReps(*(crm_rep(name) for name in ("alice", "bob", "erin")))

ROUTING = {
    "pools": {"p": {"members": [{"rep": "alice", "weight": 1}, {"rep": "bob", "weight": 1}]}},
    "rules": [
        {"id": "de", "when": {"country": "DE"}, "rep": "erin"},
        {"id": "us", "when": {"country": "US"}, "pool": "p"},
    ],
    "fallback": {"queue": "unassigned"},
}


def services(
    *,
    routing: dict | None = None,
    reps: InMemoryReps | None = None,
    leads_config: LeadsConfig | None = None,
    secrets: dict | None = None,
) -> LeadServices:
    routing_config = RoutingConfig.model_validate(routing or ROUTING)
    config = leads_config or default_leads_config()
    return LeadServices(
        leads=InMemoryLeadRepository(),
        rotation=InMemoryRotationRepository(),
        rate_limiter=InMemoryRateLimiter(),
        leads_config=lambda: config,
        routing_config=lambda: routing_config,
        reps=reps or REPS,
        secrets=StaticSourceSecrets(secrets or {"landing-co": ["s3cret-new", "s3cret-old"]}),
        clock=Clock(),
    )
