"""What ``POST /mailchimp/webhook/{token}`` takes and answers, as declared to the OpenAPI document."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

# MailChimp posts its events as a form: type, fired_at and data[...] fields (data[email], data[list_id]...).
WEBHOOK_REQUEST: dict[str, Any] = {
    "requestBody": {
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "type": {"type": "string", "examples": ["unsubscribe"]},
                        "fired_at": {"type": "string"},
                        "data[email]": {"type": "string"},
                        "data[list_id]": {"type": "string"},
                    },
                    "additionalProperties": {"type": "string"},
                }
            }
        }
    }
}


class WebhookAnswer(BaseModel):
    applied: bool
    note: str
