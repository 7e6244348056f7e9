"""The POS table's run key, light to import: a reader of the run records' stream (the alerts function)
names a run without loading the POS store and its item models. ``shared.store.pos`` re-exports it."""

from __future__ import annotations


def run_key(object_key: str, version: str) -> tuple[str, str]:
    return f"RUN#{object_key}", f"VERSION#{version}"
