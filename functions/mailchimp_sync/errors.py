"""What can go wrong talking to MailChimp, classified once so callers only decide what to record."""

from __future__ import annotations

from typing import Literal

BlockReason = Literal["compliance_state", "forgotten_email", "invalid_email", "invalid_resource"]


class MailchimpError(Exception):
    """Base: a MailChimp call did not succeed."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        title: str | None = None,
        detail: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.title = title
        self.detail = detail
        self.operation = operation

    @property
    def summary(self) -> str:
        """One line for the contact's ``last_error``."""
        parts = [p for p in (str(self.status) if self.status else None, self.title, self.detail) if p]
        return ": ".join(parts) if parts else str(self)


class RetryableMailchimpError(MailchimpError):
    """429, 5xx, time-outs and connection errors, still failing when the time budget ran out.

    The change must be retried later (the stream retries the record, then the dead-letter queue)."""

    def __init__(self, message: str, *, attempts: int = 0, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.attempts = attempts


class BlockedMemberError(MailchimpError):
    """Final: MailChimp will never accept this member as sent. Recorded on the contact, never retried."""

    def __init__(self, message: str, *, reason: BlockReason, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.reason = reason


class MailchimpRequestError(MailchimpError):
    """Another 4xx (bad key, unknown audience, a rejected body): not retried here, not a member's fault.

    The record fails so it is retried and, if it keeps failing, lands in the dead-letter queue."""


class MemberNotFoundError(MailchimpRequestError):
    """404 on a member: the audience does not hold this email."""
