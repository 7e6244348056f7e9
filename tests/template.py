"""``infra/template.yaml`` read once for the test process.

``HubTemplate()`` parses the YAML every time (a twentieth of a second when the machine is quiet, several
times that under load), and the tests built one for every ``aws`` or ``moto_tables`` fixture and every
``http_event``: a thousand parses a run. ``template()`` is a copy of one read (the ``physical`` names a
fixture fills in stay its own); ``routes()`` are the routes of that read. The file does not change
during a run.
"""

from __future__ import annotations

import copy
from functools import cache

from hub.local.template import HubTemplate, Route


@cache
def _read() -> HubTemplate:
    return HubTemplate()


def template() -> HubTemplate:
    """What ``HubTemplate()`` gives, without reading the file again."""
    return copy.deepcopy(_read())


@cache
def _routes() -> tuple[Route, ...]:
    return tuple(_read().routes())


def routes() -> tuple[Route, ...]:
    """The template's HTTP API routes (read-only)."""
    return _routes()
