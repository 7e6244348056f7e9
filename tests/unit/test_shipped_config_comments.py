"""The shipped configuration documents say which model validates them: the name they give is that model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.config_schemas.registry import model_for

CONFIG = Path(__file__).resolve().parents[2] / "config"
_NAMED = re.compile(r"validated by (?P<module>[a-z_.]+)\.(?P<model>[A-Z]\w*)")


def _named_models() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted(CONFIG.rglob("*.yaml")):
        for match in _NAMED.finditer(path.read_text(encoding="utf-8")):
            found.append((path.relative_to(CONFIG).as_posix(), match["module"], match["model"]))
    return found


def test_some_shipped_documents_name_their_model() -> None:
    assert {name for name, _, _ in _named_models()} >= {"alerts.yaml", "leads.yaml", "routing.yaml"}


@pytest.mark.parametrize(("name", "module", "model"), _named_models())
def test_the_model_a_document_names_is_the_one_that_validates_it(name: str, module: str, model: str) -> None:
    validator = model_for(name)
    assert f"{module}.{model}" == f"{validator.__module__}.{validator.__name__}"
