"""Configuration as data: YAML documents under ``config/`` in the hub's bucket.

A document is validated by its pydantic model when it is uploaded (``config_validator``
copies a valid one to ``config-good/<name>`` and records a refusal with the field and the
reason otherwise) and again when it is loaded. The models are ``shared.config_schemas`` (its
``registry`` says which validates which document). Loaders read only ``config-good/``, so a bad
upload never takes effect and the last good document stays in force. A loaded document is
cached and re-read only when its ETag changes. Without a bucket copy (unit tests, first
start), the document is read from ``HUB_CONFIG_DIR`` (the repository's ``config/``).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from shared.aws import client
from shared.observability import logger
from shared.settings import get_settings

M = TypeVar("M", bound=BaseModel)

GOOD_PREFIX = "config-good/"
UPLOAD_PREFIX = "config/"
MAX_DOCUMENT_BYTES = 1024 * 1024
CONFIG_RECHECK_SECONDS = 30.0


class ConfigError(ValueError):
    """A configuration document that does not validate; ``errors`` name each field and reason."""

    def __init__(self, name: str, errors: list[dict[str, str]]) -> None:
        self.name = name
        self.errors = errors
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
        super().__init__(f"{name} refused: {detail}")


def validate_document(name: str, raw: bytes, model: type[M], context: dict[str, Any] | None = None) -> M:
    """Parse and validate one YAML document, or raise ``ConfigError`` naming every bad field.

    ``context`` reaches the model's validators (what the validator knows beyond the document itself)."""
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise ConfigError(name, [{"field": "(document)", "message": "larger than 1 MiB"}])
    try:
        data = yaml.safe_load(raw.decode("utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(name, [{"field": "(document)", "message": f"not valid YAML: {exc}"}]) from exc
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(document)", "message": e["msg"]}
            for e in exc.errors()
        ]
        raise ConfigError(name, errors) from exc


@dataclass
class _Cached:
    etag: str
    value: BaseModel


_cache: dict[str, _Cached] = {}


def load_config(name: str, model: type[M]) -> M:
    """The document ``name`` in force: the last good one, re-read when its ETag changes."""
    settings = get_settings()
    cached = _cache.get(name)
    s3 = client("s3")
    try:
        kwargs: dict[str, Any] = {"Bucket": settings.bucket, "Key": GOOD_PREFIX + name}
        if cached:
            kwargs["IfNoneMatch"] = cached.etag
        answer = s3.get_object(**kwargs)
    except s3.exceptions.NoSuchKey:
        return _load_local(name, model)
    except Exception as exc:  # botocore's ClientError for 304 and for a missing bucket
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code in ("304", "NotModified") and cached:
            return cached.value  # type: ignore[return-value]
        if code in ("NoSuchBucket", "NoSuchKey", "404"):
            return _load_local(name, model)
        if cached:
            logger.warning("config read failed, keeping the cached document", extra={"doc": name})
            return cached.value  # type: ignore[return-value]
        raise
    body = answer["Body"].read(MAX_DOCUMENT_BYTES + 1)
    try:
        value = validate_document(name, body, model)
    except ConfigError as exc:
        if cached:
            logger.error("config invalid, keeping the last good", extra={"doc": name, "errors": exc.errors})
            return cached.value  # type: ignore[return-value]
        raise
    _cache[name] = _Cached(etag=answer["ETag"], value=value)
    return value


def _load_local(name: str, model: type[M]) -> M:
    cached = _cache.get(name)
    directory = get_settings().config_dir
    if not directory:
        if cached:
            return cached.value  # type: ignore[return-value]
        raise ConfigError(name, [{"field": "(document)", "message": "not found in the bucket"}])
    path = Path(directory) / name
    if not path.is_file():
        raise ConfigError(name, [{"field": "(document)", "message": f"not found in the bucket nor {path}"}])
    raw = path.read_bytes()
    value = validate_document(name, raw, model)
    _cache[name] = _Cached(etag=f"local:{path.stat().st_mtime_ns}", value=value)
    return value


_rechecked: weakref.WeakSet[RecheckedConfig[Any]] = weakref.WeakSet()


class RecheckedConfig(Generic[M]):
    """A document whose ETag is checked at most every `every` seconds (not on every lead or stream batch):
    a change takes effect within that time. ``clear_cache`` makes every one read again on its next use."""

    def __init__(
        self,
        name: str,
        model: type[M],
        every: float = CONFIG_RECHECK_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name, self.model, self.every, self.clock = name, model, every, clock
        self._value: M | None = None
        self._checked = 0.0
        self._lock = threading.Lock()
        _rechecked.add(self)

    def __call__(self, *, now: bool = False) -> M:
        """The document; checked against the bucket when `every` seconds have passed (or `now`)."""
        with self._lock:
            if now or self._value is None or self.clock() - self._checked >= self.every:
                self._value = load_config(self.name, self.model)
                self._checked = self.clock()
            return self._value

    def forget(self) -> None:
        with self._lock:
            self._value = None


def clear_cache() -> None:
    _cache.clear()
    for rechecked in list(_rechecked):
        rechecked.forget()
