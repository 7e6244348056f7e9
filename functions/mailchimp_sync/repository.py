"""Contacts as the MailChimp sync reads and writes them, behind a small interface.

Key layout and access patterns (docs/data-model.md, "## MailChimp"):
- the lead item ``LEAD#<lead_id>`` / ``LEAD`` carries the sync state in its ``mailchimp`` map
  (``state``, ``member_status``, ``reason``, ``last_error``, ``last_error_at``, ``synced_at``,
  ``updated_at``, and ``status_at`` = when MailChimp last changed the person's status);
- ``marketing_status`` (top level) is what MailChimp's webhooks said: ``unsubscribed`` and
  ``cleaned`` stop every later sync;
- a webhook finds the lead by email through the deterministic lead id (``lead_id_for``);
- the backfill scans leads with ``marketing_opt_in`` true, resuming after a lead's key.

Sync-state writes touch only ``mailchimp.*`` (never ``version``), so they never collide with the
intake's versioned writes. Webhook writes to intake-owned fields (names, email, opt-in) move
``version`` on by one, so an intake write racing them retries instead of overwriting them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from mailchimp_sync.models import MailchimpContact, SyncOutcome
from mailchimp_sync.webhook import ContactChange

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


@dataclass(frozen=True)
class ContactKey:
    pk: str
    sk: str

    def cursor(self) -> str:
        return json.dumps({"pk": self.pk, "sk": self.sk}, separators=(",", ":"))

    @classmethod
    def from_cursor(cls, cursor: str) -> ContactKey:
        data = json.loads(cursor)
        return cls(str(data["pk"]), str(data["sk"]))


class ContactRepository(Protocol):
    def record_outcome(
        self, key: ContactKey, outcome: SyncOutcome, at: datetime, *, state_exists: bool | None = None
    ) -> None: ...

    def find_by_email(self, email: str) -> tuple[ContactKey, dict[str, Any]] | None: ...

    def apply_change(self, key: ContactKey, change: ContactChange, at: datetime) -> bool: ...

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


def key_of(image: Mapping[str, Any]) -> ContactKey:
    return ContactKey(str(image["pk"]), str(image["sk"]))


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


def _stored_time(value: datetime) -> str:
    """A time as the table's pynamodb ``UTCDateTimeAttribute`` keeps it."""
    from pynamodb.attributes import UTCDateTimeAttribute

    return str(UTCDateTimeAttribute().serialize(value))


# ------------------------------------------------------------------ DynamoDB


def _lead_id_for(email: str) -> str:
    from shared.leads import email_key, lead_id_for

    return lead_id_for(email_key(email))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class DynamoContactRepository:
    """`ContactRepository` on the CRM table (low-level client: nested map updates, conditions)."""

    def __init__(self, table_name: str | None = None) -> None:
        from shared.settings import get_settings

        self.table_name = table_name or get_settings().crm_table

    @staticmethod
    def _client() -> Any:
        from shared.aws import client

        return client("dynamodb")

    @staticmethod
    def _serialize(value: Any) -> Any:
        from boto3.dynamodb.types import TypeSerializer

        if isinstance(value, float):
            value = Decimal(str(value))
        return TypeSerializer().serialize(value)

    def _update_map(
        self,
        key: ContactKey,
        values: Mapping[str, Any],
        *,
        top: Mapping[str, Any] | None = None,
        bump_version: bool = False,
        condition: str | None = None,
        condition_values: Mapping[str, Any] | None = None,
        map_exists: bool | None = None,
    ) -> bool:
        """Set ``mailchimp.<k>`` for ``values`` (None removes) and top-level ``top`` attributes.

        The nested update needs the map to exist; when it does not, the whole map is written
        instead (on condition that it still does not exist), so nothing else in it is lost;
        ``map_exists=False`` (known from the stream image) tries that first. Returns False when the item is gone or ``condition`` does not hold."""
        from botocore.exceptions import ClientError

        names: dict[str, str] = {"#m": "mailchimp"}
        expr_values: dict[str, Any] = {}
        top_sets: list[str] = []
        for i, (name, value) in enumerate((top or {}).items()):
            names[f"#t{i}"] = name
            expr_values[f":t{i}"] = self._serialize(value)
            top_sets.append(f"#t{i} = :t{i}")
        adds = []
        if bump_version:
            names["#version"] = "version"
            expr_values[":one"] = self._serialize(1)
            adds.append("#version :one")
        for name, value in (condition_values or {}).items():
            expr_values[name] = self._serialize(value)
        base_condition = "attribute_exists(pk)" + (f" AND ({condition})" if condition else "")

        nested_sets, removes = list(top_sets), []
        nested_names = dict(names)
        nested_values = dict(expr_values)
        for i, (name, value) in enumerate(values.items()):
            nested_names[f"#k{i}"] = name
            if value is None:
                removes.append(f"#m.#k{i}")
            else:
                nested_values[f":v{i}"] = self._serialize(value)
                nested_sets.append(f"#m.#k{i} = :v{i}")
        whole_values = dict(expr_values)
        whole_values[":map"] = self._serialize({k: v for k, v in values.items() if v is not None})
        attempts = [
            (nested_sets, removes, nested_names, nested_values, "attribute_exists(#m)"),
            ([*top_sets, "#m = :map"], [], names, whole_values, "attribute_not_exists(#m)"),
        ]
        if map_exists is False:
            attempts.reverse()
        for _ in range(3):  # the map may appear between the two attempts
            for sets, rem, attr_names, attr_values, map_condition in attempts:
                expression = ""
                if sets:
                    expression += "SET " + ", ".join(sets)
                if rem:
                    expression += " REMOVE " + ", ".join(rem)
                if adds:
                    expression += " ADD " + ", ".join(adds)
                request: dict[str, Any] = {
                    "TableName": self.table_name,
                    "Key": {"pk": {"S": key.pk}, "sk": {"S": key.sk}},
                    "UpdateExpression": expression.strip(),
                    "ConditionExpression": f"{base_condition} AND {map_condition}",
                    "ExpressionAttributeNames": attr_names,
                }
                if attr_values:
                    request["ExpressionAttributeValues"] = attr_values
                try:
                    self._client().update_item(**request)
                except ClientError as err:
                    if err.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                        raise
                    continue
                return True
            if not self._exists(key, condition, condition_values):
                return False
        return False

    def _exists(
        self, key: ContactKey, condition: str | None, condition_values: Mapping[str, Any] | None
    ) -> bool:
        item = self._get(key)
        if item is None:
            return False
        if condition and condition_values and ":version" in condition_values:
            return item.get("version") == condition_values[":version"]
        return True

    def _get(self, key: ContactKey) -> dict[str, Any] | None:
        from boto3.dynamodb.types import TypeDeserializer

        answer = self._client().get_item(
            TableName=self.table_name, Key={"pk": {"S": key.pk}, "sk": {"S": key.sk}}, ConsistentRead=True
        )
        if "Item" not in answer:
            return None
        deserialize = TypeDeserializer().deserialize
        return {k: deserialize(v) for k, v in answer["Item"].items()}

    # --- the interface ---------------------------------------------------------------------
    def record_outcome(
        self, key: ContactKey, outcome: SyncOutcome, at: datetime, *, state_exists: bool | None = None
    ) -> None:
        self._update_map(key, outcome_values(outcome, at), map_exists=state_exists)

    def find_by_email(self, email: str) -> tuple[ContactKey, dict[str, Any]] | None:
        key = ContactKey(f"LEAD#{_lead_id_for(email)}", "LEAD")
        item = self._get(key)
        return (key, _plain(item)) if item else None

    def apply_change(self, key: ContactKey, change: ContactChange, at: datetime) -> bool:
        """Apply a webhook's change; False when the lead is gone or the change is stale."""
        for _ in range(5):
            item = self._get(key)
            if item is None:
                return False
            plan = plan_change(_plain(item), change, at)
            if plan is None:
                return False
            top, mailchimp_values = plan
            version = item.get("version", Decimal(0))
            done = self._update_map(
                key,
                mailchimp_values,
                top=top,
                bump_version=True,
                condition="#version = :version" if "version" in item else "attribute_not_exists(#version)",
                condition_values={":version": version} if "version" in item else {},
            )
            if done:
                return True
        return False

    def eligible_after(self, cursor: str | None) -> Iterator[tuple[str, MailchimpContact]]:
        """Leads that opted in, in scan order, starting after ``cursor`` (a lead's key)."""
        from boto3.dynamodb.types import TypeDeserializer

        deserialize = TypeDeserializer().deserialize
        start = ContactKey.from_cursor(cursor) if cursor else None
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "FilterExpression": "#e = :lead AND #o = :yes",
            "ExpressionAttributeNames": {"#e": "entity", "#o": "marketing_opt_in"},
            "ExpressionAttributeValues": {":lead": {"S": "LEAD"}, ":yes": {"BOOL": True}},
        }
        if start:
            request["ExclusiveStartKey"] = {"pk": {"S": start.pk}, "sk": {"S": start.sk}}
        while True:
            page = self._client().scan(**request)
            for raw in page.get("Items", []):
                item = _plain({k: deserialize(v) for k, v in raw.items()})
                contact = contact_from_image(item)
                if contact is not None:
                    yield key_of(item).cursor(), contact
            if "LastEvaluatedKey" not in page:
                return
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


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
    top["updated_at"] = _stored_time(max(at, updated) if updated else at)
    values["webhook_at"] = at.isoformat()
    return top, values
