"""End-customer names: normalisation and matching to accounts (exact on normalised name or alias;
fuzzy scores only as suggestions, never applied).

Used by ``pos_ingest`` (matching sell-through to accounts) and ``reports_api`` (suggestions for the
unmatched end customers); the accounts come from the CRM table (``load_account_matcher``).
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

LEGAL_SUFFIXES = frozenset(
    [
        "inc",
        "incorporated",
        "llc",
        "llp",
        "lp",
        "ltd",
        "limited",
        "corp",
        "corporation",
        "co",
        "company",
        "plc",
        "gmbh",
        "mbh",
        "ag",
        "kg",
        "kgaa",
        "ohg",
        "ug",
        "sa",
        "sas",
        "sarl",
        "sasu",
        "sl",
        "sa",
        "de",
        "cv",
        "spa",
        "srl",
        "sro",
        "bv",
        "nv",
        "oy",
        "oyj",
        "ab",
        "as",
        "asa",
        "aps",
        "pty",
        "pte",
        "kk",
        "bhd",
        "sdn",
        "se",
        "eg",
        "ev",
    ]
)
_PUNCT = re.compile(r"[^0-9a-z]+")
ACCOUNTS_TTL_SECONDS = 300
_matcher_cache: dict[str, Any] = {"at": 0.0, "matcher": None}


def normalise_name(name: str) -> str:
    """'Müller GmbH & Co. KG' -> 'muller'; 'The ACME, Inc.' -> 'acme'. Never empties a real name."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii").lower()
    folded = folded.replace("&", " and ").replace("'", "")
    # dotted abbreviations: "s.a." -> "sa", "b.v." -> "bv"
    folded = re.sub(r"\b([a-z])\.(?=[a-z]\.)", r"\1", folded)
    tokens = _PUNCT.sub(" ", folded).split()
    if not tokens:
        return ""
    kept = list(tokens)
    if kept[0] == "the" and len(kept) > 1:
        kept.pop(0)
    while len(kept) > 1 and (kept[-1] in LEGAL_SUFFIXES or (kept[-1] == "and" and len(kept) < len(tokens))):
        kept.pop()
    return " ".join(kept)


@dataclass(frozen=True)
class AccountRef:
    account_id: str
    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Suggestion:
    account_id: str
    name: str
    score: float


@dataclass
class AccountMatcher:
    """Accounts by normalised name and alias. A name shared by two accounts matches neither."""

    accounts: Iterable[AccountRef] = ()
    _by_name: dict[str, str | None] = field(default_factory=dict, init=False)
    _names: dict[str, str] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for account in self.accounts:
            self._names[account.account_id] = account.name
            for text in (account.name, *account.aliases):
                key = normalise_name(text)
                if not key:
                    continue
                current = self._by_name.get(key, account.account_id)
                self._by_name[key] = account.account_id if current == account.account_id else None

    def match(self, normalised: str) -> str | None:
        return self._by_name.get(normalised)

    def suggest(self, name: str, limit: int = 3, cutoff: float = 70.0) -> list[Suggestion]:
        """Closest accounts by fuzzy score (0-100) on normalised names and aliases, best first."""
        from rapidfuzz import fuzz, process

        query = normalise_name(name)
        if not query or not self._by_name:
            return []
        choices = list(self._by_name)
        best: dict[str, float] = {}
        for _choice, score, index in process.extract(
            query, choices, scorer=fuzz.WRatio, limit=limit * 4, score_cutoff=cutoff
        ):
            account_id = self._by_name[choices[index]]
            if account_id is not None and score > best.get(account_id, -1):
                best[account_id] = score
        ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))[:limit]
        return [Suggestion(a, self._names[a], round(s, 1)) for a, s in ranked]


def account_refs() -> Iterator[AccountRef]:
    """Every account with its name and aliases, from the CRM store's account list (``list_accounts``)."""
    from shared.store.crm import DynamoCrmStore

    for account in DynamoCrmStore().list_accounts():
        if account.account_id and account.name:
            yield AccountRef(account.account_id, account.name, tuple(account.aliases))


def load_account_matcher(max_age: float = ACCOUNTS_TTL_SECONDS) -> AccountMatcher:
    """The accounts as a matcher, cached for ``max_age`` seconds per process (a few minutes by default)."""
    if _matcher_cache["matcher"] is not None and time.monotonic() - _matcher_cache["at"] < max_age:
        return _matcher_cache["matcher"]  # type: ignore[no-any-return]
    matcher = AccountMatcher(list(account_refs()))
    _matcher_cache.update(at=time.monotonic(), matcher=matcher)
    return matcher


def forget_accounts() -> None:
    """Drop the cached matcher (tests, and after accounts changed)."""
    _matcher_cache.update(at=0.0, matcher=None)
