"""Invoking the hub's handlers in this process, the way Lambda would.

Each function's handler is imported on first use (``functions/`` is on the path, as the code
asset is on Lambda's) and called with the event and a context whose remaining time counts
down from the template's timeout. Invocations of one function are serialised, as one Lambda
instance handles one event at a time.
"""

from __future__ import annotations

import importlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hub.local.template import FunctionSpec


@dataclass
class LocalContext:
    """The parts of Lambda's context object that handlers and powertools read."""

    function_name: str
    timeout_seconds: int
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionRuntime:
    """The hub's functions, by logical id, ready to invoke."""

    def __init__(self, functions: dict[str, FunctionSpec]) -> None:
        self.functions = functions
        self._handlers: dict[str, Callable[[dict[str, Any], Any], Any]] = {}
        self._locks = {lid: threading.Lock() for lid in functions}
        self._import_lock = threading.Lock()

    def handler(self, logical_id: str) -> Callable[[dict[str, Any], Any], Any]:
        with self._import_lock:
            if logical_id not in self._handlers:
                spec = self.functions[logical_id]
                module = importlib.import_module(spec.module)
                self._handlers[logical_id] = getattr(module, spec.handler.rsplit(".", 1)[1])
            return self._handlers[logical_id]

    def invoke(self, logical_id: str, event: dict[str, Any]) -> Any:
        spec = self.functions[logical_id]
        handler = self.handler(logical_id)
        with self._locks[logical_id]:
            return handler(event, LocalContext(function_name=logical_id, timeout_seconds=spec.timeout))
