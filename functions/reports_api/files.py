"""Handing a file of the hub's bucket to its reader: the file itself when it is small, else a redirect.

A file of at most ``INLINE_LIMIT`` bytes is answered as ``200`` with its content type (``text/csv`` for
the CSVs; the board report's page and workbook as theirs) (one request, any client, no
second host to reach); a larger one as ``302`` to a presigned S3 GET that lasts ``LINK_SECONDS``, so a
file of any size reaches its reader without passing through the Lambda's 6 MB answer (a body goes out
base64-encoded: 1 MiB is 1.4 MB of answer). The presigned URL is signed by the function's own role, which
may read only the prefixes these routes serve (``s3:GetObject`` in ``infra/template.yaml``).

The bucket is reached through ``shared.store.files.FileStore``, so the routes' logic runs against its
in-memory twin too.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.event_handler import Response

from shared.api_models import JWT_SECURITY, UNAUTHORIZED, Message, json_answer, no_body, text_answer
from shared.store.files import CSV, FileStore

INLINE_LIMIT = 1 << 20
LINK_SECONDS = 300


@dataclass(frozen=True)
class Refusal:
    """Why a file cannot be handed over: 400 for a key that names no such kind of file, 404 for none yet."""

    status: int
    message: str

    def answer(self) -> Response[Any]:
        return Response(self.status, "application/json", {"message": self.message})


def download_name(key: str) -> str:
    """A file name for the Content-Disposition header: the key's last segment, plain ASCII."""
    name = key.rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._ -]", "_", name).strip() or "download.csv"


def hand_over(
    files: FileStore, key: str, missing: str, content_type: str = CSV, disposition: str = "attachment"
) -> Response[Any]:
    """The object ``key`` as the answer: the file (``content_type``) when small, a short-lived link to it
    when large; 404 with ``missing`` when it is not there. ``disposition``: ``attachment`` (saved) or
    ``inline`` (a page the browser shows)."""
    size = files.size_of(key)
    name = download_name(key)
    if size is not None and size > INLINE_LIMIT:
        link = files.link(key, name, LINK_SECONDS, content_type, disposition)
        return Response(302, None, "", headers={"Location": link, "Cache-Control": "no-store"})
    body = None if size is None else files.read(key)
    if body is None:
        return Refusal(404, missing).answer()
    answer: Response[Any] = Response(
        200,
        content_type,
        base64.b64encode(body).decode("ascii"),
        headers={"Content-Disposition": f'{disposition}; filename="{name}"', "Cache-Control": "no-store"},
    )
    # The bytes go out base64-encoded, as API Gateway takes a binary answer. Encoded here, not left to the
    # resolver: its response validation would first turn a bytes body into UTF-8 text, which a workbook
    # (or a CSV in another encoding) is not.
    answer.base64_encoded = True
    return answer


def size_rule(kind: str) -> str:
    """How a file route answers, for its description: in place up to the limit, else a redirect."""
    return (
        f"A file of at most {INLINE_LIMIT >> 20} MiB is the answer ({kind}); a larger one answers 302 to a "
        f"presigned S3 GET that lasts {LINK_SECONDS // 60} minutes (follow it without the bearer token: "
        "`curl -L` does)."
    )


REDIRECT = no_body(
    f"Too large to answer in place: Location is a presigned S3 GET ({LINK_SECONDS // 60} minutes)"
)


def file_route_docs(original: str, columns: str, bad_key: str, missing: str) -> dict[str, Any]:
    """What a file route declares (``router.get(..., **file_route_docs(...))``): it takes ``original``'s own
    key, answers the CSV of ``columns`` or a redirect, 400 for ``bad_key``, 404 for ``missing``."""
    return {
        "description": f"Takes {original}'s own S3 key. {size_rule('text/csv')}",
        "security": JWT_SECURITY,
        "responses": {
            200: text_answer(f"The CSV: {columns}", "text/csv"),
            302: REDIRECT,
            400: json_answer(Message, bad_key),
            401: UNAUTHORIZED,
            404: json_answer(Message, missing),
        },
    }
