"""The email sender: SES, with nothing a sender typed able to inject a header.

SES's ``SendEmail`` takes the subject and addresses as separate fields, so a field cannot
add a header there; we still strip line breaks from every header value and refuse any
address that is not a single plain address, so a lead's text cannot grow into Bcc lines
whatever the transport. Bodies are rendered by the caller with ``html.escape``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.aws import client
from shared.observability import logger, mask_email
from shared.settings import get_settings

_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")
# Line and paragraph breaks and every other control character (C0, DEL, C1).
_BREAKS = re.compile(r"[\r\n\u2028\u2029\x00-\x1f\x7f-\x9f\u0085]+")
# Characters that make text read other than it is: bidi embeddings, overrides and isolates, marks,
# zero-width spaces and joiners, the word joiner, the byte-order mark.
_INVISIBLE = re.compile(r"[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# Lone surrogates (a JSON "\\udd00" decodes to one) cannot be encoded as UTF-8 at all.
_SURROGATES = re.compile(r"[\ud800-\udfff]")
_MAX_SUBJECT = 200


class InvalidAddressError(ValueError):
    """An address that is not one plain address (it could smuggle a header or a second recipient)."""


@dataclass(frozen=True)
class Email:
    to: str
    subject: str
    text: str
    html: str | None = None


def one_line(value: str, limit: int = 1000) -> str:
    """A value on one line: breaks and control characters become a space, invisible and
    direction-changing characters are dropped, runs of spaces are folded, length is bounded."""
    cleaned = _INVISIBLE.sub("", _BREAKS.sub(" ", _SURROGATES.sub("\ufffd", value)))
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def header_safe(value: str, limit: int = _MAX_SUBJECT) -> str:
    """A header value (a subject, a display name) on one line: no breaks, no control, bidi or
    zero-width characters, at most ``limit`` characters."""
    return one_line(value, limit)


def check_address(address: str) -> str:
    address = address.strip()
    if not _ADDRESS.match(address) or len(address) > 254:
        raise InvalidAddressError(f"not a single plain email address: {mask_email(address)!r}")
    return address


def send_email(message: Email) -> str:
    """Send one email through SES from the hub's sending identity; returns SES's message id."""
    to = check_address(message.to)
    body: dict[str, dict[str, str]] = {"Text": {"Data": message.text, "Charset": "UTF-8"}}
    if message.html is not None:
        body["Html"] = {"Data": message.html, "Charset": "UTF-8"}
    answer = client("ses").send_email(
        Source=check_address(get_settings().sender_email),
        Destination={"ToAddresses": [to]},
        Message={"Subject": {"Data": header_safe(message.subject), "Charset": "UTF-8"}, "Body": body},
    )
    logger.info("email sent", extra={"to": mask_email(to), "message_id": answer["MessageId"]})
    return str(answer["MessageId"])
