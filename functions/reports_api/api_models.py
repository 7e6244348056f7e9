"""What the read routes answer, as declared to the OpenAPI document (see ``shared.api_models``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from shared.api_models import OpenModel

Scalar = str | int | float | bool | None


class Submission(OpenModel):
    submission_id: str
    received_at: str
    source: str | None = None
    outcome: str
    quarantine_reasons: list[str] = []
    fields: dict[str, Any] | None = None


class LeadView(OpenModel):
    """``GET /leads/{lead_id}``: the lead with its owner, status, segments, sync state and history."""

    lead_id: str
    email: str
    first_name: str | None = None
    last_name: str | None = None
    company: str | None = None
    country: str | None = None
    employees: int | None = None
    annual_revenue: str | None = None
    owner: str | None = None
    territory_id: str | None = None
    status: str | None = None
    source: str | None = None
    quarantined: bool | None = None
    marketing_opt_in: bool | None = None
    assignment: dict[str, Any] | None = None
    segments: dict[str, Any]
    mailchimp: dict[str, Any]
    created_at: str | None = None
    updated_at: str | None = None
    queue: str | None = None
    quarantine_reasons: list[str] = []
    submissions: list[Submission] = []


class StageChange(BaseModel):
    from_stage: str | None = None
    to_stage: str | None = None
    at: str | None = None


class OpportunityView(OpenModel):
    """``GET /opportunities/{opportunity_id}``: money as exact decimal text when fractional."""

    opportunity_id: Scalar = None
    account_id: Scalar = None
    name: Scalar = None
    owner: Scalar = None
    stage: Scalar = None
    probability: Scalar = None
    amount: Scalar = None
    close_date: Scalar = None
    stage_history: list[StageChange]


class PosRun(OpenModel):
    """One object's ingestion: rows total, accepted, rejected, status."""

    key: str
    version: str
    distributor: str
    kind: str
    status: str
    rows_total: int
    accepted: int
    rejected: int
    amount_accepted: dict[str, str] = {}
    started_at: str | None = None
    finished_at: str | None = None
    rejects_key: str | None = None
    error: str | None = None
    run_id: str


class PosRunView(PosRun):
    """``GET /pos/runs?key=``: the newest version's run, with every version's run."""

    versions: list[PosRun]


class InventoryPart(OpenModel):
    part_number: str
    as_of_date: str | None = None
    on_hand: Scalar = None
    on_order: Scalar = None
    run_id: str | None = None


class PosInventory(OpenModel):
    distributor: str
    parts: list[InventoryPart]


class UnmatchedCustomer(OpenModel):
    end_customer: str | None = None
    normalised_name: str
    amounts: dict[str, str]
    lines: int
    distributors: list[str]
    suggestions: list[dict[str, Any]]


class PosUnmatched(OpenModel):
    unmatched: list[UnmatchedCustomer]


class AlertsView(OpenModel):
    """``GET /alerts``: the alerts recorded (sent, held, digested, fallen back), oldest first."""

    recipient: str | None = None
    since: str
    count: int
    truncated: bool
    alerts: list[dict[str, Any]]


class PlanNodeView(OpenModel):
    """``GET /plan/{year}/nodes/{node_id}``: money as exact decimal text, percentages as fractions."""

    year: int
    node: dict[str, Any]
    quarters: dict[str, Any]
    ytd: dict[str, Any] | None = None
    last_year: dict[str, Any] | None = None
    children: list[Any] | None = None
    as_of: str | None = None


class PlanTree(OpenModel):
    year: int
    depth: int
    nodes: list[dict[str, Any]]
    as_of: str


class PipelineView(OpenModel):
    root: str | None = None
    year: int
    quarter: int | None = None
    stages: list[dict[str, Any]]
    count: int
    amount: str
    weighted_amount: str
    weighted_pipeline: str


class RepAttainment(OpenModel):
    accounts: list[str]


class Ambiguous(OpenModel):
    """409: an id that names nodes of several types (``?type=`` picks one)."""

    message: str
    types: list[str]
