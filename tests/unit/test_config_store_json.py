"""The JSON rendering of a good configuration document (``config-good/<name>.json``): written only when JSON
gives back exactly the data the YAML parser gave, types included, so a function validates the same data."""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.config_store import json_rendering

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.mark.parametrize("name", sorted(p.relative_to(CONFIG).as_posix() for p in CONFIG.rglob("*.yaml")))
def test_every_shipped_document_has_a_json_rendering_giving_back_its_data(name: str) -> None:
    # Given a shipped document's data as the YAML parser gives it
    data = yaml.safe_load((CONFIG / name).read_bytes())
    # When it is rendered as JSON
    rendering = json_rendering(data)
    # Then JSON gives back the same data
    assert rendering is not None
    assert json.loads(rendering) == data


@pytest.mark.parametrize(
    "data",
    [
        {"start": date(2026, 1, 1)},  # a YAML date
        {"rates": {2026: 1}},  # a number as a key would come back as text
        {"pools": {True: "x"}},
        {"rate": math.nan},
        {"name": b"bytes"},  # !!binary
        {"tags": {"a", "b"}},  # !!set
        {"nested": [{"when": date(2026, 1, 1)}]},
    ],
)
def test_data_json_cannot_hold_exactly_has_no_rendering(data: dict[str, Any]) -> None:
    assert json_rendering(data) is None


def test_numbers_and_booleans_keep_their_types() -> None:
    data = {"a": 1, "b": 1.0, "c": True, "d": None, "e": [0, 0.5, False], "f": "ü"}
    rendering = json_rendering(data)
    assert rendering is not None
    back = json.loads(rendering)
    assert back == data
    assert [type(v) for v in back.values()] == [int, float, bool, type(None), list, str]
    assert [type(v) for v in back["e"]] == [int, float, bool]
