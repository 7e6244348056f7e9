"""config_validator: an uploaded routing.yaml is checked against the CRM's rep records (the one rep registry)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


STAGES = (Path(__file__).resolve().parents[2] / "config" / "stages.yaml").read_bytes()


def _object(aws, key: str) -> bytes | None:
    try:
        return boto3.client("s3").get_object(Bucket=aws.bucket_name(), Key=key)["Body"].read()
    except boto3.client("s3").exceptions.NoSuchKey:
        return None


def test_an_accepted_document_is_also_kept_as_json_and_the_functions_read_that(aws, upload):
    import yaml

    from shared.config_schemas.stages import StageCatalog
    from shared.config_store import clear_cache, load_config
    from tests.helpers import counting_aws_calls

    # When the shipped stages document is uploaded and accepted
    assert upload("stages.yaml", STAGES)["status"] == "accepted"
    # Then beside its byte copy the validator keeps its data as JSON
    assert good_copy(aws, "stages.yaml") == STAGES
    rendering = _object(aws, "config-good/stages.yaml.json")
    assert rendering is not None and json.loads(rendering) == yaml.safe_load(STAGES)
    # and a function's load reads the JSON alone (one GET), giving what the YAML gives
    clear_cache()

    def name(operation: str, params: Any) -> str:
        return f"{operation} {str((params or {}).get('url_path', '')).rsplit('/', 1)[-1]}"

    with counting_aws_calls(name) as calls:
        loaded = load_config("stages.yaml", StageCatalog)
    assert dict(calls) == {"s3.GetObject stages.yaml.json": 1}
    assert loaded == StageCatalog.model_validate(yaml.safe_load(STAGES))


def test_a_document_json_cannot_hold_is_read_from_its_yaml_copy_never_an_older_json(aws, upload):
    from shared.config_schemas.stages import StageCatalog
    from shared.config_store import clear_cache, load_config

    # Given the shipped stages are in force, JSON rendering and all
    assert upload("stages.yaml", STAGES)["status"] == "accepted"
    assert _object(aws, "config-good/stages.yaml.json") is not None
    # When a valid document whose data JSON cannot hold (a !!binary name: bytes) is accepted
    renamed = STAGES.replace(b"name: Job Won", b"name: !!binary Sm9iIFdvbiBCaWc=", 1)
    assert renamed != STAGES
    assert upload("stages.yaml", renamed)["status"] == "accepted"
    # Then its JSON rendering is gone (not left speaking for the older document)
    assert _object(aws, "config-good/stages.yaml.json") is None
    assert good_copy(aws, "stages.yaml") == renamed
    # and a function reads the new document from the YAML copy
    clear_cache()
    catalog = load_config("stages.yaml", StageCatalog)
    assert "Job Won Big" in catalog.opportunity_stage_names()
    assert "Job Won" not in catalog.opportunity_stage_names()


def test_a_function_that_read_the_json_follows_a_change_to_the_yaml_copy_alone(aws, upload):
    from shared.config_schemas.stages import StageCatalog
    from shared.config_store import clear_cache, load_config

    # Given a function that read the shipped stages from their JSON rendering
    assert upload("stages.yaml", STAGES)["status"] == "accepted"
    clear_cache()
    assert "Job Won" in load_config("stages.yaml", StageCatalog).opportunity_stage_names()
    # When a document the JSON cannot hold replaces it
    upload("stages.yaml", STAGES.replace(b"name: Job Won", b"name: !!binary Sm9iIFdvbiBCaWc=", 1))
    # Then its next load (without clearing its cache) finds the JSON gone and reads the YAML copy
    assert "Job Won Big" in load_config("stages.yaml", StageCatalog).opportunity_stage_names()


def _emitted(out: str, name: str) -> list[float]:
    """The values of metric ``name`` in the embedded-metric-format lines the handler printed."""
    found = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blob = json.loads(line)
            declared = [m["Name"] for d in blob["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]]
            if name in declared:
                found.append(blob[name])
    return found


def test_a_refused_upload_emits_the_metric_the_operators_alarm_watches(aws, upload, capsys):
    # Given the shipped routing accepted: nothing for the alarm
    assert upload("routing.yaml", SHIPPED)["status"] == "accepted"
    assert _emitted(capsys.readouterr().out, "ConfigRefused") == []
    # When a bad one is uploaded, then the metric ConfigRefusedAlarm watches counts it once
    assert upload("routing.yaml", SHIPPED.replace(b"rep: rep-mei", b"rep: rep-ghost"))["status"] == "refused"
    assert _emitted(capsys.readouterr().out, "ConfigRefused") == [[1.0]]  # one value, 1


def test_two_uploads_validated_at_once_leave_the_rendering_of_the_copy_in_force(
    aws, lambda_context, demo_data
):
    from config_validator.accept import accept_upload

    from shared.aws import client
    from shared.config_store import json_key

    s3, bucket = client("s3"), aws.bucket_name()
    first, second = SHIPPED, SHIPPED.replace(b"{rep: rep-maria, weight: 2}", b"{rep: rep-maria, weight: 5}")
    assert first != second

    # Given a first upload whose run is about to write its byte copy when a second upload's run happens
    # whole in between (S3 triggers run concurrently): the SDK's own event hook is that moment
    def second_run_now(params: dict, **_: Any) -> None:
        if params.get("Key") == "config-good/routing.yaml" and params.get("Body") == first:
            s3.meta.events.unregister("before-parameter-build.s3.PutObject", second_run_now)
            s3.put_object(Bucket=bucket, Key="config/routing.yaml", Body=second)
            assert accept_upload(bucket, "config/routing.yaml")["status"] == "accepted"

    s3.put_object(Bucket=bucket, Key="config/routing.yaml", Body=first)
    s3.meta.events.register("before-parameter-build.s3.PutObject", second_run_now)
    try:
        assert accept_upload(bucket, "config/routing.yaml")["status"] == "accepted"
    finally:
        s3.meta.events.unregister("before-parameter-build.s3.PutObject", second_run_now)

    # Then the copy is the first upload's (its write landed last), and the JSON the functions read renders
    # that same document, not the second's (before: the second's JSON stayed beside the first's copy)
    assert good_copy(aws, "routing.yaml") == first
    rendered = json.loads(s3.get_object(Bucket=bucket, Key=json_key("routing.yaml"))["Body"].read())
    members = rendered["pools"]["americas-enterprise"]["members"]
    weights = [m["weight"] for m in members if m["rep"] == "rep-maria"]
    assert weights == [2]


def test_hub_config_status_names_the_refused_document_its_field_and_why(
    aws, upload, tmp_path, monkeypatch, capsys
):
    from hub.cli import main

    monkeypatch.chdir(tmp_path)  # no .hub/local.json here: the command reads the deployment (moto)
    # Given routing.yaml accepted, then a leads.yaml accepted and a routing.yaml naming an unknown rep
    assert upload("routing.yaml", SHIPPED)["status"] == "accepted"
    leads = (Path(__file__).resolve().parents[2] / "config" / "leads.yaml").read_bytes()
    assert upload("leads.yaml", leads)["status"] == "accepted"
    assert upload("routing.yaml", SHIPPED.replace(b"rep: rep-mei", b"rep: rep-ghost"))["status"] == "refused"
    capsys.readouterr()

    # When the engineer asks, then each document's last verdict, with the field and why, and exit 1
    assert main(["config", "status"]) == 1
    out = capsys.readouterr().out
    assert "leads.yaml" in out and "routing.yaml" in out
    assert "rules.2.rep: unknown rep 'rep-ghost'" in out
    assert out.rstrip().endswith("2 documents, 1 refused (a refused one leaves the last good one in force)")
    assert main(["config", "status", "--json"]) == 1
    verdicts = {v["document"]: v["status"] for v in map(json.loads, capsys.readouterr().out.splitlines())}
    assert verdicts == {"leads.yaml": "accepted", "routing.yaml": "refused"}
    # and all accepted again: exit 0
    assert upload("routing.yaml", SHIPPED)["status"] == "accepted"
    assert main(["config", "status"]) == 0
