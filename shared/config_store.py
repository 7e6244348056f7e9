"""Configuration as data: YAML documents under ``config/`` in the hub's bucket.

A document is validated by its pydantic model when it is uploaded (``config_validator``
copies a valid one to ``config-good/<name>`` and records a refusal with the field and the
reason otherwise) and again when it is loaded. The models are ``shared.config_schemas`` (its
``registry`` says which validates which document). Loaders read only ``config-good/``, so a bad
upload never takes effect and the last good document stays in force. A loaded document is
cached and re-read only when its ETag changes. Without a bucket copy (unit tests, first
start), the document is read from ``HUB_CONFIG_DIR`` (the repository's ``config/``).

Beside the byte copy, the validator writes the same parsed document as JSON, ``config-good/<name>.json``
(``json_rendering``: only when JSON holds it exactly; otherwise it deletes that key), before the copy.
Loaders read the JSON first and validate its data with the same model, so a function never imports
PyYAML (its import compiles a large regular expression: about a seventh of ``import boto3``); without
the JSON (a document put there by hand, or not representable) they read the YAML copy as before.
"""

from __future__ import annotations

import json
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from shared.aws import client
from shared.observability import logger
from shared.settings import get_settings

M = TypeVar("M", bound=BaseModel)

GOOD_PREFIX = "config-good/"
JSON_SUFFIX = ".json"  # config-good/<name>.json: the good document's data as JSON (json_rendering)
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


def parse_document(name: str, raw: bytes) -> Any:
    """The data of one YAML document, or ``ConfigError`` when it is too large or not YAML."""
    import yaml  # here, not at import: loaders read the JSON rendering and never need it

    _check_size(name, raw)
    try:
        return yaml.safe_load(raw.decode("utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(name, [{"field": "(document)", "message": f"not valid YAML: {exc}"}]) from exc


def _check_size(name: str, raw: bytes) -> None:
    if len(raw) > MAX_DOCUMENT_BYTES:
        raise ConfigError(name, [{"field": "(document)", "message": "larger than 1 MiB"}])


def validate_data(name: str, data: Any, model: type[M], context: dict[str, Any] | None = None) -> M:
    """Validate a document's data with its model, or raise ``ConfigError`` naming every bad field.

    ``context`` reaches the model's validators (what the validator knows beyond the document itself)."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(document)", "message": e["msg"]}
            for e in exc.errors()
        ]
        raise ConfigError(name, errors) from exc


def validate_document(name: str, raw: bytes, model: type[M], context: dict[str, Any] | None = None) -> M:
    """Parse and validate one YAML document, or raise ``ConfigError`` naming every bad field."""
    return validate_data(name, parse_document(name, raw), model, context)


def json_key(name: str) -> str:
    """Where the validator keeps the JSON rendering of the good document ``name``."""
    return GOOD_PREFIX + name + JSON_SUFFIX


def json_rendering(data: Any) -> bytes | None:
    """A parsed document as JSON, when JSON gives back exactly the same data (the same types too); None when
    it would not (a YAML date, a number as a mapping's key, NaN): the loaders then read the YAML copy."""
    try:
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
    return text.encode("utf-8") if _same(json.loads(text), data) else None


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@dataclass
class _Cached:
    etag: str
    value: BaseModel
    key: str = ""  # the object read: the JSON rendering or the YAML copy ("" from HUB_CONFIG_DIR)


_cache: dict[str, _Cached] = {}
_MISSING, _NO_BUCKET = object(), object()


def load_config(name: str, model: type[M]) -> M:
    """The document ``name`` in force: the last good one, re-read when its ETag changes.

    The first read, and the re-checks of a document read from its JSON rendering, read that rendering; the
    YAML copy when there is none. A document read from the YAML copy or from ``HUB_CONFIG_DIR`` is re-checked
    against the YAML copy (one conditional GET, as before: the validator always writes it, the JSON not)."""
    bucket = get_settings().bucket
    cached = _cache.get(name)
    found: Any = _MISSING
    if cached is None or cached.key == json_key(name):
        found = _read(name, model, bucket, json_key(name), lambda raw: _parse_json(name, raw))
    if found is _MISSING:
        found = _read(name, model, bucket, GOOD_PREFIX + name, lambda raw: parse_document(name, raw))
    if found is _MISSING or found is _NO_BUCKET:
        return _load_local(name, model)
    return found  # type: ignore[no-any-return]


def _parse_json(name: str, raw: bytes) -> Any:
    _check_size(name, raw)
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ConfigError(name, [{"field": "(document)", "message": f"not valid JSON: {exc}"}]) from exc


def _read(name: str, model: type[M], bucket: str, key: str, parse: Callable[[bytes], Any]) -> M | object:
    """The document from ``key`` (the cached one when its ETag is unchanged), or ``_MISSING`` when the object
    is not there (``_NO_BUCKET``: nor the bucket)."""
    cached = _cache.get(name)
    s3 = client("s3")
    try:
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if cached and cached.key == key:
            kwargs["IfNoneMatch"] = cached.etag
        answer = s3.get_object(**kwargs)
    except s3.exceptions.NoSuchKey:
        return _MISSING
    except Exception as exc:  # botocore's ClientError for 304 and for a missing bucket
        code = getattr(exc, "response", {}).get("Error", {}).get("Code")
        if code in ("304", "NotModified") and cached:
            return cached.value
        if code == "NoSuchBucket":
            return _NO_BUCKET
        if code in ("NoSuchKey", "404"):
            return _MISSING
        if cached:
            logger.warning("config read failed, keeping the cached document", extra={"doc": name})
            return cached.value
        raise
    body = answer["Body"].read(MAX_DOCUMENT_BYTES + 1)
    try:
        value = validate_data(name, parse(body), model)
    except ConfigError as exc:
        if cached:
            logger.error("config invalid, keeping the last good", extra={"doc": name, "errors": exc.errors})
            return cached.value
        raise
    _cache[name] = _Cached(etag=answer["ETag"], value=value, key=key)
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
