"""A fake MailChimp Marketing API 3.0 server on 127.0.0.1, for the tests and the local hub.

It answers the endpoints the hub uses the way the real API does (members, tags, merge fields,
batches, ping), with errors as ``application/problem+json`` carrying MailChimp's titles, a 429
past ``max_connections`` simultaneous connections, and injectable faults.

Python::

    with FakeMailchimp() as fake:
        fake.inject(r"/members/", status=503, times=2)
        ... point the client at fake.url (ends in /3.0), list fake.list_id ...
        assert fake.peak_concurrency <= 4

Out of process (the local hub)::

    python -m hub.fake_mailchimp --port 8765
    POST /_fake/faults {"path": "/members/", "status": 429, "times": 3}
    GET  /_fake/stats   -> {"peak_concurrency": ..., "calls": ..., "active": ...}
    GET  /_fake/calls   -> [{"method", "path", "status", "body"}, ...]
    POST /_fake/reset   (members, faults, calls, peak)
    POST /_fake/members {"email": "...", "status": "unsubscribed"}   (seed a member)
    POST /_fake/forget  {"email": "..."}                              (GDPR-forget an email)
    POST /_fake/batches/hold, /_fake/batches/release   (new batches wait "pending" until released)
    DELETE /_fake/faults
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import itertools
import json
import re
import select
import signal
import socket
import tarfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

ERROR_TYPE = "https://mailchimp.com/developer/marketing/docs/errors/"
PROBLEM_JSON = "application/problem+json; charset=utf-8"
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
STATUSES = {"subscribed", "unsubscribed", "cleaned", "pending", "transactional"}
DEFAULT_MERGE_FIELDS = (
    ("FNAME", "First Name", "text"),
    ("LNAME", "Last Name", "text"),
    ("ADDRESS", "Address", "address"),
    ("PHONE", "Phone Number", "phone"),
    ("BIRTHDAY", "Birthday", "birthday"),
)
TITLES = {
    400: "Bad Request",
    401: "API Key Missing",
    403: "Forbidden",
    404: "Resource Not Found",
    405: "Method Not Allowed",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
DETAILS = {
    401: "Your request did not include an API key.",
    404: "The requested resource could not be found.",
    405: "The requested method and resource are not compatible.",
    429: "You have exceeded the limit of 10 simultaneous connections.",
    500: "An unexpected internal error has occurred. Please contact Support for more information.",
    502: "Bad Gateway",
    503: "This service is temporarily unavailable. Please try again later.",
    504: "Gateway Timeout",
}


def subscriber_hash(email: str) -> str:
    return hashlib.md5(email.strip().lower().encode()).hexdigest()  # noqa: S324 - MailChimp's id scheme


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


class ApiError(Exception):
    """An answer other than 2xx, rendered as problem+json."""

    def __init__(self, status: int, title: str | None = None, detail: str | None = None, **extra: Any):
        super().__init__(detail or title)
        self.status = status
        self.title = title or TITLES.get(status, "Error")
        self.detail = detail if detail is not None else DETAILS.get(status, self.title)
        self.extra = extra


def compliance_error(email: str) -> ApiError:
    return ApiError(
        400,
        "Member In Compliance State",
        f"{email} is already a list member in compliance state due to unsubscribe, bounce, "
        "or compliance review and cannot be subscribed.",
    )


def invalid_field(field_name: str, message: str) -> ApiError:
    """MailChimp's schema-validation answer, naming the field."""
    return ApiError(
        400,
        "Invalid Resource",
        "The resource submitted could not be validated. For field-specific details, see the 'errors' array.",
        errors=[{"field": field_name, "message": message}],
    )


def forgotten_error(email: str) -> ApiError:
    return ApiError(
        400,
        "Forgotten Email Not Subscribed",
        f"{email} was permanently deleted and cannot be re-imported. "
        "The contact must re-subscribe to get back on the list.",
    )


@dataclass
class Fault:
    """One injected misbehaviour, matched on the path (regex, searched) and optionally the method."""

    path: str = ".*"
    method: str | None = None
    status: int | None = None  # answer this status (problem+json unless body is given)
    body: str | None = None  # raw body; "" answers an empty body with no content type
    hang: float | None = None  # hold the connection this long (seconds) before answering
    delay: float | None = None  # answer normally after this long
    compliance: bool = False  # answer "Member In Compliance State"
    forgotten: bool = False  # answer "Forgotten Email Not Subscribed"
    detail: str | None = None
    title: str | None = None  # MailChimp's title for the status unless given
    times: int = 1  # how many matching requests it affects; -1 means until cleared
    fired: int = 0
    _regex: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._regex = re.compile(self.path)

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return bool(self._regex.search(path))

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    status: int = 0
    at: float = field(default_factory=time.time)
    batch_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class FakeState:
    """The audience data and the request bookkeeping; every access holds ``lock``."""

    def __init__(self, list_id: str) -> None:
        self.lock = threading.RLock()
        self.list_ids = {list_id}
        self.members: dict[str, dict[str, dict[str, Any]]] = {list_id: {}}
        self.forgotten: dict[str, set[str]] = {list_id: set()}
        self.merge_fields: dict[str, list[dict[str, Any]]] = {list_id: []}
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_results: dict[str, bytes] = {}
        self.batch_runners: list[threading.Thread] = []
        self.batches_go = threading.Event()  # cleared: batches wait "pending" (``hold_batches``)
        self.batches_go.set()
        self.faults: list[Fault] = []
        self.calls: list[Call] = []
        self.active = 0
        self.peak = 0
        self.rejected_429 = 0
        self.root_url = ""
        self._ids = itertools.count(1)
        for tag, name, type_ in DEFAULT_MERGE_FIELDS:
            self._add_merge_field(list_id, {"tag": tag, "name": name, "type": type_})

    def next_id(self) -> int:
        return next(self._ids)

    def _add_merge_field(self, list_id: str, body: dict[str, Any]) -> dict[str, Any]:
        fields = self.merge_fields[list_id]
        merge_id = len(fields) + 1
        tag = (body.get("tag") or f"MMERGE{merge_id}").upper()[:10]
        merge_field = {
            "merge_id": merge_id,
            "tag": tag,
            "name": body["name"],
            "type": body.get("type", "text"),
            "required": bool(body.get("required", False)),
            "default_value": body.get("default_value", ""),
            "public": bool(body.get("public", True)),
            "display_order": merge_id + 1,
            "options": body.get("options", {}),
            "help_text": body.get("help_text", ""),
            "list_id": list_id,
            "_links": [],
        }
        fields.append(merge_field)
        return merge_field


class MailchimpApi:
    """The routes, independent of HTTP plumbing so batches can run operations through them."""

    def __init__(self, state: FakeState) -> None:
        self.state = state

    # --- dispatch -------------------------------------------------------------------------
    ROUTES: list[tuple[str, re.Pattern[str], str]] = [
        ("GET", re.compile(r"^/ping/?$"), "ping"),
        ("GET", re.compile(r"^/lists/(?P<list_id>[^/]+)/?$"), "get_list"),
        ("GET", re.compile(r"^/lists/(?P<list_id>[^/]+)/members/?$"), "list_members"),
        ("POST", re.compile(r"^/lists/(?P<list_id>[^/]+)/members/?$"), "add_member"),
        ("GET", re.compile(r"^/lists/(?P<list_id>[^/]+)/members/(?P<hash>[^/]+)/?$"), "get_member"),
        ("PUT", re.compile(r"^/lists/(?P<list_id>[^/]+)/members/(?P<hash>[^/]+)/?$"), "put_member"),
        ("PATCH", re.compile(r"^/lists/(?P<list_id>[^/]+)/members/(?P<hash>[^/]+)/?$"), "patch_member"),
        (
            "POST",
            re.compile(r"^/lists/(?P<list_id>[^/]+)/members/(?P<hash>[^/]+)/actions/delete-permanent/?$"),
            "forget_member",
        ),
        ("GET", re.compile(r"^/lists/(?P<list_id>[^/]+)/members/(?P<hash>[^/]+)/tags/?$"), "get_tags"),
        ("POST", re.compile(r"^/lists/(?P<list_id>[^/]+)/members/(?P<hash>[^/]+)/tags/?$"), "post_tags"),
        ("GET", re.compile(r"^/lists/(?P<list_id>[^/]+)/merge-fields/?$"), "get_merge_fields"),
        ("POST", re.compile(r"^/lists/(?P<list_id>[^/]+)/merge-fields/?$"), "add_merge_field"),
        ("POST", re.compile(r"^/batches/?$"), "start_batch"),
        ("GET", re.compile(r"^/batches/(?P<batch_id>[^/]+)/?$"), "batch_status"),
        ("DELETE", re.compile(r"^/batches/(?P<batch_id>[^/]+)/?$"), "delete_batch"),
    ]

    def dispatch(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        """Answer (status, json-able body or None for 204). Raises ApiError."""
        path_matched = False
        for route_method, pattern, name in self.ROUTES:
            match = pattern.match(path)
            if not match:
                continue
            path_matched = True
            if route_method != method:
                continue
            with self.state.lock:
                return getattr(self, name)(query=query, body=body, **match.groupdict())
        if path_matched:
            raise ApiError(405)
        raise ApiError(404)

    # --- helpers --------------------------------------------------------------------------
    def _list(self, list_id: str) -> str:
        if list_id not in self.state.list_ids:
            raise ApiError(404)
        return list_id

    def _member(self, list_id: str, hash_: str) -> dict[str, Any]:
        member = self.state.members[self._list(list_id)].get(hash_.lower())
        if member is None:
            raise ApiError(404)
        return member

    @staticmethod
    def _object(body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise invalid_field("", "Schema describes object, NULL found instead")
        return body

    @staticmethod
    def _check_email(email: Any) -> str:
        if not isinstance(email, str) or not EMAIL_RE.match(email.strip()):
            raise ApiError(400, "Invalid Resource", "Please provide a valid email address.")
        return email.strip()

    @staticmethod
    def _check_status(value: Any, field_name: str) -> str:
        if value not in STATUSES:
            raise invalid_field(field_name, "Data did not match any of the schemas described.")
        return value

    def _merge(self, list_id: str, member: dict[str, Any], merge_fields: Any) -> None:
        """Apply known merge fields; unknown tags are ignored as the real API does."""
        if not merge_fields:
            return
        if not isinstance(merge_fields, dict):
            raise ApiError(400, "Invalid Resource", "Your merge fields were invalid.")
        known = {f["tag"] for f in self.state.merge_fields[list_id]}
        for tag, value in merge_fields.items():
            if tag.upper() in known:
                member["merge_fields"][tag.upper()] = value

    @staticmethod
    def _change_status(member: dict[str, Any], new_status: str) -> None:
        current = member["status"]
        if new_status == current:
            return
        if new_status == "subscribed" and current in {"unsubscribed", "cleaned"}:
            raise compliance_error(member["email_address"])
        member["status"] = new_status
        member["last_changed"] = _now()
        if new_status == "subscribed":
            member["timestamp_opt"] = _now()

    def _new_member(self, list_id: str, email: str, status: str) -> dict[str, Any]:
        hash_ = subscriber_hash(email)
        known = self.state.merge_fields[list_id]
        return {
            "id": hash_,
            "email_address": email,
            "unique_email_id": uuid.uuid4().hex[:10],
            "contact_id": uuid.uuid4().hex,
            "full_name": "",
            "web_id": self.state.next_id(),
            "email_type": "html",
            "status": status,
            "consents_to_one_to_one_messaging": True,
            "merge_fields": {f["tag"]: "" for f in known if f["type"] != "address"},
            "interests": {},
            "stats": {"avg_open_rate": 0, "avg_click_rate": 0},
            "ip_signup": "",
            "timestamp_signup": _now(),
            "ip_opt": "",
            "timestamp_opt": _now() if status == "subscribed" else "",
            "member_rating": 2,
            "last_changed": _now(),
            "language": "",
            "vip": False,
            "email_client": "",
            "location": {
                "latitude": 0,
                "longitude": 0,
                "gmtoff": 0,
                "dstoff": 0,
                "country_code": "",
                "timezone": "",
            },
            "source": "API - Generic",
            "tags_count": 0,
            "tags": [],
            "list_id": list_id,
            "_links": [],
        }

    @staticmethod
    def _render(member: dict[str, Any]) -> dict[str, Any]:
        rendered = json.loads(json.dumps(member))
        rendered["tags"] = [{"id": t["id"], "name": t["name"]} for t in member["tags"]]
        rendered["tags_count"] = len(member["tags"])
        fname = member["merge_fields"].get("FNAME", "")
        lname = member["merge_fields"].get("LNAME", "")
        rendered["full_name"] = f"{fname} {lname}".strip()
        return rendered

    # --- routes ---------------------------------------------------------------------------
    def ping(self, **_: Any) -> tuple[int, Any]:
        return 200, {"health_status": "Everything's Chimpy!"}

    def get_list(self, list_id: str, **_: Any) -> tuple[int, Any]:
        self._list(list_id)
        return 200, {
            "id": list_id,
            "name": "Fake audience",
            "stats": {"member_count": len(self.state.members[list_id])},
        }

    def list_members(self, list_id: str, query: dict[str, list[str]], **_: Any) -> tuple[int, Any]:
        members = list(self.state.members[self._list(list_id)].values())
        count = int(query.get("count", ["10"])[0])
        offset = int(query.get("offset", ["0"])[0])
        status = query.get("status", [None])[0]
        if status:
            members = [m for m in members if m["status"] == status]
        page = members[offset : offset + count]
        return 200, {
            "members": [self._render(m) for m in page],
            "list_id": list_id,
            "total_items": len(members),
        }

    def add_member(self, list_id: str, body: Any, **_: Any) -> tuple[int, Any]:
        body = self._object(body)
        email = self._check_email(body.get("email_address"))
        hash_ = subscriber_hash(email)
        self._list(list_id)
        if hash_ in self.state.forgotten[list_id]:
            raise forgotten_error(email)
        if hash_ in self.state.members[list_id]:
            raise ApiError(
                400,
                "Member Exists",
                f"{email} is already a list member. Use PUT to insert or update list members.",
            )
        status = self._check_status(body.get("status"), "status")
        member = self._new_member(list_id, email, status)
        self._merge(list_id, member, body.get("merge_fields"))
        self.state.members[list_id][hash_] = member
        return 200, self._render(member)

    def get_member(self, list_id: str, hash: str, **_: Any) -> tuple[int, Any]:
        return 200, self._render(self._member(list_id, hash))

    def put_member(self, list_id: str, hash: str, body: Any, **_: Any) -> tuple[int, Any]:
        """Add or update: ``status_if_new`` only applies to a new member; ``status`` changes it."""
        body = self._object(body)
        self._list(list_id)
        email = self._check_email(body.get("email_address"))
        hash_ = hash.lower()
        existing = self.state.members[list_id].get(hash_)
        if existing is None:
            if subscriber_hash(email) != hash_:
                raise ApiError(
                    400,
                    "Invalid Resource",
                    "The subscriber hash in the URL does not match the email address in the body.",
                )
            if hash_ in self.state.forgotten[list_id]:
                raise forgotten_error(email)
            if "status_if_new" not in body and "status" not in body:
                raise invalid_field("status_if_new", "This value should not be blank.")
            status = self._check_status(body.get("status") or body.get("status_if_new"), "status_if_new")
            member = self._new_member(list_id, email, status)
            self._merge(list_id, member, body.get("merge_fields"))
            self.state.members[list_id][hash_] = member
            return 200, self._render(member)
        if "status_if_new" in body:
            self._check_status(body["status_if_new"], "status_if_new")
        if "status" in body:
            self._change_status(existing, self._check_status(body["status"], "status"))
        self._merge(list_id, existing, body.get("merge_fields"))
        existing["email_address"] = email
        return 200, self._render(existing)

    def patch_member(self, list_id: str, hash: str, body: Any, **_: Any) -> tuple[int, Any]:
        body = self._object(body)
        member = self._member(list_id, hash)
        if "status" in body:
            self._change_status(member, self._check_status(body["status"], "status"))
        if "email_address" in body:
            member["email_address"] = self._check_email(body["email_address"])
        self._merge(list_id, member, body.get("merge_fields"))
        return 200, self._render(member)

    def forget_member(self, list_id: str, hash: str, **_: Any) -> tuple[int, Any]:
        self._member(list_id, hash)
        del self.state.members[list_id][hash.lower()]
        self.state.forgotten[list_id].add(hash.lower())
        return 204, None

    def get_tags(self, list_id: str, hash: str, **_: Any) -> tuple[int, Any]:
        member = self._member(list_id, hash)
        return 200, {"tags": list(member["tags"]), "total_items": len(member["tags"])}

    def post_tags(self, list_id: str, hash: str, body: Any, **_: Any) -> tuple[int, Any]:
        body = self._object(body)
        member = self._member(list_id, hash)
        tags = body.get("tags")
        if not isinstance(tags, list):
            raise invalid_field("tags", "This value should not be blank.")
        for tag in tags:
            if (
                not isinstance(tag, dict)
                or not tag.get("name")
                or tag.get("status") not in {"active", "inactive"}
            ):
                raise invalid_field("tags", "Each tag needs a name and a status of active|inactive.")
            names = [t["name"].lower() for t in member["tags"]]
            present = tag["name"].lower() in names
            if tag["status"] == "active" and not present:
                member["tags"].append({"id": self.state.next_id(), "name": tag["name"], "date_added": _now()})
            elif tag["status"] == "inactive" and present:
                member["tags"] = [t for t in member["tags"] if t["name"].lower() != tag["name"].lower()]
        return 204, None

    def get_merge_fields(self, list_id: str, query: dict[str, list[str]], **_: Any) -> tuple[int, Any]:
        fields = self.state.merge_fields[self._list(list_id)]
        count = int(query.get("count", ["10"])[0])
        offset = int(query.get("offset", ["0"])[0])
        return 200, {
            "merge_fields": fields[offset : offset + count],
            "list_id": list_id,
            "total_items": len(fields),
        }

    def add_merge_field(self, list_id: str, body: Any, **_: Any) -> tuple[int, Any]:
        body = self._object(body)
        self._list(list_id)
        if not body.get("name") or not body.get("type"):
            raise invalid_field("name" if not body.get("name") else "type", "Required.")
        tag = (body.get("tag") or "").upper()
        if tag and any(f["tag"] == tag for f in self.state.merge_fields[list_id]):
            raise ApiError(
                400, "Invalid Resource", f'A Merge Field with the tag "{tag}" already exists for this list.'
            )
        return 200, self.state._add_merge_field(list_id, body)

    def start_batch(self, body: Any, **_: Any) -> tuple[int, Any]:
        body = self._object(body)
        operations = body.get("operations")
        if not isinstance(operations, list):
            raise invalid_field("operations", "This value should not be blank.")
        batch_id = uuid.uuid4().hex[:10]
        batch = {
            "id": batch_id,
            "status": "pending",
            "total_operations": len(operations),
            "finished_operations": 0,
            "errored_operations": 0,
            "submitted_at": _now(),
            "completed_at": "",
            "response_body_url": "",
            "_links": [],
        }
        self.state.batches[batch_id] = batch
        runner = threading.Thread(target=self._run_batch, args=(batch_id, operations), daemon=True)
        self.state.batch_runners.append(runner)
        runner.start()
        return 200, dict(batch)

    def batch_status(self, batch_id: str, **_: Any) -> tuple[int, Any]:
        batch = self.state.batches.get(batch_id)
        if batch is None:
            raise ApiError(404)
        return 200, dict(batch)

    def delete_batch(self, batch_id: str, **_: Any) -> tuple[int, Any]:
        """MailChimp's "Delete batch request": stops the batch (the operations not run yet never run) and
        forgets it and its results; 204, or 404 for an id it does not know (or deleted already)."""
        if self.state.batches.pop(batch_id, None) is None:
            raise ApiError(404)
        self.state.batch_results.pop(batch_id, None)
        return 204, None

    def _run_batch(self, batch_id: str, operations: list[Any]) -> None:
        results = []
        while not self.state.batches_go.wait(0.05):  # held: pending until released, or deleted
            with self.state.lock:
                if batch_id not in self.state.batches:
                    return
        with self.state.lock:
            if batch_id not in self.state.batches:
                return
            self.state.batches[batch_id]["status"] = "started"
        for op in operations:
            with self.state.lock:
                if batch_id not in self.state.batches:  # deleted: the rest never runs
                    return
            op = op if isinstance(op, dict) else {}
            method = str(op.get("method", "GET")).upper()
            path = urlsplit(str(op.get("path", ""))).path
            try:
                raw = op.get("body")
                body = json.loads(raw) if isinstance(raw, str) and raw else raw
                query = {k: [str(v)] for k, v in (op.get("params") or {}).items()}
                fault = self.state_take_fault(method, path)
                if fault is not None:
                    raise fault_to_error(fault, body)
                status, answer = self.dispatch(method, path, query, body)
            except ApiError as err:
                status, answer = err.status, problem(err, path)
            except (ValueError, TypeError):
                status, answer = (
                    400,
                    problem(ApiError(400, "Invalid Resource", "The body was not valid JSON."), path),
                )
            results.append(
                {
                    "status_code": status,
                    "operation_id": op.get("operation_id"),
                    "response": json.dumps(answer) if answer is not None else "",
                }
            )
            with self.state.lock:
                self.state.calls.append(Call(method, path, {}, body, status, batch_id=batch_id))
                batch = self.state.batches.get(batch_id, {"finished_operations": 0, "errored_operations": 0})
                batch["finished_operations"] += 1
                if status >= 400:
                    batch["errored_operations"] += 1
        archive = io.BytesIO()
        with tarfile.open(fileobj=archive, mode="w:gz") as tar:
            data = json.dumps(results).encode()
            info = tarfile.TarInfo(f"{batch_id}/{batch_id}.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        with self.state.lock:
            if batch_id not in self.state.batches:  # deleted during its last operation
                return
            self.state.batch_results[batch_id] = archive.getvalue()
            batch = self.state.batches[batch_id]
            batch["status"] = "finished"
            batch["completed_at"] = _now()
            batch["response_body_url"] = f"{self.state.root_url}/_fake/batch-results/{batch_id}.tar.gz"

    def state_take_fault(self, method: str, path: str) -> Fault | None:
        with self.state.lock:
            for fault in self.state.faults:
                if fault.matches(method, path) and (fault.times < 0 or fault.fired < fault.times):
                    fault.fired += 1
                    return fault
        return None


def problem(err: ApiError, path: str) -> dict[str, Any]:
    return {
        "type": ERROR_TYPE,
        "title": err.title,
        "status": err.status,
        "detail": err.detail,
        "instance": str(uuid.uuid4()),
        **err.extra,
    }


def fault_to_error(fault: Fault, body: Any) -> ApiError:
    email = body.get("email_address", "The contact") if isinstance(body, dict) else "The contact"
    if fault.compliance:
        return compliance_error(email)
    if fault.forgotten:
        return forgotten_error(email)
    return ApiError(fault.status or 500, fault.title, fault.detail)


class _Handler(BaseHTTPRequestHandler):
    server_version = "FakeMailchimp/3.0"
    protocol_version = "HTTP/1.0"  # one request per connection: a connection is a request
    fake: FakeMailchimp  # set on the subclass made per server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # --- plumbing -------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str | None) -> None:
        try:
            self.send_response(status, TITLES.get(status))
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body:
                self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _client_gone(self, wait: float) -> bool:
        """Wait up to ``wait`` seconds; True if the client closed the connection meanwhile."""
        try:
            readable, _, _ = select.select([self.connection], [], [], wait)
            if readable:
                return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True
        return False

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        raw = self._read_body()
        if url.path.startswith("/_fake/"):
            status, body, ctype = self.fake._control(method, url.path, raw)
            self._send(status, body, ctype)
            return
        state = self.fake.state
        with state.lock:
            state.active += 1
            state.peak = max(state.peak, state.active)
            over_limit = state.active > self.fake.max_connections
        counted = True
        call = Call(method, url.path, parse_qs(url.query), None)
        try:
            status, payload, ctype = self._answer(method, url, raw, call, over_limit)
            if status == -1:  # the client hung up during a hang; nothing to send
                with state.lock:
                    state.active -= 1
                    state.calls.append(call)  # recorded with status 0: no answer was given
                counted = False
                return
        finally:
            if counted:
                # stop counting before the answer leaves, so a client that has its answer and
                # opens the next connection is never counted twice
                with state.lock:
                    state.active -= 1
        call.status = status
        with state.lock:
            state.calls.append(call)
        self._send(status, payload, ctype)

    def _answer(
        self, method: str, url: Any, raw: bytes, call: Call, over_limit: bool
    ) -> tuple[int, bytes, str | None]:
        fake = self.fake
        api_path = url.path
        if not api_path.startswith("/3.0/") and api_path != "/3.0":
            return self._problem(ApiError(404), url.path)
        api_path = api_path[len("/3.0") :] or "/"
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
            call.body = raw.decode(errors="replace")
            return self._problem(
                ApiError(400, "JSON Parse Error", "We encountered an unspecified JSON parsing error."),
                url.path,
            )
        call.body = body
        if fake.latency:
            time.sleep(fake.latency)
        if over_limit:
            with fake.state.lock:
                fake.state.rejected_429 += 1
            return self._problem(ApiError(429), url.path)
        if not self._authorised():
            return self._problem(ApiError(401), url.path)
        fault = fake.api.state_take_fault(method, api_path)
        if fault is not None:
            if fault.hang:
                deadline = time.monotonic() + fault.hang
                while time.monotonic() < deadline and not fake._stopping.is_set():
                    if self._client_gone(0.05):
                        return -1, b"", None
            if fault.delay:
                time.sleep(fault.delay)
            if fault.body is not None:
                return fault.status or 500, fault.body.encode(), ("application/json" if fault.body else None)
            if fault.status or fault.compliance or fault.forgotten:
                return self._problem(fault_to_error(fault, body), url.path)
        try:
            status, answer = fake.api.dispatch(method, api_path, call.query, body)
        except ApiError as err:
            return self._problem(err, url.path)
        if answer is None:
            return status, b"", None
        return status, json.dumps(answer).encode(), "application/json; charset=utf-8"

    def _authorised(self) -> bool:
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer ") and header[7:].strip():
            return True
        if not header.startswith("Basic "):
            return False
        try:
            _, _, key = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return bool(key)

    def _problem(self, err: ApiError, path: str) -> tuple[int, bytes, str]:
        return err.status, json.dumps(problem(err, path)).encode(), PROBLEM_JSON


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # listen() backlog: a burst past ten must reach us to be answered 429


class FakeMailchimp:
    """Start/stop the fake; a context manager. ``url`` is the base URL ending in ``/3.0``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        list_id: str = "fakelist01",
        max_connections: int = 10,
        latency: float = 0.0,
    ) -> None:
        self.host = host
        self.port = port
        self.list_id = list_id
        self.max_connections = max_connections
        self.latency = latency
        self.state = FakeState(list_id)
        self.api = MailchimpApi(self.state)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> FakeMailchimp:
        handler = type("FakeMailchimpHandler", (_Handler,), {"fake": self})
        server = _Server((self.host, self.port), handler)
        self._server = server
        self.port = server.server_address[1]
        self.state.root_url = self.root_url
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeMailchimp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.root_url}/3.0"

    # --- test API -------------------------------------------------------------------------
    def inject(
        self,
        path: str = ".*",
        *,
        status: int | None = None,
        hang: float | None = None,
        delay: float | None = None,
        compliance: bool = False,
        forgotten: bool = False,
        body: str | None = None,
        method: str | None = None,
        detail: str | None = None,
        title: str | None = None,
        times: int = 1,
    ) -> Fault:
        """Misbehave on the next ``times`` requests whose API path (after /3.0) matches ``path``."""
        fault = Fault(
            path=path,
            method=method,
            status=status,
            hang=hang,
            delay=delay,
            compliance=compliance,
            forgotten=forgotten,
            body=body,
            detail=detail,
            title=title,
            times=times,
        )
        with self.state.lock:
            self.state.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self.state.lock:
            self.state.faults.clear()

    def hold_batches(self) -> None:
        """Batches started from now on wait "pending" (as MailChimp's queue can keep one for minutes)."""
        self.state.batches_go.clear()

    def release_batches(self) -> None:
        self.state.batches_go.set()

    def wait_for_batches(self, timeout: float = 10.0) -> None:
        """Until every batch started has run to its end (or stopped, deleted); raises if one has not."""
        with self.state.lock:
            runners = list(self.state.batch_runners)
        for runner in runners:
            runner.join(timeout)
            if runner.is_alive():
                raise TimeoutError("a batch is still running (held?)")

    def reset(self) -> None:
        """Forget members, faults, calls and the peak (merge fields back to the defaults)."""
        with self.state.lock:
            fresh = FakeState(self.list_id)
            fresh.root_url = self.state.root_url
            self.state.__dict__.update({k: v for k, v in fresh.__dict__.items() if k != "lock"})

    def reset_counters(self) -> None:
        with self.state.lock:
            self.state.calls.clear()
            self.state.peak = 0
            self.state.rejected_429 = 0

    @property
    def calls(self) -> list[Call]:
        with self.state.lock:
            return list(self.state.calls)

    def calls_to(self, method: str, path_regex: str = ".*") -> list[Call]:
        regex = re.compile(path_regex)
        return [c for c in self.calls if c.method == method and regex.search(c.path)]

    @property
    def peak_concurrency(self) -> int:
        with self.state.lock:
            return self.state.peak

    def member(self, email: str, list_id: str | None = None) -> dict[str, Any] | None:
        with self.state.lock:
            found = self.state.members[list_id or self.list_id].get(subscriber_hash(email))
            return MailchimpApi._render(found) if found else None

    def tags(self, email: str) -> set[str]:
        member = self.member(email)
        return {t["name"] for t in member["tags"]} if member else set()

    def seed_member(
        self, email: str, status: str = "subscribed", merge_fields: dict[str, Any] | None = None, **extra: Any
    ) -> dict[str, Any]:
        """Put a member straight into the audience (as if a person or another tool had)."""
        with self.state.lock:
            member = self.api._new_member(self.list_id, email, status)
            member["merge_fields"].update(merge_fields or {})
            member.update(extra)
            self.state.members[self.list_id][subscriber_hash(email)] = member
            return MailchimpApi._render(member)

    def set_status(self, email: str, status: str) -> None:
        """Change a member's status as the person would (an unsubscribe link, a bounce)."""
        with self.state.lock:
            member = self.state.members[self.list_id][subscriber_hash(email)]
            member["status"] = status
            member["last_changed"] = _now()

    def forget(self, email: str) -> None:
        with self.state.lock:
            hash_ = subscriber_hash(email)
            self.state.members[self.list_id].pop(hash_, None)
            self.state.forgotten[self.list_id].add(hash_)

    def stats(self) -> dict[str, Any]:
        with self.state.lock:
            return {
                "peak_concurrency": self.state.peak,
                "active": self.state.active,
                "calls": len(self.state.calls),
                "rejected_429": self.state.rejected_429,
                "members": len(self.state.members[self.list_id]),
            }

    # --- HTTP control surface (/_fake/...) -------------------------------------------------
    def _control(self, method: str, path: str, raw: bytes) -> tuple[int, bytes, str | None]:
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return 400, b'{"error": "body must be JSON"}', "application/json"
        ok = b'{"ok": true}'
        if path == "/_fake/faults" and method == "POST":
            allowed = {
                "path",
                "method",
                "status",
                "hang",
                "delay",
                "compliance",
                "forgotten",
                "body",
                "detail",
                "title",
                "times",
            }
            fault = self.inject(**{k: v for k, v in body.items() if k in allowed})
            return 200, json.dumps(fault.as_dict()).encode(), "application/json"
        if path == "/_fake/faults" and method == "DELETE":
            self.clear_faults()
            return 200, ok, "application/json"
        if path == "/_fake/faults" and method == "GET":
            with self.state.lock:
                data = [f.as_dict() for f in self.state.faults]
            return 200, json.dumps(data).encode(), "application/json"
        if path == "/_fake/stats" and method == "GET":
            return 200, json.dumps(self.stats()).encode(), "application/json"
        if path == "/_fake/calls" and method == "GET":
            return 200, json.dumps([c.as_dict() for c in self.calls]).encode(), "application/json"
        if path == "/_fake/reset" and method == "POST":
            self.reset()
            return 200, ok, "application/json"
        if path == "/_fake/members" and method == "POST":
            member = self.seed_member(
                body["email"], body.get("status", "subscribed"), body.get("merge_fields")
            )
            return 200, json.dumps(member).encode(), "application/json"
        if path == "/_fake/status" and method == "POST":
            try:
                self.set_status(body["email"], body["status"])
            except KeyError:
                return 404, b'{"error": "no such member"}', "application/json"
            return 200, ok, "application/json"
        if path == "/_fake/forget" and method == "POST":
            self.forget(body["email"])
            return 200, ok, "application/json"
        if path in ("/_fake/batches/hold", "/_fake/batches/release") and method == "POST":
            (self.hold_batches if path.endswith("hold") else self.release_batches)()
            return 200, ok, "application/json"
        match = re.match(r"^/_fake/batch-results/(?P<id>[^/.]+)\.tar\.gz$", path)
        if match and method == "GET":
            with self.state.lock:
                archive = self.state.batch_results.get(match["id"])
            if archive is None:
                return 404, b"", None
            return 200, archive, "application/gzip"
        return 404, b'{"error": "unknown control route"}', "application/json"


def start_for_local_hub(
    home: Path, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, Any], list[Any]]:
    """MailChimp for `hub local`: the real API when ``MAILCHIMP_API_KEY`` is set, else this fake
    (with the sync's merge fields created, as `hub mailchimp setup` would).

    Returns what goes into ``.hub/local.json`` (with ``environment`` for the functions) and the
    callables that stop what was started."""
    import os
    import secrets

    environ = os.environ if environ is None else environ
    token = environ.get("MAILCHIMP_WEBHOOK_TOKEN") or secrets.token_urlsafe(16)
    if environ.get("MAILCHIMP_API_KEY"):
        key = environ["MAILCHIMP_API_KEY"]
        server = environ.get("MAILCHIMP_SERVER") or key.rpartition("-")[2]
        url = environ.get("MAILCHIMP_URL") or f"https://{server}.api.mailchimp.com/3.0"
        info = {
            "mailchimp_url": url,
            "mailchimp_list_id": environ.get("MAILCHIMP_LIST_ID", ""),
            "mailchimp_webhook_token": token,
            "mailchimp_fake": False,
            "environment": {"MAILCHIMP_WEBHOOK_TOKEN": token, "MAILCHIMP_SERVER": server},
        }
        return info, []
    fake = FakeMailchimp().start()
    _create_sync_merge_fields(fake)
    info = {
        "mailchimp_url": fake.url,
        "mailchimp_list_id": fake.list_id,
        "mailchimp_webhook_token": token,
        "mailchimp_fake": True,
        "environment": {
            "MAILCHIMP_URL": fake.url,
            "MAILCHIMP_API_KEY": "fake-key",
            "MAILCHIMP_LIST_ID": fake.list_id,
            "MAILCHIMP_WEBHOOK_TOKEN": token,
        },
    }
    return info, [fake.stop]


def _create_sync_merge_fields(fake: FakeMailchimp) -> None:
    try:
        from mailchimp_sync.segments import MERGE_FIELDS
    except ImportError:  # the functions folder is not on the path
        return
    with fake.state.lock:
        present = {f["tag"] for f in fake.state.merge_fields[fake.list_id]}
        for tag, name, type_ in MERGE_FIELDS:
            if tag not in present:
                fake.state._add_merge_field(fake.list_id, {"tag": tag, "name": name, "type": type_})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake MailChimp Marketing API 3.0 on 127.0.0.1")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--list-id", default="fakelist01")
    parser.add_argument("--max-connections", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every API answer")
    args = parser.parse_args(argv)
    fake = FakeMailchimp(
        host=args.host,
        port=args.port,
        list_id=args.list_id,
        max_connections=args.max_connections,
        latency=args.latency,
    ).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # one JSON line so a parent process can read where it listens
    print(json.dumps({"url": fake.url, "list_id": fake.list_id, "port": fake.port}), flush=True)
    stop.wait()
    fake.stop()


if __name__ == "__main__":
    main()
