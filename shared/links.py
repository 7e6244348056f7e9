"""Signed links: the file links in the hub's emails open in a browser, without a bearer token.

A read route behind the JWT authorizer (``GET /pos/rejects?key=…``) cannot be opened from a mail client:
the click sends no token and gets 401. So an email names the same route under ``/links`` with the same
query, an expiry and a signature: ``/links/pos/rejects?key=…&expires=<unix seconds>&signature=<hex>``.
The ``/links`` routes have no authorizer; the reports function checks the signature (HMAC-SHA256 over
the method, the route's path, its query in sorted order and the expiry, with the hub's link key) and the
expiry, then answers what the route itself would. A signed link opens one file (one key, one year and
month and format) until it expires (``LINK_DAYS``, 30 days by default), for whoever holds the email: as
a presigned URL would, but through the API, so it outlives the 7 days S3 allows and the answer is the
route's own (the size rule, the redirect for a large file, the 404 that says why).

The key is a Secrets Manager secret the template generates (``LINKS_SECRET_NAME``; nobody types it).
Changing the secret's value makes every link signed before it invalid (403); the routes with a token
stay open. Without a secret name (or an API address to link to) emails name the token route, as before.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlencode

LINK_PREFIX = "/links"
EXPIRES = "expires"
SIGNATURE = "signature"


class LinkRefused(Exception):
    """A signed link that cannot be honoured: ``status`` 403 (not signed by the hub) or 410 (expired)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _canonical(path: str, params: Mapping[str, str], expires: int) -> bytes:
    query = urlencode(sorted(params.items()))
    return f"GET\n{path}\n{query}\n{expires}".encode()


def signature_of(key: bytes, path: str, params: Mapping[str, str], expires: int) -> str:
    """The hex HMAC-SHA256 of a link to ``path`` (the token route's own path) with ``params``."""
    return hmac.new(key, _canonical(path, params, expires), hashlib.sha256).hexdigest()


def check(
    key: bytes, path: str, params: Mapping[str, str], expires: str | None, signature: str | None, now: float
) -> None:
    """Raise ``LinkRefused`` unless the link to ``path`` with ``params`` is signed with ``key`` and unexpired.

    The signature is checked before the expiry (an expiry nobody signed says nothing); comparisons are
    constant time."""
    if not expires or not signature or not expires.isdigit() or len(expires) > 12:
        raise LinkRefused(403, "this link is not signed by the hub: use the link as the email gave it")
    good = signature_of(key, path, params, int(expires))
    if not hmac.compare_digest(good, signature.lower()):
        raise LinkRefused(
            403,
            "this link is not signed by the hub (changed, cut short, or signed with a key since replaced): "
            "use the link as the email gave it",
        )
    if int(expires) < now:
        when = datetime.fromtimestamp(int(expires), UTC).strftime("%Y-%m-%d %H:%M UTC")
        raise LinkRefused(
            410,
            f"this link expired on {when}; the file is still served by {path} with a token "
            "(the hub command line: hub pos rejects / hub leads results / hub report plan --from-hub)",
        )


@dataclass
class LinkSigner:
    """Signs links to the read API at ``api_url`` for ``days`` days; the key is fetched on first use."""

    api_url: str
    key: Callable[[], bytes]
    days: int = 30
    clock: Callable[[], float] = time.time

    def link(self, path: str, params: Mapping[str, str]) -> str | None:
        """The signed link, or None when the key cannot be read (the email then names the token route,
        rather than failing the alert: the reason is logged, and the file stays reachable)."""
        expires = int(self.clock()) + self.days * 86_400
        try:
            key = self.key()
        except Exception as error:  # any failure to read the key: the token route instead
            from shared.observability import logger

            logger.warning(
                "link key unavailable: the email names the token route",
                extra={"error": f"{type(error).__name__}: {error}"},
            )
            return None
        signature = signature_of(key, path, params, expires)
        pairs = [*params.items(), (EXPIRES, str(expires)), (SIGNATURE, signature)]
        query = urlencode(pairs, safe="/", quote_via=quote)
        return f"{self.api_url.rstrip('/')}{LINK_PREFIX}{path}?{query}"


def secret_key(secret_name: str) -> bytes:
    """The link key: the secret's value (cached for 5 minutes, as powertools' parameters do)."""
    from aws_lambda_powertools.utilities.parameters import get_secret

    value = get_secret(secret_name, max_age=300)
    text = value if isinstance(value, str) else bytes(value).decode()
    if len(text) < 32:
        raise ValueError(f"the link key in {secret_name} is too short ({len(text)} characters; 32 at least)")
    return text.encode()


def link_signer() -> LinkSigner | None:
    """The signer the settings describe, or None (no API address or no link key: token routes)."""
    from shared.settings import get_settings

    settings = get_settings()
    if not settings.api_url or not settings.links_secret_name:
        return None
    name = settings.links_secret_name
    return LinkSigner(settings.api_url, lambda: secret_key(name), settings.link_days)
