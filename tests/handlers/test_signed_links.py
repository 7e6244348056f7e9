"""The links in emails open their file without a token, under moto: the alerts function signs them with
the link key the template generates (Secrets Manager), the ``/links/...`` routes (no authorizer) check
the signature and expiry and answer what the token route answers; a changed, cut or expired link does
not open anything."""

from __future__ import annotations

import base64
import html
import re
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from hub.local.runtime import LocalContext
from tests.handlers.test_alerts_handler import emails
from tests.handlers.test_download_routes import GOOD, hub  # noqa: F401
from tests.handlers.test_pos_handler import csv_body, put_and_ingest
from tests.helpers import http_event, stream_event

API = "https://HttpApi.execute-api.us-east-1.amazonaws.com"  # HUB_API_URL, as the template sets it


def open_link(link: str) -> dict[str, Any]:
    """What a click on ``link`` gets: the reports function's answer to its path and query, no token."""
    from reports_api.app import handler

    assert link.startswith(API + "/links/"), link
    answer = handler(http_event("GET", link.removeprefix(API)), LocalContext("reports", 30))
    body = answer.get("body") or ""
    raw = base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()
    return {"status": answer["statusCode"], "headers": answer.get("headers") or {}, "raw": raw}


def link_in(body: str, label: str) -> str:
    found = re.search(rf'{re.escape(label)}</th><td><a href="([^"]+)">', body)  # an anchor to click
    assert found, body
    return html.unescape(found.group(1))


def test_the_template_opens_only_the_three_link_routes_without_a_token_and_generates_the_key() -> None:
    from hub.local.template import HubTemplate

    template = HubTemplate()
    open_routes = sorted(
        r.path for r in template.routes() if r.function == "ReportsApiFunction" and r.authorizer is None
    )
    assert open_routes == ["/links/leads/imports/results", "/links/plan/{year}/report", "/links/pos/rejects"]
    secret = template.resources["LinksSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    for function in ("AlertsFunction", "ReportsApiFunction"):
        policies = template.resources[function]["Properties"]["Policies"]
        assert {"AWSSecretsManagerGetSecretValuePolicy": {"SecretArn": {"Ref": "LinksSecret"}}} in policies


def test_the_channel_managers_link_opens_the_rejects_without_a_token(hub: dict, lambda_context: Any) -> None:  # noqa: F811
    from alerts.app import handler as alerts_handler

    # Given a POS file with a bad row, read, and its finished run told to the channel manager
    key = "pos/northwind/week 1 & 2.csv"
    put_and_ingest(hub, key, csv_body([
        GOOD, ["10/02/2026", "N-1", "2", "NE555", "lots", "0.50", "5.00", "Globex"]]), lambda_context)  # fmt: skip
    run = {"pk": f"RUN#{key}", "sk": "VERSION#v1", "entity": "POS_RUN", "key": key, "version": "v1",
           "distributor": "northwind", "status": "done", "rows_total": 2, "accepted": 1, "rejected": 1,
           "rejects_key": f"rejects/{key}"}  # fmt: skip
    event = stream_event([("MODIFY", run, {**run, "status": "running", "rejected": 0})])
    assert alerts_handler(event, lambda_context) == {"batchItemFailures": []}
    # When the channel manager clicks the email's link (no token: a mail client sends none)
    link = link_in(emails()[0].body, "Every rejected row with its reason")
    assert link.startswith(f"{API}/links/pos/rejects?key=pos/northwind/week%201%20%26%202.csv&expires=")
    answer = open_link(link)
    # Then the rejects CSV is the answer, the bytes the run wrote
    assert answer["status"] == 200, answer
    stored = hub["s3"].get_object(Bucket=hub["bucket"], Key=f"rejects/{key}.csv")["Body"].read()
    assert answer["raw"] == stored and b"lots" in answer["raw"]
    # And the link lasts 30 days (LINK_DAYS)
    expires = int(dict(parse_qsl(urlsplit(link).query))["expires"])
    assert abs(expires - (time.time() + 30 * 86_400)) < 120


def _signed(path: str, params: dict[str, str], *, days: int = 30, clock: float | None = None) -> str:
    from shared.links import LinkSigner, secret_key
    from shared.settings import get_settings

    name = get_settings().links_secret_name
    signer = LinkSigner(API, lambda: secret_key(name), days, (lambda: clock) if clock else time.time)
    link = signer.link(path, params)
    assert link is not None
    return link


def test_a_changed_cut_or_expired_link_opens_nothing(hub: dict, lambda_context: Any) -> None:  # noqa: F811
    key = "pos/northwind/one.csv"
    put_and_ingest(hub, key, csv_body([GOOD, ["10/02/2026", "N-1", "2", "NE555", "x", "0.50", "5.00", "G"]]),
                   lambda_context)  # fmt: skip
    other = "pos/northwind/two.csv"
    put_and_ingest(hub, other, csv_body([GOOD, ["10/02/2026", "N-1", "2", "NE555", "y", "0.50", "5.00", "G"]]),
                   lambda_context)  # fmt: skip
    good = _signed("/pos/rejects", {"key": key})
    assert open_link(good)["status"] == 200
    # another file's key under the same signature: 403, and nothing of either file
    changed = good.replace("one.csv", "two.csv")
    answer = open_link(changed)
    assert answer["status"] == 403 and b"not signed by the hub" in answer["raw"]
    # the signature cut off, or a forged one, or a later expiry: 403
    assert open_link(good.split("&signature=")[0])["status"] == 403
    assert open_link(re.sub(r"signature=[0-9a-f]{8}", "signature=00000000", good))["status"] == 403
    later = re.sub(r"expires=(\d+)", lambda m: f"expires={int(m[1]) + 86_400}", good)
    assert open_link(later)["status"] == 403
    # a link of another route: a signed rejects link is no key to the trade-show results
    assert open_link(good.replace("/links/pos/rejects", "/links/leads/imports/results"))["status"] == 403
    # expired: 410, saying when and where the file still is
    old = _signed("/pos/rejects", {"key": key}, days=1, clock=time.time() - 2 * 86_400)
    expired = open_link(old)
    assert expired["status"] == 410 and b"this link expired on" in expired["raw"]
    assert b"/pos/rejects with a token" in expired["raw"]


@pytest.mark.parametrize("days", [0, 91])
def test_link_days_outside_one_to_ninety_are_refused(days: int) -> None:
    from pydantic import ValidationError

    from shared.settings import HubSettings

    with pytest.raises(ValidationError, match="LINK_DAYS"):
        HubSettings.model_validate({"LINK_DAYS": str(days)})
    assert HubSettings.model_validate({"LINK_DAYS": "7"}).link_days == 7


def test_the_local_hub_keeps_its_link_key_between_runs(tmp_path: Any) -> None:
    """Links in the local hub's outbox still open after a restart: the key is the one it kept."""
    import boto3
    from moto import mock_aws

    from hub.local.resources import create_secrets
    from tests import template as read_once

    kept = tmp_path / "data" / "secrets.json"
    values = []
    for _run in range(2):
        with mock_aws():
            template = read_once.template()
            create_secrets(template, lambda service: boto3.client(service, region_name="us-east-1"), kept)
            manager = boto3.client("secretsmanager", region_name="us-east-1")
            values.append(
                manager.get_secret_value(SecretId=f"{template.pseudo['AWS::StackName']}-links")[
                    "SecretString"
                ]
            )
    assert values[0] == values[1] and len(values[0]) == 64
    assert kept.stat().st_mode & 0o077 == 0  # the owner's only


def test_without_its_key_an_email_names_the_token_route_and_still_goes_out(
    aws: Any, lambda_context: Any
) -> None:
    """A link key that cannot be read (deleted, no permission) does not fail the alert: the email goes out
    with the route that needs a token, and the reason is logged."""
    import boto3
    from alerts.app import handler as alerts_handler

    from shared.settings import get_settings

    boto3.client("secretsmanager", region_name="us-east-1").delete_secret(
        SecretId=get_settings().links_secret_name, ForceDeleteWithoutRecovery=True
    )
    key = "pos/northwind/keyless.csv"
    run = {"pk": f"RUN#{key}", "sk": "VERSION#v1", "entity": "POS_RUN", "key": key, "version": "v1",
           "distributor": "northwind", "status": "done", "rows_total": 2, "accepted": 1, "rejected": 1,
           "rejects_key": f"rejects/{key}"}  # fmt: skip
    event = stream_event([("MODIFY", run, {**run, "status": "running", "rejected": 0})])
    assert alerts_handler(event, lambda_context) == {"batchItemFailures": []}
    assert link_in(emails()[0].body, "Every rejected row with its reason") == f"{API}/pos/rejects?key={key}"
