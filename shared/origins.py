"""Which web origins may call the public lead form from a browser, and where a form may send the visitor.

One list in ``config/leads.yaml`` (``cors.allowed_origins``) answers both questions: the CORS preflight
of ``POST /leads`` (a page on an allowed origin may post JSON with ``fetch()``) and a form's hidden
``return_url`` (the hub answers ``303 See Other`` only to a URL on an allowed origin, never anywhere
else: no open redirect).

An entry is an origin as a browser sends it, ``scheme://host[:port]``, with two wildcards:
``:*`` for any port (``http://localhost:*``) and a leading ``*.`` for any subdomain
(``https://*.example.com``, which does not match ``https://example.com`` itself). Scheme and host
compare case-insensitively; a default port may be left out (``https://example.com`` is
``https://example.com:443``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST = re.compile(
    r"^(\*\.)?([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$"
)
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_PATTERN = re.compile(r"^(?P<scheme>https?)://(?P<host>[^/:?#@\s\\]+)(?::(?P<port>\*|\d{1,5}))?$")
# What a URL may not hold for the hub to send a browser to it: whitespace, control characters and
# backslashes (which browsers read as slashes), so the URL means the same to the hub and the browser.
_UNSAFE_URL = re.compile(r"[\s\x00-\x1f\x7f\\]")
MAX_RETURN_URL = 2000


@dataclass(frozen=True)
class OriginPattern:
    scheme: str
    host: str  # without the "*." of a subdomain wildcard
    port: int | None  # None: any port
    subdomains: bool = False

    @classmethod
    def parse(cls, text: str) -> OriginPattern:
        found = _PATTERN.match(text.strip().lower())
        if found is None:
            raise ValueError(f"{text!r} is not an origin (scheme://host[:port], http or https, no path)")
        scheme, host, port = found["scheme"], found["host"], found["port"]
        if not (_HOST.match(host) or _IPV4.match(host)):
            raise ValueError(f"{text!r}: {host!r} is not a host name")
        if host.startswith("*.") and host.count(".") < 2:
            raise ValueError(f"{text!r}: a subdomain wildcard needs a domain of two labels or more")
        number = None if port == "*" else int(port) if port else _DEFAULT_PORTS[scheme]
        if number is not None and not 0 < number < 65536:
            raise ValueError(f"{text!r}: port {number} is out of range")
        return cls(scheme, host.removeprefix("*."), number, host.startswith("*."))

    def matches(self, scheme: str, host: str, port: int) -> bool:
        if scheme != self.scheme or (self.port is not None and port != self.port):
            return False
        return host.endswith("." + self.host) if self.subdomains else host == self.host


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    @classmethod
    def of_url(cls, url: str) -> Origin | None:
        """The origin of an absolute http(s) URL, or None for anything a browser could read otherwise."""
        if not url or len(url) > MAX_RETURN_URL or _UNSAFE_URL.search(url):
            return None
        try:
            split = urlsplit(url)
            port = split.port
        except ValueError:
            return None
        scheme = split.scheme.lower()
        if scheme not in _DEFAULT_PORTS or not split.hostname or split.username is not None:
            return None
        if split.password is not None or "@" in split.netloc:
            return None
        return cls(scheme, split.hostname.lower().rstrip("."), port or _DEFAULT_PORTS[scheme])

    @classmethod
    def of_header(cls, value: str | None) -> Origin | None:
        """The ``Origin`` request header's origin (``null`` and anything with a path are no origin)."""
        if not value or value.strip().lower() == "null":
            return None
        value = value.strip()
        if urlsplit(value).path not in ("",):
            return None
        return cls.of_url(value)


class CorsSettings(BaseModel):
    """``cors:`` in config/leads.yaml: the origins whose pages may post leads from a browser."""

    model_config = ConfigDict(extra="forbid")

    allowed_origins: list[str] = Field(default_factory=list, max_length=100)
    # How long a browser may keep a preflight's answer.
    max_age_seconds: int = Field(default=600, ge=0, le=86_400)

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        cleaned = []
        for value in values:
            OriginPattern.parse(value)  # raises with the reason
            cleaned.append(value.strip().lower())
        return cleaned

    def patterns(self) -> list[OriginPattern]:
        return [OriginPattern.parse(v) for v in self.allowed_origins]

    def allows(self, origin: Origin | None) -> bool:
        return origin is not None and any(
            p.matches(origin.scheme, origin.host, origin.port) for p in self.patterns()
        )

    def allows_origin_header(self, value: str | None) -> bool:
        return self.allows(Origin.of_header(value))

    def allows_return_url(self, url: str | None) -> bool:
        """A URL the hub may send a browser to: absolute http(s) on an allowed origin, nothing else."""
        return url is not None and self.allows(Origin.of_url(url))
