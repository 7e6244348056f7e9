"""Lead statuses and opportunity stages (``config/stages.yaml``): names, order, probability.

The document is configuration as data: validated by ``StageCatalog`` when it is uploaded and when
it is loaded. Names are matched case-insensitively (and through ``aliases``) and always come back
in their canonical spelling, so what is stored is the catalogue's name, never the sender's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationError,
    field_validator,
)

StageName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
Outcome = Literal["open", "hold", "won", "lost"]

DEFAULT_STAGES_PATH = Path(__file__).resolve().parents[2] / "config" / "stages.yaml"


def _key(name: str) -> str:
    return " ".join(name.split()).casefold()


class Stage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: StageName
    order: int = Field(ge=1)
    probability: int = Field(ge=0, le=100, description="Win probability in percent")
    outcome: Outcome = "open"
    aliases: tuple[StageName, ...] = ()

    @property
    def is_closed(self) -> bool:
        return self.outcome in ("won", "lost")


def _check_unique(stages: list[Stage]) -> None:
    names: dict[str, str] = {}
    orders: dict[int, str] = {}
    for stage in stages:
        for key in {_key(spelling) for spelling in (stage.name, *stage.aliases)}:
            if key in names:
                raise ValueError(f"{stage.name!r} reuses the name {key!r} of {names[key]!r}")
            names[key] = stage.name
        if stage.order in orders:
            raise ValueError(f"order {stage.order} used by {orders[stage.order]!r} and {stage.name!r}")
        orders[stage.order] = stage.name


class StageCatalog(BaseModel):
    """The validated ``config/stages.yaml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = 1
    lead_statuses: list[Stage] = Field(min_length=1)
    opportunity_stages: list[Stage] = Field(min_length=1)

    _leads: dict[str, Stage] = PrivateAttr(default_factory=dict)
    _opportunities: dict[str, Stage] = PrivateAttr(default_factory=dict)

    @field_validator("lead_statuses", "opportunity_stages")
    @classmethod
    def _unique(cls, stages: list[Stage]) -> list[Stage]:
        _check_unique(stages)
        return stages

    def model_post_init(self, context: Any, /) -> None:
        for index, stages in (
            (self._leads, self.lead_statuses),
            (self._opportunities, self.opportunity_stages),
        ):
            for stage in stages:
                for spelling in (stage.name, *stage.aliases):
                    index[_key(spelling)] = stage

    def lead_status(self, name: str) -> Stage | None:
        """The lead status called ``name`` (any case, or an alias), or None."""
        return self._leads.get(_key(name))

    def opportunity_stage(self, name: str) -> Stage | None:
        """The opportunity stage called ``name`` (any case, or an alias), or None."""
        return self._opportunities.get(_key(name))

    def require_lead_status(self, name: str) -> Stage:
        """The lead status called ``name``; ``ValueError`` naming the known ones otherwise."""
        return _require(self.lead_status(name), name, "lead status", self.lead_status_names())

    def require_opportunity_stage(self, name: str) -> Stage:
        """The opportunity stage called ``name``; ``ValueError`` naming the known ones otherwise."""
        return _require(
            self.opportunity_stage(name), name, "opportunity stage", self.opportunity_stage_names()
        )

    def lead_status_names(self) -> list[str]:
        return [s.name for s in sorted(self.lead_statuses, key=lambda s: s.order)]

    def opportunity_stage_names(self) -> list[str]:
        return [s.name for s in sorted(self.opportunity_stages, key=lambda s: s.order)]


def _require(found: Stage | None, name: str, kind: str, known: list[str]) -> Stage:
    if found is None:
        raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(known)}")
    return found


class StagesConfigError(ValueError):
    """A stages document that cannot be used; ``errors`` lists ``{"field", "message"}``."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{e['field']}: {e['message']}" for e in errors))


def parse_stages(text: str | bytes) -> StageCatalog:
    """Validate a stages YAML document; raises ``StagesConfigError`` with the field and the reason."""
    import yaml  # here: the functions load the catalog through shared.config_store, without PyYAML

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise StagesConfigError([{"field": "", "message": f"not valid YAML: {exc}"}]) from exc
    try:
        return StageCatalog.model_validate(document)
    except ValidationError as exc:
        errors = [
            {
                "field": ".".join(str(p) for p in err["loc"]),
                "message": err["msg"].removeprefix("Value error, "),
            }
            for err in exc.errors()
        ]
        raise StagesConfigError(errors) from exc


def load_stages_file(path: Path | str = DEFAULT_STAGES_PATH) -> StageCatalog:
    """The stages document shipped in the repository (tests, the CLI and the local hub's seed)."""
    return parse_stages(Path(path).read_bytes())
