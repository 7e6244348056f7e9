"""Create the audience's missing merge fields (`hub mailchimp setup`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from mailchimp_sync.errors import MailchimpError
from mailchimp_sync.gateway import Budget, MailchimpGateway
from mailchimp_sync.segments import MERGE_FIELDS


class SetupReport(BaseModel):
    existing: list[str] = Field(default_factory=list)
    created: list[str] = Field(default_factory=list)
    failed: dict[str, str] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed


def set_up_merge_fields(gateway: MailchimpGateway, budget: Budget | None = None) -> SetupReport:
    """Every merge field the sync writes exists afterwards; nothing existing is changed."""
    present = {f.get("tag", "").upper() for f in gateway.merge_fields(budget)}
    report = SetupReport()
    for tag, name, type_ in MERGE_FIELDS:
        if tag in present:
            report.existing.append(tag)
            continue
        try:
            body = {"tag": tag, "name": name, "type": type_, "public": False}
            if type_ == "phone":
                body["options"] = {"phone_format": "none"}  # international numbers (E.164) as stored
            gateway.add_merge_field(body, budget)
        except MailchimpError as err:
            report.failed[tag] = err.summary
        else:
            report.created.append(tag)
    return report
