"""The local outbox: every email the local hub sends through its emulated SES, kept and readable.

The embedded AWS records each ``SendEmail`` that SES accepted (``OutboxRecorder``, a WSGI layer in front
of moto): sender, recipients, subject, the text part and the HTML part (moto itself keeps only one of the
two; ``body`` is that one, as before: the HTML part when there is one). Messages live in one SQLite file in the hub's data folder, indexed by recipient, so reading the mail
of one address stays fast whatever else the hub holds. The local hub shows them at ``/_hub/outbox``
(list, then each message as HTML and as text); ``hub emails`` and the tests' ``emails_to`` read
``/_hub/outbox.json``.
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

_MESSAGE_ID = re.compile(rb"<MessageId>([^<]+)</MessageId>")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    sent_at TEXT NOT NULL,
    source TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT,
    html_body TEXT,
    destinations TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS recipients (
    address TEXT NOT NULL,
    seq INTEGER NOT NULL REFERENCES messages(seq),
    PRIMARY KEY (address, seq)
);
"""


class Outbox:
    """The kept emails; safe to use from the API's and the embedded AWS's threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, message: dict[str, Any]) -> None:
        destinations = message.get("destinations") or {}
        with self._lock:
            self._db.execute("BEGIN")
            try:
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO messages (id, sent_at, source, subject, text_body, html_body, destinations)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (message["id"], message["sent_at"], message.get("source", ""), message.get("subject", ""),
                     message.get("text"), message.get("html"), json.dumps(destinations)),
                )  # fmt: skip
                if cursor.rowcount:
                    seq = cursor.lastrowid
                    addresses = {a.strip().lower() for kind in destinations.values() for a in kind}
                    self._db.executemany(
                        "INSERT OR IGNORE INTO recipients (address, seq) VALUES (?, ?)",
                        [(a, seq) for a in sorted(addresses)],
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def messages(self, *, to: str | None = None, last: int | None = None) -> list[dict[str, Any]]:
        """Oldest first; `to` keeps those sent to that address, `last` the most recent N."""
        query = "SELECT m.* FROM messages m"
        args: list[Any] = []
        if to:
            query += " JOIN recipients r ON r.seq = m.seq WHERE r.address = ?"
            args.append(to.strip().lower())
        query += " ORDER BY m.seq DESC"
        if last is not None:
            query += " LIMIT ?"
            args.append(max(0, last))
        with self._lock:
            rows = self._db.execute(query, args).fetchall()
        return [_as_message(r) for r in reversed(rows)]

    def get(self, message_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM messages WHERE id = ?", (message_id,)).fetchone()
        return _as_message(row) if row else None

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM messages").fetchone()[0])


def _as_message(row: tuple[Any, ...]) -> dict[str, Any]:
    _seq, message_id, sent_at, source, subject, text, html_body, destinations = row
    return {
        "id": message_id,
        "sent_at": sent_at,
        "source": source,
        "subject": subject,
        # As the emulated SES kept it: the HTML part when there is one, else the text part.
        "body": html_body if html_body is not None else (text or ""),
        "text": text,
        "html": html_body,
        "destinations": json.loads(destinations),
    }


def send_email_message(form: dict[str, list[str]], message_id: str) -> dict[str, Any]:
    """The outbox's record of one SES ``SendEmail`` (query protocol form fields)."""

    def one(name: str) -> str | None:
        values = form.get(name)
        return values[0] if values else None

    def members(prefix: str) -> list[str]:
        found = sorted(
            ((int(k.rsplit(".", 1)[1]), v[0]) for k, v in form.items() if k.startswith(prefix + ".member.")),
        )
        return [address for _, address in found]

    return {
        "id": message_id,
        "sent_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "source": one("Source") or "",
        "subject": one("Message.Subject.Data") or "",
        "text": one("Message.Body.Text.Data"),
        "html": one("Message.Body.Html.Data"),
        "destinations": {
            "ToAddresses": members("Destination.ToAddresses"),
            "CcAddresses": members("Destination.CcAddresses"),
            "BccAddresses": members("Destination.BccAddresses"),
        },
    }


def outbox_json(outbox: Outbox, query: str) -> tuple[int, dict[str, str], bytes]:
    """``/_hub/outbox.json?to=&last=``: the messages, oldest first."""
    params = parse_qs(query)
    to = params["to"][0] if params.get("to") else None
    last_text = (params.get("last") or [""])[0]
    last = int(last_text) if last_text.isdigit() else None
    body = json.dumps({"messages": outbox.messages(to=to, last=last)}).encode()
    return 200, {"content-type": "application/json", "cache-control": "no-store"}, body


class OutboxRecorder:
    """A WSGI layer in front of the embedded AWS that keeps each email SES accepted in the outbox."""

    def __init__(self, app: Callable[..., Iterable[bytes]], outbox: Outbox) -> None:
        self.app = app
        self.outbox = outbox

    @staticmethod
    def _is_ses(environ: dict[str, Any]) -> bool:
        credential = environ.get("HTTP_AUTHORIZATION", "")
        return environ.get("REQUEST_METHOD") == "POST" and ("/ses/aws4_request" in credential)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/_hub/outbox.json" and environ.get("REQUEST_METHOD") == "GET":
            # Read at the embedded AWS's address too (``hub.local.inspect`` knows only that one).
            code, headers, answer = outbox_json(self.outbox, environ.get("QUERY_STRING", ""))
            start_response(f"{code} OK", list(headers.items()))
            return [answer]
        if not self._is_ses(environ):
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(raw)
        form = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
        if form.get("Action", [""])[0] != "SendEmail":
            return self.app(environ, start_response)
        status: list[str] = []

        def capture(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status.append(code)
            return start_response(code, headers, exc_info) if exc_info else start_response(code, headers)

        body = list(self.app(environ, capture))
        if status and status[0].startswith("200"):
            found = _MESSAGE_ID.search(b"".join(body))
            message_id = found.group(1).decode() if found else f"local-{time.time_ns()}"
            self.outbox.add(send_email_message(form, message_id))
        return body
