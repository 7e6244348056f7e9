"""What a refusal names: the field and the reason (422 answers, refused configuration documents)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError


@dataclass(frozen=True)
class FieldError:
    """One bad field and why; the 422 answer is a list of these."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


def field_errors(exc: ValidationError, *, root: str = "body") -> list[FieldError]:
    """Turn a pydantic error into one `FieldError` per bad field (dotted path), first message kept."""
    errors: dict[str, FieldError] = {}
    for err in exc.errors(include_url=False, include_input=False):
        loc = ".".join(str(part) for part in err.get("loc", ()) if part != "__root__") or root
        message = str(err.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        errors.setdefault(loc, FieldError(loc, message))
    return list(errors.values())


class ConfigDocumentError(ValueError):
    """A configuration document that does not validate; `errors` names each field and the reason."""

    def __init__(self, document: str, errors: list[FieldError]) -> None:
        self.document = document
        self.errors = errors
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        super().__init__(f"{document} is invalid: {detail}")


Doc = TypeVar("Doc", bound=BaseModel)


def validate_yaml_document(
    text: str | bytes, model: type[Doc], *, document: str, context: dict[str, Any] | None = None
) -> Doc:
    """Parse a YAML document into `model`, or raise `ConfigDocumentError` naming the field and reason."""
    import yaml  # here, not at import: the functions load their documents through shared.config_store

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigDocumentError(document, [FieldError("document", f"not valid YAML: {exc}")]) from exc
    if not isinstance(data, dict):
        raise ConfigDocumentError(document, [FieldError("document", "must be a mapping")])
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigDocumentError(document, field_errors(exc, root="document")) from exc
