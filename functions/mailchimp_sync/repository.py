"""Contacts as the MailChimp sync reads and writes them, behind a small interface.

People MailChimp knows are leads (``LEAD``) and CRM contacts (``CONTACT``), read and written through
``shared.store.crm`` (docs/data-model.md, "## MailChimp"):
- the sync state is the ``mailchimp`` map on the person's item (``state``, ``member_status``,
  ``reason``, ``last_error``, ``last_error_at``, ``synced_at``, ``updated_at``, and ``status_at`` =
  when MailChimp last changed the person's status): ``CrmStore.record_sync_state``, which never
  moves ``version``, so it never collides with the intake's or the events' versioned writes;
- ``marketing_status`` (top level) is what MailChimp's webhooks said: ``unsubscribed`` and
  ``cleaned`` stop every later sync;
- a webhook finds the people with an address: the lead through the deterministic lead id
  (``CrmStore.lead_id_for_email``: an alias after an email change, else ``lead_id_for``), CRM contacts
  through ``CrmStore.contacts_by_email``; a change reaches each; an email change adds the alias
  (``CrmStore.add_email_alias``); a status for an unknown address is kept (``record_suppression``);
- webhook writes go through the person's versioned writer (``CrmStore.update_lead`` /
  ``update_contact``), so an intake write racing them retries instead of overwriting them;
- the backfill scans leads with ``marketing_opt_in`` true, resuming after a lead (``opted_in_leads``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from mailchimp_sync.models import MailchimpContact, SyncOutcome
from shared.store import crm
from shared.store.errors import Conflict, NotFound

if TYPE_CHECKING:
    from mailchimp_sync.webhook import ContactChange  # the webhook's parsing is only for the HTTP route

ContactKey = crm.ContactRef
MAX_CHANGE_TRIES = 5

# the fields of a lead that MailChimp sees: a change to none of them needs no sync
SYNC_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "company",
    "phone",
    "country",
    "employee_band",
    "revenue_band",
    "industry",
    "campaign",
    "marketing_opt_in",
    "marketing_status",
    "quarantined",
)
SYNCED_ENTITIES = frozenset({"LEAD", "CONTACT"})
MEMBER_STATUSES = frozenset({"subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived"})


class ContactRepository(Protocol):
    def record_outcome(
        self, key: ContactKey, outcome: SyncOutcome, at: datetime, *, state_exists: bool | None = None
    ) -> None: ...

    def record_outcomes(self, entries: list[tuple[ContactKey, SyncOutcome, datetime, bool | None]]) -> None:
        """``record_outcome`` for several contacts (each once), in as few writes as the store allows."""
        ...

    def find_by_email(self, email: str) -> list[tuple[ContactKey, dict[str, Any]]]:
        """Everyone with this address: the lead, and CRM contacts."""
        ...

    def apply_change(self, key: ContactKey, change: ContactChange, at: datetime) -> bool: ...

    def keep_unknown_status(self, change: ContactChange, at: datetime) -> bool:
        """Keep a status for an address nobody has yet (the suppression list); False when older."""
        ...

    def eligible_after(self, cursor: str | None) -> Iterator[tuple[str, MailchimpContact]]: ...


# ------------------------------------------------------------------ mapping


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def contact_from_image(image: Mapping[str, Any] | None) -> MailchimpContact | None:
    """The contact in a CRM item (a stream image or a read item), or ``None`` when it is not one
    the sync handles (another entity, no email, quarantined)."""
    if not image or image.get("entity") not in SYNCED_ENTITIES or image.get("quarantined"):
        return None
    email = _text(image.get("email"))
    if not email:
        return None
    mailchimp = image.get("mailchimp") or {}
    status = _text(image.get("marketing_status"))
    campaign = _text(image.get("campaign"))
    return MailchimpContact(
        contact_id=str(image.get("lead_id") or image.get("contact_id") or image.get("pk")),
        email=email,
        first_name=_text(image.get("first_name")),
        last_name=_text(image.get("last_name")),
        company=_text(image.get("company")),
        phone=_text(image.get("phone")),
        country=_text(image.get("country")),
        employee_band=_text(image.get("employee_band")),
        revenue_band=_text(image.get("revenue_band")),
        industry=_text(image.get("industry")),
        campaigns=[campaign] if campaign else [],
        marketing_opt_in=bool(image.get("marketing_opt_in")),
        # a leaver's opt-in is cleared by the unsubscribe; true again means a newer explicit opt-in
        opt_in_at=None,
        marketing_status=status if status in MEMBER_STATUSES else None,  # type: ignore[arg-type]
        marketing_status_at=_time(mailchimp.get("status_at")),
    )


def needs_sync(new: Mapping[str, Any] | None, old: Mapping[str, Any] | None) -> bool:
    """Whether a change touched anything MailChimp sees; our own sync-state writes do not."""
    if contact_from_image(new) is None:
        return False
    if not old:
        return True
    return any(new.get(name) != old.get(name) for name in SYNC_FIELDS)  # type: ignore[union-attr]


def unchanged_for_sync(record: Mapping[str, Any]) -> bool:
    """Whether a stream record (its ``dynamodb`` part, images as DynamoDB types them) is a change that
    ``needs_sync`` would turn down because no field MailChimp sees changed (our own sync-state writes), told
    from the typed images without deserializing them: equal typed values are equal values. False when that
    cannot be told so (no old image, a field typed differently): ``needs_sync`` decides those."""
    old, new = record.get("OldImage"), record.get("NewImage")
    if not old or not isinstance(new, Mapping):
        return False
    return all(new.get(name) == old.get(name) for name in SYNC_FIELDS)


def key_of(image: Mapping[str, Any]) -> ContactKey:
    if image.get("entity") == crm.CONTACT:
        return ContactKey(crm.CONTACT, str(image["contact_id"]))
    return ContactKey(crm.LEAD, str(image["lead_id"]))


def outcome_values(outcome: SyncOutcome, at: datetime) -> dict[str, Any]:
    """The ``mailchimp.*`` values an outcome sets (``None`` = remove)."""
    stamp = at.isoformat()
    values: dict[str, Any] = {"state": outcome.state, "updated_at": stamp, "reason": outcome.reason}
    if outcome.member_status:
        values["member_status"] = outcome.member_status
    if outcome.state == "synced":
        values["synced_at"] = stamp
    if outcome.error:
        values["last_error"] = outcome.error[:1000]
        values["last_error_at"] = stamp
    return values


# ------------------------------------------------------------------ the CRM store


def _image(person: crm.Lead | crm.Contact) -> dict[str, Any]:
    """A person as the sync reads CRM items (the shape of a stream image)."""
    entity = crm.LEAD if isinstance(person, crm.Lead) else crm.CONTACT
    return {**person.model_dump(), "entity": entity}


class StoreContactRepository:
    """`ContactRepository` on the CRM store."""

    def __init__(self, store: crm.CrmStore | None = None) -> None:
        self.store: crm.CrmStore = store if store is not None else crm.DynamoCrmStore()

    def _person(self, key: ContactKey) -> crm.Lead | crm.Contact | None:
        return self.store.get_lead(key.id) if key.kind == crm.LEAD else self.store.get_contact(key.id)

    def record_outcome(
        self, key: ContactKey, outcome: SyncOutcome, at: datetime, *, state_exists: bool | None = None
    ) -> None:
        self.store.record_sync_state(key, outcome_values(outcome, at), map_exists=state_exists)

    def record_outcomes(self, entries: list[tuple[ContactKey, SyncOutcome, datetime, bool | None]]) -> None:
        self.store.record_sync_states(
            [(key, outcome_values(outcome, at), exists) for key, outcome, at, exists in entries]
        )

    def find_by_email(self, email: str) -> list[tuple[ContactKey, dict[str, Any]]]:
        found: list[tuple[ContactKey, dict[str, Any]]] = []
        # The lead an address reaches: the person's, also after an email change (an alias).
        lead = self.store.get_lead(self.store.lead_id_for_email(email))
        if lead is not None:
            found.append((ContactKey(crm.LEAD, lead.lead_id), _image(lead)))
        for contact in self.store.contacts_by_email(email):
            found.append((ContactKey(crm.CONTACT, contact.contact_id), _image(contact)))
        return found

    def apply_change(self, key: ContactKey, change: ContactChange, at: datetime) -> bool:
        """Apply a webhook's change; False when the person is gone or the change is stale."""
        for _ in range(MAX_CHANGE_TRIES):
            person = self._person(key)
            if person is None:
                return False
            plan = plan_change(_image(person), change, at)
            if plan is None:
                return False
            top, mailchimp_values = plan
            changes = {**top, **{f"mailchimp.{k}": v for k, v in mailchimp_values.items()}}
            # One lead per person: the new address reaches this lead from now on (posts, webhooks,
            # unsubscribes); an address that already reaches another lead is not taken over.
            moved_lead = person.lead_id if isinstance(person, crm.Lead) and top.get("email") else None
            if moved_lead is not None and not self.store.add_email_alias(top["email"], moved_lead):
                return False
            try:
                if isinstance(person, crm.Lead):
                    self.store.update_lead(
                        person.lead_id, changes, expected_version=person.version, current=person
                    )
                else:
                    self.store.update_contact(person.contact_id, changes, expected_version=person.version)
            except NotFound:
                return False
            except Conflict:
                continue  # changed meanwhile: read again
            return True
        return False

    def keep_unknown_status(self, change: ContactChange, at: datetime) -> bool:
        if change.marketing_status is None:
            return False
        suppression = crm.Suppression(
            email=change.email,
            status=change.marketing_status,
            at=change.marketing_status_at or at,
            reason=change.reason,
        )
        return self.store.record_suppression(suppression)

    def eligible_after(self, cursor: str | None) -> Iterator[tuple[str, MailchimpContact]]:
        """Leads that opted in, in scan order, starting after ``cursor`` (a lead's position)."""
        for position, lead in self.store.opted_in_leads(cursor):
            contact = contact_from_image(_image(lead))
            if contact is not None:
                yield position, contact


class DynamoContactRepository(StoreContactRepository):
    """`ContactRepository` on the CRM table."""

    def __init__(self) -> None:
        super().__init__(crm.DynamoCrmStore())


def plan_change(
    item: Mapping[str, Any], change: ContactChange, at: datetime
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The top-level attributes and ``mailchimp.*`` values a webhook change sets, or None when it
    changes nothing (a status older than the one already recorded, or values already there)."""
    mailchimp = item.get("mailchimp") or {}
    top: dict[str, Any] = {}
    values: dict[str, Any] = {}
    if change.marketing_status:
        known_at = _time(mailchimp.get("status_at"))
        happened = change.marketing_status_at or at
        if known_at and happened < known_at:
            return None  # an older event arriving late
        top["marketing_status"] = change.marketing_status
        # leaving withdraws the consent; a later explicit opt-in is then a re-opt-in
        top["marketing_opt_in"] = change.marketing_status == "subscribed"
        values["status_at"] = happened.isoformat()
        values["member_status"] = change.marketing_status
        if change.reason:
            values["status_reason"] = change.reason
    for name, value in change.fields.items():
        if item.get(name) != value:
            top[name] = value
    if change.new_email and change.new_email.strip().lower() != str(item.get("email", "")).lower():
        top["email"] = change.new_email.strip().lower()
        previous = list(mailchimp.get("previous_emails") or [])
        values["previous_emails"] = [*previous, str(item.get("email"))][-10:]
    if not top:
        return None
    updated = _time(item.get("updated_at"))
    top["updated_at"] = max(at, updated) if updated else at
    values["webhook_at"] = at.isoformat()
    return top, values
