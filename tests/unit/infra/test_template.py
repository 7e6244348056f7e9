"""The deployment template: it lints, translates offline, grants no wildcard actions, handles
stream failures, and every function's artifact imports its handler on its own."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]
TEMPLATE = ROOT / "infra" / "template.yaml"


@lru_cache(maxsize=1)
def translated() -> dict[str, Any]:
    """The template as CloudFormation sees it after the SAM transform (offline, as `sam package` leaves it)."""
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    template = yaml_parse(TEMPLATE.read_text())
    template = copy.deepcopy(template)
    template["Globals"]["Function"]["CodeUri"] = "s3://artifacts/functions.zip"
    template["Resources"]["SharedLayer"]["Properties"]["ContentUri"] = "s3://artifacts/layer.zip"
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(template, {}, NoManagedPolicies())  # type: ignore[no-any-return]


def resources_of(kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in translated()["Resources"].items() if v["Type"] == kind}


def test_cfn_lint_is_clean():
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), str(TEMPLATE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_translates_offline_into_every_function_and_trigger():
    functions = resources_of("AWS::Lambda::Function")
    assert len(functions) == 8
    for function in functions.values():
        props = function["Properties"]
        assert props["Runtime"] == "python3.12"
        assert props["Architectures"] == ["arm64"]
        assert props["Layers"] == [{"Ref": next(iter(resources_of("AWS::Lambda::LayerVersion")))}]
    # 5 streams (CRM -> alerts, mailchimp_sync, plan_rollup; plan -> plan_rollup; POS runs -> alerts) + the POS
    # continuation queue + the POS on-failure queue
    assert len(resources_of("AWS::Lambda::EventSourceMapping")) == 7
    assert len(resources_of("AWS::Events::Rule")) == 3  # alerts sweep, plan nightly, plan monthly export


def _statements() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for role_id, role in resources_of("AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                found.append((role_id, statement))
    return found


def test_no_statement_allows_a_wildcard_action():
    for role_id, statement in _statements():
        if statement.get("Effect") != "Allow":
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in actions:
            assert action != "*" and not action.endswith(":*"), (role_id, action)


def test_email_sending_is_scoped_to_the_sending_identity():
    for role_id, statement in _statements():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if any(a.startswith("ses:") for a in actions):
            resource = statement["Resource"]
            assert isinstance(resource, dict) and "identity/${SenderEmail}" in resource["Fn::Sub"], role_id


def test_config_validator_reserves_no_concurrency_and_writes_only_config_good():
    (function,) = [
        f for i, f in resources_of("AWS::Lambda::Function").items() if i == "ConfigValidatorFunction"
    ]
    # reserving any would fail the deploy on a new account (quota 10); concurrent runs settle themselves
    assert "ReservedConcurrentExecutions" not in function["Properties"]
    granted: dict[str, list[str]] = {}
    for role_id, statement in _statements():
        if role_id != "ConfigValidatorFunctionRole" or statement.get("Effect") != "Allow":
            continue
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for action in (a for a in actions if a in ("s3:PutObject", "s3:DeleteObject")):
            granted.setdefault(action, []).extend(r["Fn::Sub"].split("}")[-1] for r in statement["Resource"])
    # it writes the copy and the rendering, and removes only a rendering
    assert granted == {"s3:PutObject": ["/config-good/*"], "s3:DeleteObject": ["/config-good/*.json"]}


def test_every_stream_mapping_handles_failure():
    mappings = [m["Properties"] for m in resources_of("AWS::Lambda::EventSourceMapping").values()]
    streams = [m for m in mappings if "StreamArn" in str(m["EventSourceArn"])]
    # CRM -> alerts, CRM -> mailchimp_sync, CRM -> plan_rollup, plan -> plan_rollup, POS runs -> alerts
    assert len(streams) == 5
    for mapping in streams:
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert mapping["BisectBatchOnFunctionError"] is True
        assert 0 <= mapping["MaximumRetryAttempts"] <= 10
        assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {
            "Fn::GetAtt": ["StreamDeadLetterQueue", "Arn"]
        }
        assert mapping["FilterCriteria"]["Filters"], "a consumer receives only what it handles"


def test_tables_are_recoverable_and_encrypted():
    tables = resources_of("AWS::DynamoDB::Table")
    assert len(tables) == 6
    for table_id, table in tables.items():
        props = table["Properties"]
        assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], table_id
        assert props["SSESpecification"]["SSEEnabled"], table_id
    for streamed in ("CrmTable", "PlanTable", "PosTable"):
        assert tables[streamed]["Properties"]["StreamSpecification"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    for expiring in ("CrmTable", "EventsTable", "StateTable", "PlanTable", "IdempotencyTable"):
        assert tables[expiring]["Properties"]["TimeToLiveSpecification"]["Enabled"]
    # the attribute the stores write: shared.store.plan's PosCommitPageItem.expires_at on the plan table
    assert tables["PlanTable"]["Properties"]["TimeToLiveSpecification"]["AttributeName"] == "expires_at"


def test_pos_failures_end_their_run_and_are_kept_where_an_alarm_sees_them():
    functions = resources_of("AWS::Lambda::Function")
    (pos,) = [f for f in functions.values() if f["Properties"]["Handler"] == "pos_ingest.app.handler"]
    queues = resources_of("AWS::SQS::Queue")
    # S3's events failing after Lambda's retries, and continuations failing five times, reach pos_ingest
    configs = [c["Properties"] for c in resources_of("AWS::Lambda::EventInvokeConfig").values()]
    (invoke,) = [c for c in configs if "PosIngest" in str(c["FunctionName"])]
    assert invoke["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["PosIngestFailureQueue", "Arn"]
    }
    redrive = queues["PosContinuationQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["PosIngestFailureQueue", "Arn"]}
    mappings = [m["Properties"] for m in resources_of("AWS::Lambda::EventSourceMapping").values()]
    assert any(m["EventSourceArn"] == {"Fn::GetAtt": ["PosIngestFailureQueue", "Arn"]} for m in mappings)
    # and what pos_ingest cannot handle, or has handled, is kept in the dead-letter queue (its alarm)
    kept = queues["PosIngestFailureQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]
    assert kept == {"Fn::GetAtt": ["PosIngestDeadLetterQueue", "Arn"]}
    env = pos["Properties"]["Environment"]["Variables"]
    assert env["POS_DEAD_LETTER_QUEUE_URL"] == {"Ref": "PosIngestDeadLetterQueue"}


def test_pos_work_objects_expire_and_incomplete_uploads_are_aborted():
    (bucket,) = resources_of("AWS::S3::Bucket").values()
    rules = {r["Id"]: r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    # a failed POS try's work objects (pos-work/<run token>/...) go after 30 days: weeks beyond any run's
    # retry window (a continuation waits at most 14 days), and only there: the ledger's objects never expire
    work = rules["ExpirePosWork"]
    assert (work["Status"], work["Prefix"], work["ExpirationInDays"]) == ("Enabled", "pos-work/", 30)
    # ...which must outlive any slice message still waiting in the continuation queue
    retention = resources_of("AWS::SQS::Queue")["PosContinuationQueue"]["Properties"][
        "MessageRetentionPeriod"
    ]
    assert retention == 14 * 86400 < work["ExpirationInDays"] * 86400
    # the bucket is versioned: the versions a delete or the expiry leaves behind go too
    assert bucket["Properties"]["VersioningConfiguration"]["Status"] == "Enabled"
    assert work["NoncurrentVersionExpiration"]["NoncurrentDays"] >= 1
    # only pos-work/ expires; the ledger keeps every current object and drops the ones a commit replaced
    # after 30 days; nothing else (a distributor's file, config, reports) ever expires
    assert [r.get("Prefix") for r in rules.values() if "ExpirationInDays" in r] == ["pos-work/"]
    ledger = rules["ExpireReplacedLedgerVersions"]
    assert (ledger["Status"], ledger["Prefix"]) == ("Enabled", "pos-ledger/")
    assert "ExpirationInDays" not in ledger and ledger["NoncurrentVersionExpiration"]["NoncurrentDays"] == 30
    noncurrent = [r.get("Prefix") for r in rules.values() if "NoncurrentVersionExpiration" in r]
    assert sorted(noncurrent) == ["pos-ledger/", "pos-work/"]
    # and an upload never completed anywhere in the bucket is aborted, its parts removed
    uploads = rules["AbortIncompleteUploads"]
    assert uploads["Status"] == "Enabled" and "Prefix" not in uploads
    assert uploads["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7


def test_alarms_watch_dead_letters_errors_and_iterator_age():
    metrics = [a["Properties"]["MetricName"] for a in resources_of("AWS::CloudWatch::Alarm").values()]
    # one alarm per dead-letter queue: the streams' and the POS S3 trigger's on-failure queue
    dlqs = [q for q in resources_of("AWS::SQS::Queue") if "DeadLetter" in q]
    assert metrics.count("ApproximateNumberOfMessagesVisible") == len(dlqs) == 2
    assert metrics.count("Errors") == 8
    assert metrics.count("IteratorAge") == 3


def test_a_refused_configuration_upload_raises_an_alarm_on_the_metric_the_validator_emits():
    (alarm,) = [a["Properties"] for a in resources_of("AWS::CloudWatch::Alarm").values()
                if a["Properties"]["MetricName"] == "ConfigRefused"]  # fmt: skip
    (function,) = [
        f for i, f in resources_of("AWS::Lambda::Function").items() if i == "ConfigValidatorFunction"
    ]
    env = function["Properties"]["Environment"]["Variables"]
    # powertools publishes under the function's namespace with its service as the one dimension
    assert alarm["Namespace"] == env["POWERTOOLS_METRICS_NAMESPACE"]
    assert alarm["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_read_routes_are_authorised_and_public_routes_are_not():
    from hub.local.template import HubTemplate

    routes = {(r.method, r.path): r.authorizer for r in HubTemplate().routes()}
    assert routes[("POST", "/leads")] is None
    assert routes[("POST", "/events")] is None
    assert routes[("POST", "/mailchimp/webhook/{token}")] is None
    # the links in emails: signed instead of authorized (reports_api/link_routes.py checks them)
    links = sorted(key[1] for key in routes if key[1].startswith("/links/"))
    assert links == ["/links/leads/imports/results", "/links/plan/{year}/report", "/links/pos/rejects"]
    assert all(routes[("GET", path)] is None for path in links)
    reads = [key for key in routes if key[0] == "GET" and not key[1].startswith(("/mailchimp", "/links/"))]
    assert reads and all(routes[key] == "ReportsJwt" for key in reads)


@pytest.fixture(scope="module")
def host_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The layer built by the template's own build target, for this machine's platform."""
    out = tmp_path_factory.mktemp("layer")
    subprocess.run(
        ["make", "-s", "build-SharedLayer", f"ARTIFACTS_DIR={out}", f"PYTHON={sys.executable}", "LAYER_PIP_PLATFORM="],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    return out / "python"


@pytest.fixture(scope="module")
def function_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The functions' code asset built by its own build target (functions/Makefile), as `sam build` runs it."""
    out = tmp_path_factory.mktemp("functions")
    subprocess.run(
        ["make", "-s", "build-LeadsWebhookFunction", f"ARTIFACTS_DIR={out}", f"PYTHON={sys.executable}"],
        cwd=ROOT / "functions", check=True, capture_output=True,
    )  # fmt: skip
    return out


def test_every_function_is_built_byte_compiled(function_code: Path):
    from hub.local.template import HubTemplate

    # Given the functions of the template: each is built by functions/Makefile (SAM's default Python build
    # leaves .pyc out, and Lambda cannot write them under /var/task)
    functions = HubTemplate().of_type("AWS::Serverless::Function")
    assert functions and all(
        f.get("Metadata", {}).get("BuildMethod") == "makefile" for f in functions.values()
    )
    # When the code asset is built, Then every module has its .pyc, checked against no source (unchecked-hash:
    # flags 0b01), and the Makefile is not shipped
    sources = sorted(function_code.rglob("*.py"))
    assert len(sources) == len(list((ROOT / "functions").rglob("*.py")))
    tag = sys.implementation.cache_tag
    for source in sources:
        compiled = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        assert int.from_bytes(compiled.read_bytes()[4:8], "little") == 0b01, compiled
    assert not (function_code / "Makefile").exists()


@pytest.mark.slow
def test_each_packaged_handler_imports_with_nothing_else_on_the_path(host_layer: Path, function_code: Path):
    from hub.local.template import HubTemplate

    env = {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1", "PATH": os.environ.get("PATH", "")}
    for spec in HubTemplate().functions().values():
        module, _, name = spec.handler.rpartition(".")
        code = (
            "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]; import importlib; "
            f"m = importlib.import_module({module!r}); assert callable(m.{name}); "
            "bad = [p for p in sys.path if 'site-packages' in p]; assert not bad, bad"
        )
        result = subprocess.run(
            [sys.executable, "-I", "-S", "-c", code, str(function_code), str(host_layer)],
            env=env, capture_output=True, text=True, check=False, cwd=host_layer,
        )  # fmt: skip
        assert result.returncode == 0, f"{spec.handler}: {result.stderr[-2000:]}"
