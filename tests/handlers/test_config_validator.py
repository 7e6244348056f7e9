"""config_validator: an uploaded routing.yaml is checked against the CRM's rep records (the one rep registry)."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from tests.helpers import s3_event

SHIPPED = (Path(__file__).resolve().parents[2] / "config" / "routing.yaml").read_bytes()


@pytest.fixture
def upload(aws, demo_data, lambda_context):
    """Put a document under config/ and run the validator on its S3 event, as the bucket's trigger does."""
    from config_validator.app import handler

    s3 = boto3.client("s3")
    bucket = aws.bucket_name()

    def put(name: str, body: bytes) -> dict:
        s3.put_object(Bucket=bucket, Key=f"config/{name}", Body=body)
        (result,) = handler(s3_event(bucket, f"config/{name}"), lambda_context)["results"]
        return result

    return put


def good_copy(aws, name: str) -> bytes:
    return boto3.client("s3").get_object(Bucket=aws.bucket_name(), Key=f"config-good/{name}")["Body"].read()


def test_a_routing_document_naming_crm_reps_is_accepted(aws, upload):
    status = upload("routing.yaml", SHIPPED)
    assert (status["status"], status["errors"]) == ("accepted", [])
    assert good_copy(aws, "routing.yaml") == SHIPPED


def test_an_unknown_rep_is_refused_with_the_reason_and_the_last_good_stays_in_force(aws, upload):
    from shared.config_schemas.routing import RoutingConfig
    from shared.config_store import clear_cache, load_config

    # Given the shipped routing is in force
    assert upload("routing.yaml", SHIPPED)["status"] == "accepted"
    # When a document naming a rep the CRM does not know is uploaded
    ghost = SHIPPED.replace(b"rep: rep-mei", b"rep: rep-ghost")
    status = upload("routing.yaml", ghost)
    # Then it is refused saying which rep, and the last good document stays in force
    assert status["status"] == "refused"
    (error,) = status["errors"]
    assert "rules.2.rep: unknown rep 'rep-ghost' (no rep record of this id in the CRM)" in error["message"]
    assert good_copy(aws, "routing.yaml") == SHIPPED
    clear_cache()
    in_force = load_config("routing.yaml", RoutingConfig)
    assert "rep-mei" in in_force.rep_ids()
    assert "rep-ghost" not in in_force.rep_ids()


def test_a_routing_document_with_its_own_reps_is_refused(upload):
    status = upload("routing.yaml", b"reps: {rep-x: {name: X, email: x@example.com}}\n" + SHIPPED)
    assert status["status"] == "refused"
    assert [e["field"] for e in status["errors"]] == ["reps"]
    assert "reps are the CRM's records" in status["errors"][0]["message"]
