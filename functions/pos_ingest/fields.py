"""Canonical POS fields and the header synonyms used when a distributor has no profile."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType
from typing import Final

# Normalised header text (see normalise_header) -> canonical field. Order within a field is priority.
SYNONYMS: Final[dict[str, tuple[str, ...]]] = {
    "invoice_date": (
        "invoice date",
        "inv date",
        "invoice dt",
        "date",
        "ship date",
        "shipped date",
        "transaction date",
        "sale date",
        "sales date",
        "posting date",
        "doc date",
        "document date",
        "billing date",
        "rechnungsdatum",
        "datum",
        "date facture",
        "date de facture",
        "factuurdatum",
    ),
    "invoice_number": (
        "invoice number",
        "invoice no",
        "invoice #",
        "invoice",
        "inv no",
        "inv #",
        "inv number",
        "invoice num",
        "invoice id",
        "document number",
        "doc no",
        "billing document",
        "rechnungsnummer",
        "rechnung",
        "numero facture",
        "n facture",
        "factuurnummer",
        "inv",
    ),
    "line": (
        "line",
        "line no",
        "line number",
        "line #",
        "invoice line",
        "line item",
        "item no",
        "pos",
        "position",
        "zeile",
        "ligne",
    ),
    "part_number": (
        "mpn",
        "part number",
        "part",
        "part no",
        "part #",
        "manufacturer part number",
        "mfr part number",
        "mfr part",
        "mfg part number",
        "item number",
        "product",
        "product number",
        "sku",
        "material",
        "artikelnummer",
        "artikel",
        "article",
        "reference",
        "ref",
    ),
    "quantity": (
        "qty",
        "quantity",
        "ship qty",
        "shipped qty",
        "qty shipped",
        "units",
        "pcs",
        "invoiced qty",
        "sales qty",
        "menge",
        "anzahl",
        "quantite",
        "aantal",
    ),
    "unit_price": (
        "unit price",
        "price",
        "resale",
        "unit resale",
        "unit resale price",
        "resale price",
        "unit cost",
        "sell price",
        "selling price",
        "net price",
        "einzelpreis",
        "preis",
        "prix unitaire",
        "stukprijs",
    ),
    "extended_amount": (
        "ext resale",
        "extended resale",
        "extended",
        "extended amount",
        "ext amount",
        "ext price",
        "extended price",
        "amount",
        "line total",
        "line amount",
        "net amount",
        "total",
        "sales",
        "revenue",
        "betrag",
        "gesamtpreis",
        "gesamtbetrag",
        "montant",
        "bedrag",
    ),
    "currency": ("currency", "currency code", "curr", "ccy", "cur", "wahrung", "devise", "valuta"),
    "end_customer": (
        "end customer",
        "end customer name",
        "customer name",
        "customer",
        "end user",
        "end user name",
        "ship to name",
        "ship to customer",
        "sold to name",
        "kunde",
        "endkunde",
        "kundenname",
        "client",
        "client final",
        "klant",
        "eindklant",
    ),
    "end_customer_country": (
        "end customer country",
        "country",
        "ship to country",
        "customer country",
        "country code",
        "land",
        "pays",
    ),
    "end_customer_state": (
        "end customer state",
        "state",
        "province",
        "region",
        "ship to state",
        "bundesland",
    ),
    "end_customer_postal_code": (
        "end customer postal code",
        "end customer zip",
        "zip",
        "zip code",
        "postal code",
        "postcode",
        "ship to zip",
        "plz",
        "code postal",
    ),
    "as_of_date": (
        "as of date",
        "as of",
        "snapshot date",
        "inventory date",
        "stock date",
        "report date",
        "date",
        "stichtag",
    ),
    "on_hand": (
        "on hand",
        "qty on hand",
        "on hand qty",
        "qoh",
        "stock",
        "stock qty",
        "available",
        "inventory",
        "bestand",
        "lagerbestand",
    ),
    "on_order": ("on order", "qty on order", "on order qty", "open po", "backlog", "bestellt"),
}

_NON_WORD = re.compile(r"[^0-9a-z#]+")


def normalise_header(text: object) -> str:
    """Lower-case, strip accents and punctuation (but '#'), collapse spaces: 'Ship Qty.' -> 'ship qty'."""
    if text is None:
        return ""
    folded = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode("ascii").lower()
    return " ".join(_NON_WORD.sub(" ", folded).split())


@lru_cache(maxsize=16)
def synonyms_for(fields: tuple[str, ...]) -> Mapping[str, str]:
    """Normalised synonym -> field, restricted to ``fields``; earlier fields win a shared synonym. Made
    once per set of fields (a file's layout search asks for every row it tries)."""
    table: dict[str, str] = {}
    for field in fields:
        for synonym in SYNONYMS.get(field, ()):
            table.setdefault(synonym, field)
        table.setdefault(normalise_header(field), field)
    return MappingProxyType(table)
