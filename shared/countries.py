"""Countries as people write them, to ISO 3166 alpha-2 (lead forms and routing rules both take names)."""

from __future__ import annotations

# Names people write that pycountry's lookup does not know.
COUNTRY_ALIASES: dict[str, str] = {
    "uk": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "russia": "RU",
    "turkey": "TR",
    "holland": "NL",
    "the netherlands": "NL",
    "ivory coast": "CI",
    "macedonia": "MK",
    "swaziland": "SZ",
    "cape verde": "CV",
    "burma": "MM",
    "america": "US",
    "united states of america": "US",
    "south korea": "KR",
    "north korea": "KP",
    "iran": "IR",
    "syria": "SY",
    "laos": "LA",
    "vietnam": "VN",
    "moldova": "MD",
    "tanzania": "TZ",
    "venezuela": "VE",
    "bolivia": "BO",
    "taiwan": "TW",
}


def country_code(value: str) -> str:
    """ISO 3166 alpha-2 for an alpha-2 or alpha-3 code or an English name; ValueError when unknown."""
    key = value.strip().replace(".", "").lower()
    if key in COUNTRY_ALIASES:
        return COUNTRY_ALIASES[key]
    import pycountry  # on first use: its tables are large (cold start)

    try:
        return str(pycountry.countries.lookup(key).alpha_2)
    except LookupError:
        raise ValueError("unknown country (use a name or an ISO 3166 code)") from None
