"""Lead intake: one submission in, one lead per person out, routed with a reason, spam in quarantine.

`receive_lead_post` is the whole of `POST /leads` apart from the HTTP event (413, 415, 401, 429, 422, 202);
`accept_submission` is the part every path shares: form posts, trade-show rows and quarantine releases.
Storage, the rate limit and the rotation are behind small interfaces (`LeadRepository`, `RateLimiter`,
`leads_webhook.routing.RotationRepository`), implemented on DynamoDB in `leads_webhook.storage` and by fakes in
the unit tests.

Exactly once: each submission has an id derived from what was sent (source, body, UTC day; or the sender's
`Idempotency-Key`), and its history item is written in the same transaction as the lead, on condition that
it does not exist yet. A request delivered twice therefore changes the lead once and answers the same
`lead_id`; no separate idempotency record is needed.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from leads_webhook.records import (
    STATUS_NEW,
    Outcome,
    StoredLead,
    SubmissionRecord,
    lead_id_for,
    merge_lead,
    new_lead,
    submission_record,
)
from leads_webhook.routing import Assignment, RepDirectory, RepWorkload, RotationRepository, route_lead
from leads_webhook.spam import classify_spam
from leads_webhook.submission import (
    LeadSubmission,
    NormalisedLead,
    UnsupportedMediaTypeError,
    normalise_lead,
)
from leads_webhook.web import ACCEPTED_TYPES, parse_post_body
from shared.config_schemas.leads import LeadsConfig
from shared.config_schemas.routing import RoutingConfig
from shared.leads import email_key
from shared.signing import (
    SIGNATURE_HEADER,
    SOURCE_HEADER,
    SignatureError,
    SourceSecrets,
    check_source_name,
    header_value,
    verify_signature,
)
from shared.validation import FieldError

WEB_FORM_SOURCE = "web_form"
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_WRITE_ATTEMPTS = 20


class WriteResult(enum.Enum):
    DONE = "done"
    LEAD_EXISTS = "lead_exists"  # create: the email already has a lead
    VERSION_CONFLICT = "version_conflict"  # update: someone changed the lead since we read it
    SUBMISSION_EXISTS = "submission_exists"  # this very submission was recorded before


class LeadRepository(Protocol):
    """Where leads and their submission history live."""

    def create(self, lead: StoredLead, submission: SubmissionRecord) -> WriteResult:
        """Lead and first submission together, only if neither exists."""
        ...

    def update(
        self,
        lead: StoredLead,
        *,
        expected_version: int,
        submission: SubmissionRecord | None = None,
        previous: StoredLead | None = None,
    ) -> WriteResult:
        """Replace the lead if its version is still `expected_version`, adding `submission` with it.

        `previous`, the lead as read, lets the storage write only what changed."""
        ...

    def add_submission(self, submission: SubmissionRecord) -> WriteResult:
        """A submission kept in the history without changing the lead (a spam repeat)."""
        ...

    def create_many(self, new: Sequence[tuple[StoredLead, SubmissionRecord]]) -> list[WriteResult]:
        """``create`` of many new leads in as few writes as the storage allows; each lead's conditions hold
        as in ``create``, and one refused lead does not keep the others out."""
        ...

    def get(self, lead_id: str) -> StoredLead | None: ...

    def read_people(
        self, email_keys: Sequence[str], *, remaining_ms: Callable[[], int] | None = None
    ) -> Mapping[str, KnownPerson]:
        """What ``lead_id_for_email``, ``get`` and ``suppression`` would read of many addresses, in a few
        batch reads; the next ``accept_submission`` of one of them (on this thread) reads nothing again."""
        ...

    def lead_id_for_email(self, email_key: str) -> str:
        """The lead an address reaches: the person's lead after an email change, else the address's own id."""
        ...

    def suppression(self, email_key: str) -> str | None:
        """MailChimp's ``unsubscribed`` / ``cleaned`` for an address that had no lead yet, if one was kept."""
        ...

    def get_submission(self, lead_id: str, submission_id: str) -> SubmissionRecord | None: ...

    def history(self, lead_id: str) -> list[SubmissionRecord]: ...

    def quarantined(self, limit: int = 100) -> list[StoredLead]: ...

    def open_leads(self, rep_id: str) -> int:
        """How many open leads `rep_id` owns (the routing's capacity check)."""
        ...


@dataclass(frozen=True)
class KnownPerson:
    """An address as stored: the lead it reaches (id, and the lead when there is one), and MailChimp's
    ``unsubscribed`` / ``cleaned`` kept for it before it had a lead."""

    lead_id: str
    lead: StoredLead | None
    suppressed: str | None = None


class RateLimiter(Protocol):
    def allow(self, key: str, *, limit: int, window_seconds: int, now: datetime) -> bool:
        """Count one request for `key` in the current window; False once past `limit`."""
        ...


@dataclass
class LeadServices:
    """What the intake needs from the outside world; the handler builds it once per container."""

    leads: LeadRepository
    rotation: RotationRepository
    rate_limiter: RateLimiter
    leads_config: Callable[[], LeadsConfig]
    routing_config: Callable[[], RoutingConfig]
    reps: RepDirectory  # the CRM's rep records: email, capacity, out of office
    secrets: SourceSecrets | None = None
    workload: RepWorkload | None = None  # open-lead counts for capacity; the lead repository when None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Accepted:
    lead_id: str
    outcome: Outcome
    assignment: Assignment | None = None
    repeat_delivery: bool = False
    quarantine_reasons: tuple[str, ...] = ()
    owner: str | None = None  # a repeat delivery: the lead's rep owner as read (no assignment is made)
    owner_email: str | None = None  # ... and the address routing gave with that owner, if any


class LeadWriteConflictError(RuntimeError):
    """The lead kept changing under us; the caller's retry (or the client's) will get it."""


# -------------------------------------------------------------------------------------- shared core


def accept_submission(
    submission: LeadSubmission,
    services: LeadServices,
    *,
    source: str,
    submission_id: str,
    now: datetime | None = None,
    config: LeadsConfig | None = None,
) -> Accepted:
    """Store a valid submission as a new lead or merged into the person's lead, and route it if due."""
    at = now or services.clock()
    config = config or services.leads_config()
    lead, quarantine = _screened(submission, config, at)
    # One lead per person: an address the person moved to (an email change) reaches their lead.
    lead_id = services.leads.lead_id_for_email(lead.email_key)

    def record(outcome: Outcome) -> SubmissionRecord:
        return submission_record(
            lead, lead_id=lead_id, source=source, at=at, outcome=outcome, quarantine=quarantine,
            submission_id=submission_id,
        )  # fmt: skip

    for _ in range(MAX_WRITE_ATTEMPTS):
        existing = services.leads.get(lead_id)
        if existing is None:
            known = KnownPerson(lead_id, None, services.leads.suppression(lead.email_key))
            new = _new(
                lead, quarantine, services, source=source, submission_id=submission_id, now=at, known=known
            )
            result = services.leads.create(new.lead, new.submission)
            if result is WriteResult.DONE:
                return new.created(services)
            if result is WriteResult.SUBMISSION_EXISTS:
                return _already_recorded(lead_id, submission_id, services, at)
            continue  # someone created this person's lead meanwhile: read it and merge
        if quarantine:
            # A spam repeat is kept in the history; the lead itself is not touched.
            added = services.leads.add_submission(record("quarantined"))
            if added is WriteResult.SUBMISSION_EXISTS:
                return _already_recorded(lead_id, submission_id, services, at, existing)
            return Accepted(lead_id, "quarantined", quarantine_reasons=quarantine)
        merged = merge_lead(existing, lead, at=at)
        if existing.quarantined:
            # A clean submission from the same person: the lead leaves quarantine and is routed.
            merged = merged.model_copy(update={"quarantined": False, "status": STATUS_NEW})
        assignment = None
        if merged.needs_routing:
            merged, assignment = _routed(merged, services, at)
        result = services.leads.update(
            merged, expected_version=existing.version, submission=record("merged"), previous=existing
        )
        if result is WriteResult.DONE:
            _note_assigned(services, assignment)
            return Accepted(lead_id, "merged", assignment)
        if result is WriteResult.SUBMISSION_EXISTS:
            return _already_recorded(lead_id, submission_id, services, at, existing)
    raise LeadWriteConflictError(f"lead {lead_id}: too many concurrent changes")


def _screened(
    submission: LeadSubmission, config: LeadsConfig, at: datetime
) -> tuple[NormalisedLead, tuple[str, ...]]:
    """The submission as a lead's details, and why it goes to quarantine (nothing when clean)."""
    return normalise_lead(submission, config), classify_spam(submission, config.spam, now=at).reasons


@dataclass(frozen=True)
class NewPerson:
    """A new person's lead, routed and ready to write with its first submission (not written yet)."""

    lead: StoredLead
    submission: SubmissionRecord
    assignment: Assignment | None
    quarantine: tuple[str, ...]

    def created(self, services: LeadServices) -> Accepted:
        """What the intake answers once the lead is written."""
        _note_assigned(services, self.assignment)
        outcome: Outcome = "quarantined" if self.quarantine else "created"
        return Accepted(self.lead.lead_id, outcome, self.assignment, quarantine_reasons=self.quarantine)


def new_person(
    submission: LeadSubmission,
    services: LeadServices,
    *,
    source: str,
    submission_id: str,
    now: datetime,
    config: LeadsConfig,
    known: KnownPerson,
) -> NewPerson:
    """The lead of an address that has none (``known.lead`` is None): routed before the write, so the lead is
    stored with its owner in one write. An unsubscribe that came before the person did is applied now."""
    lead, quarantine = _screened(submission, config, now)
    return _new(lead, quarantine, services, source=source, submission_id=submission_id, now=now, known=known)


def _new(
    lead: NormalisedLead,
    quarantine: tuple[str, ...],
    services: LeadServices,
    *,
    source: str,
    submission_id: str,
    now: datetime,
    known: KnownPerson,
) -> NewPerson:
    fresh = new_lead(
        lead, source=source, at=now, quarantine=quarantine, lead_id=known.lead_id, suppressed=known.suppressed
    )
    assignment = None
    if not quarantine:
        fresh, assignment = _routed(fresh, services, now)
    outcome: Outcome = "quarantined" if quarantine else "created"
    record = submission_record(
        lead, lead_id=known.lead_id, source=source, at=now, outcome=outcome, quarantine=quarantine,
        submission_id=submission_id,
    )  # fmt: skip
    return NewPerson(fresh, record, assignment, quarantine)


def _already_recorded(
    lead_id: str, submission_id: str, services: LeadServices, at: datetime, lead: StoredLead | None = None
) -> Accepted:
    """A repeat delivery: answer as the first time; finish the routing if the first delivery stopped short."""
    lead = lead or services.leads.get(lead_id)
    assignment = None
    if lead is not None and lead.needs_routing:
        assignment = assign_lead(lead, services, now=at)
    first = services.leads.get_submission(lead_id, submission_id)
    outcome: Outcome = first.outcome if first is not None else "merged"
    reasons = first.quarantine_reasons if first is not None else ()
    owner = lead.owner if lead is not None else None
    stored = (lead.assignment or {}) if lead is not None else {}
    owner_email = stored.get("owner_email") if owner and stored.get("owner") == owner else None
    return Accepted(
        lead_id, outcome, assignment, repeat_delivery=True, quarantine_reasons=reasons, owner=owner,
        owner_email=str(owner_email) if owner_email else None,
    )  # fmt: skip


def _routed(lead: StoredLead, services: LeadServices, now: datetime) -> tuple[StoredLead, Assignment]:
    """The lead with its owner and the stored reason (not written yet; the version is the caller's)."""
    routing = services.routing_config()
    workload = services.workload or services.leads
    assignment = route_lead(
        lead, routing, rotation=services.rotation, workload=workload, reps=services.reps, now=now
    )
    routed = lead.model_copy(
        update={
            "owner": assignment.owner if assignment.owner_type == "rep" else None,
            "assignment": stored_reason(assignment, now),
            "updated_at": max(now, lead.updated_at),
        }
    )
    return routed, assignment


def _note_assigned(services: LeadServices, assignment: Assignment | None) -> None:
    """Tell a counting workload (imports, what-if) that a rep has one more open lead."""
    note = getattr(services.workload, "note_assigned", None)
    if note is not None and assignment is not None and assignment.owner_type == "rep":
        note(assignment.owner)


def assign_lead(lead: StoredLead, services: LeadServices, *, now: datetime) -> Assignment | None:
    """Route a stored lead and store the owner with the reason; a lead someone else assigned meanwhile stays."""
    for _ in range(MAX_WRITE_ATTEMPTS):
        routed, assignment = _routed(lead, services, now)
        routed = routed.model_copy(update={"version": lead.version + 1})
        if services.leads.update(routed, expected_version=lead.version, previous=lead) is WriteResult.DONE:
            _note_assigned(services, assignment)
            return assignment
        current = services.leads.get(lead.lead_id)
        if current is None or not current.needs_routing:
            return None
        lead = current
    raise LeadWriteConflictError(f"lead {lead.lead_id}: could not store the assignment")


def stored_reason(assignment: Assignment, now: datetime) -> dict[str, Any]:
    """What the lead keeps of its assignment: the explanation, a sentence, and who to tell (the rep record's)."""
    reason = assignment.explanation() | {
        "summary": assignment.describe(), "why": assignment.why(), "at": now.isoformat()
    }  # fmt: skip
    if assignment.owner_name is not None:
        reason["owner_name"] = assignment.owner_name
    if assignment.owner_email is not None:
        reason["owner_email"] = assignment.owner_email
    return reason


def release_from_quarantine(lead_id: str, services: LeadServices) -> Assignment | None:
    """`hub leads quarantine release ID`: the lead leaves quarantine and is routed like any lead."""
    now = services.clock()
    for _ in range(MAX_WRITE_ATTEMPTS):
        lead = services.leads.get(lead_id)
        if lead is None:
            raise LookupError(f"no lead {lead_id}")
        if not lead.quarantined:
            raise ValueError(f"lead {lead_id} is not in quarantine")
        released = lead.model_copy(
            update={
                "quarantined": False,
                "status": STATUS_NEW,
                "version": lead.version + 1,
                "updated_at": now,
            }
        )
        if services.leads.update(released, expected_version=lead.version, previous=lead) is WriteResult.DONE:
            return assign_lead(released, services, now=now)
    raise LeadWriteConflictError(f"lead {lead_id}: could not release it")


# ------------------------------------------------------------------------------------- POST /leads


@dataclass(frozen=True)
class LeadPost:
    """What `POST /leads` received, taken out of the HTTP event."""

    body: bytes
    content_type: str | None
    source_ip: str
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    accepted: Accepted | None = None


def _errors(status: int, errors: list[FieldError], headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, {"errors": [e.as_dict() for e in errors]}, headers or {})


def submission_id_for(post: LeadPost, source: str, now: datetime) -> str:
    """The same request (same sender, same body, same UTC day), or the same Idempotency-Key, gives one id."""
    given = header_value(post.headers, IDEMPOTENCY_HEADER)
    digest = hashlib.sha256()
    if given:
        digest.update(f"key\0{source}\0{given.strip()[:200]}".encode())
    else:
        digest.update(f"body\0{source}\0{post.content_type or ''}\0{now.date().isoformat()}\0".encode())
        digest.update(post.body)
    return digest.hexdigest()[:32]


def authenticate(post: LeadPost, services: LeadServices, now: datetime) -> str:
    """The recorded source: `web_form`, or `signed:<source>` for a valid X-Hub-Signature (else 401)."""
    signature = header_value(post.headers, SIGNATURE_HEADER)
    claimed = header_value(post.headers, SOURCE_HEADER)
    if signature is None and claimed is None:
        return WEB_FORM_SOURCE
    if claimed is None:
        raise SignatureError(SignatureError.MALFORMED, f"{SOURCE_HEADER} header is required with a signature")
    source = check_source_name(claimed.strip())
    if services.secrets is None:
        raise SignatureError(SignatureError.UNKNOWN_SOURCE, source)
    verify_signature(signature, post.body, services.secrets.secrets_for(source), now=now.timestamp())
    return f"signed:{source}"


def receive_lead_post(post: LeadPost, services: LeadServices) -> Answer:
    """`POST /leads`: 413, 415, 401, 429, 422, or 202 with the lead's id."""
    now = services.clock()
    config = services.leads_config()
    if len(post.body) > config.max_body_bytes:
        return _errors(413, [FieldError("body", f"is larger than {config.max_body_bytes} bytes")])
    try:
        parsed = parse_post_body(post.body, post.content_type)
    except UnsupportedMediaTypeError as exc:
        message = f"{exc} is not accepted: send {ACCEPTED_TYPES}"
        return _errors(415, [FieldError("content-type", message)])
    try:
        source = authenticate(post, services, now)
    except SignatureError as exc:
        return _errors(401, [FieldError(SIGNATURE_HEADER, exc.reason)])
    if source == WEB_FORM_SOURCE:
        # Signed senders are known services behind shared addresses; the per-client limit is for browsers.
        limit = config.rate_limit
        if not services.rate_limiter.allow(
            f"leads#{post.source_ip}", limit=limit.max_requests, window_seconds=limit.window_seconds, now=now
        ):
            retry = limit.window_seconds - int(now.timestamp()) % limit.window_seconds
            return _errors(
                429,
                [FieldError("client", "too many submissions, try again later")],
                {"Retry-After": str(retry)},
            )
    if not parsed.ok:
        return _errors(422, parsed.errors)
    assert parsed.submission is not None
    accepted = accept_submission(
        parsed.submission,
        services,
        source=source,
        submission_id=submission_id_for(post, source, now),
        now=now,
        config=config,
    )
    return Answer(202, {"lead_id": accepted.lead_id, "status": "received"}, accepted=accepted)


def lead_id_of_email(email: str) -> str:
    """The id a person's lead has (or will have)."""
    return lead_id_for(email_key(email))
