"""Signed webhooks: the ``X-Hub-Signature`` contract of the design.

Header: ``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">``; several ``v1=`` may appear
(the sender signs with each of its active secrets during a rotation). Each source has one or more
active secrets; a request is good when any ``v1`` matches any active secret and ``t`` is within
300 seconds of now, in either direction. Comparisons are constant time (``hmac.compare_digest``).

This module is generic: it knows nothing of events or leads. The caller says which source a request
comes from and hands over that source's secrets (see ``SsmSourceSecrets``), so ``POST /events`` and
signed ``POST /leads`` share it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SSMProvider

SIGNATURE_HEADER = "X-Hub-Signature"
SOURCE_HEADER = "X-Hub-Source"
TOLERANCE_SECONDS = 300
SCHEME = "v1"

# A source name ends up in a parameter path: keep it to a safe alphabet.
SOURCE_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
_SOURCE_RE = re.compile(SOURCE_PATTERN)
_HEX_SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_MAX_HEADER_LENGTH = 4096


class SignatureError(Exception):
    """A request whose signature cannot be accepted; ``reason`` says why (answered as 401)."""

    MISSING = "missing"
    MALFORMED = "malformed"
    EXPIRED = "timestamp outside tolerance"
    MISMATCH = "no matching signature"
    UNKNOWN_SOURCE = "unknown source"

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class UnknownSourceError(SignatureError):
    """The source is not known, or has no active secret."""

    def __init__(self, source: str) -> None:
        super().__init__(SignatureError.UNKNOWN_SOURCE, source)
        self.source = source


def compute_signature(body: bytes, secret: str, timestamp: int) -> str:
    """Hex HMAC-SHA256 of ``b"<t>." + body`` with ``secret``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def sign(body: bytes | str, secret: str | Sequence[str], t: int | None = None) -> str:
    """The ``X-Hub-Signature`` value for ``body``; one ``v1`` per secret given (rotation)."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    timestamp = int(time.time()) if t is None else int(t)
    secrets = [secret] if isinstance(secret, str) else list(secret)
    parts = [f"t={timestamp}"] + [f"{SCHEME}={compute_signature(raw, s, timestamp)}" for s in secrets]
    return ",".join(parts)


def parse_signature_header(header: str | None) -> tuple[int, list[str]]:
    """``(t, [v1, ...])`` from the header; unknown schemes are ignored, as senders may add new ones."""
    if header is None or not header.strip():
        raise SignatureError(SignatureError.MISSING, f"{SIGNATURE_HEADER} header is required")
    if len(header) > _MAX_HEADER_LENGTH:
        raise SignatureError(SignatureError.MALFORMED, "header too long")
    timestamp: int | None = None
    signatures: list[str] = []
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureError(SignatureError.MALFORMED, f"expected key=value, got {item.strip()[:40]!r}")
        if key == "t":
            if timestamp is not None or not value.isascii() or not value.isdigit():
                raise SignatureError(SignatureError.MALFORMED, "t must appear once, as unix seconds")
            timestamp = int(value)
        elif key == SCHEME:
            if not _HEX_SHA256_RE.match(value):
                raise SignatureError(SignatureError.MALFORMED, "v1 must be 64 hex digits")
            signatures.append(value.lower())
    if timestamp is None:
        raise SignatureError(SignatureError.MALFORMED, "t is missing")
    if not signatures:
        raise SignatureError(SignatureError.MALFORMED, "no v1 signature")
    return timestamp, signatures


def verify_signature(
    header: str | None,
    body: bytes,
    secrets: Iterable[str],
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> int:
    """Check ``header`` against ``body`` and the source's active ``secrets``; return ``t``.

    Raises ``SignatureError`` with a reason. Every (secret, v1) pair is compared, with
    ``hmac.compare_digest``, so the time taken does not depend on where a match is.
    """
    timestamp, signatures = parse_signature_header(header)
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError(SignatureError.EXPIRED, f"t is {int(current - timestamp)} s from now")
    active = [s for s in secrets if s]
    if not active:
        raise SignatureError(SignatureError.UNKNOWN_SOURCE, "no active secret")
    matched = False
    for secret in active:
        expected = compute_signature(body, secret, timestamp)
        for candidate in signatures:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError(SignatureError.MISMATCH)
    return timestamp


def header_value(headers: Mapping[str, str] | None, name: str) -> str | None:
    """A header by case-insensitive name (API Gateway v2 lower-cases them; tests may not)."""
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def check_source_name(source: str) -> str:
    if not isinstance(source, str) or not _SOURCE_RE.match(source):
        raise SignatureError(SignatureError.MALFORMED, "source must match " + SOURCE_PATTERN)
    return source


class SourceSecrets(Protocol):
    """Where the active secrets of a source come from."""

    def secrets_for(self, source: str) -> list[str]: ...


class StaticSourceSecrets:
    """Secrets held in memory: unit tests, the bench, and the CLI when secrets are passed in."""

    def __init__(self, secrets: Mapping[str, Sequence[str]]) -> None:
        self._secrets = {source: list(values) for source, values in secrets.items()}

    def secrets_for(self, source: str) -> list[str]:
        check_source_name(source)
        found = self._secrets.get(source)
        if not found:
            raise UnknownSourceError(source)
        return list(found)


def decode_secret_value(raw: str | bytes | None) -> list[str]:
    """A parameter's value: a JSON list of secrets (``["new", "old"]``), or one plain secret."""
    if raw is None:
        return []
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    text = text.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
        except ValueError:
            return []
        if not isinstance(values, list):
            return []
        return [v for v in values if isinstance(v, str) and v]
    return [text] if text else []


class SsmSourceSecrets:
    """Active secrets per source in SSM Parameter Store, read through powertools and cached.

    One SecureString per source at ``<prefix>/sources/<source>`` holding a JSON list of its active
    secrets (two during a rotation: add the new one first, move senders, then drop the old one).
    Values are cached for ``max_age`` seconds, so a rotation takes effect within that time.
    """

    def __init__(self, prefix: str, *, max_age: int = 300, provider: SSMProvider | None = None) -> None:
        self.prefix = "/" + prefix.strip("/")
        self.max_age = max_age
        self._provider = provider

    def parameter_name(self, source: str) -> str:
        return f"{self.prefix}/sources/{check_source_name(source)}"

    def _get_provider(self) -> SSMProvider:
        if self._provider is None:
            # Imported here: keeps powertools' parameters (and its boto3 client) off the cold start
            # of code paths that never verify a signature.
            from aws_lambda_powertools.utilities.parameters import SSMProvider

            from shared.aws import client

            self._provider = SSMProvider(boto3_client=client("ssm"))  # type: ignore[arg-type]
        return self._provider

    def secrets_for(self, source: str) -> list[str]:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        name = self.parameter_name(source)
        try:
            raw = self._get_provider().get(name, max_age=self.max_age, decrypt=True)
        except GetParameterError as exc:
            raise UnknownSourceError(source) from exc
        secrets = decode_secret_value(raw)  # type: ignore[arg-type]
        if not secrets:
            raise UnknownSourceError(source)
        return secrets


def verify_request(
    headers: Mapping[str, str] | None,
    body: bytes,
    source: str,
    secrets: SourceSecrets,
    *,
    now: float | None = None,
) -> int:
    """Verify a request from ``source``: its ``X-Hub-Signature`` against the source's active secrets."""
    # Parse the header first, so a request without one never costs a parameter lookup.
    header = header_value(headers, SIGNATURE_HEADER)
    parse_signature_header(header)
    return verify_signature(header, body, secrets.secrets_for(source), now=now)
