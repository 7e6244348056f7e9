"""Reading ``infra/template.yaml``: the one description of what the hub deploys.

The local hub and the tests create their tables, bucket and queues from here and wire
functions to routes, S3 prefixes, streams and schedules from here, so the deployment and the
local copy cannot drift. Intrinsic functions (``!Ref``, ``!GetAtt``, ``!Sub``) are resolved
against the local resources' physical names.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TEMPLATE_PATH = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (``!Ref X`` -> ``{"Ref": "X"}``)."""


def _construct_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {"Ref": value} if suffix == "Ref" else {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass


@dataclass
class Route:
    method: str
    path: str
    function: str
    authorizer: str | None

    def matches(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters when ``method path`` is this route, else None."""
        if method.upper() != self.method.upper():
            return None
        pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.path)) + "$"
        found = re.match(pattern, path)
        return found.groupdict() if found else None


@dataclass
class S3Trigger:
    function: str
    prefix: str
    suffix: str = ""
    max_retries: int = 2  # asynchronous invocation: Lambda's default, or the EventInvokeConfig's
    dead_letter: str | None = None  # the OnFailure destination queue's logical id


@dataclass
class StreamMapping:
    function: str
    table: str
    batch_size: int
    max_retries: int
    bisect: bool
    report_failures: bool
    dead_letter: str | None
    filters: list[dict[str, Any]]
    starting_position: str
    batching_window: float = 0.0  # MaximumBatchingWindowInSeconds: how long to gather a batch


@dataclass
class QueueMapping:
    function: str
    queue: str
    batch_size: int


@dataclass
class Schedule:
    function: str
    name: str
    expression: str
    input: dict[str, Any]

    @property
    def seconds(self) -> int | None:
        """Seconds between runs for ``rate(...)``; None for a cron expression."""
        found = re.match(r"rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)", self.expression)
        if not found:
            return None
        unit = {"minute": 60, "hour": 3600, "day": 86400}[found.group(2).rstrip("s")]
        return int(found.group(1)) * unit


@dataclass
class FunctionSpec:
    logical_id: str
    handler: str
    timeout: int
    environment: dict[str, Any]
    events: dict[str, Any] = field(default_factory=dict)

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def package(self) -> str:
        return self.handler.split(".", 1)[0]


class HubTemplate:
    """The template, read once, with helpers for what the local hub needs from it."""

    def __init__(self, path: Path = TEMPLATE_PATH, *, stack_name: str = "crm-hub", region: str = "us-east-1",
                 account_id: str = "123456789012") -> None:  # fmt: skip
        self.doc = load_template(path)
        self.resources: dict[str, dict[str, Any]] = self.doc["Resources"]
        self.pseudo = {
            "AWS::StackName": stack_name,
            "AWS::Region": region,
            "AWS::AccountId": account_id,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.parameters = {
            name: spec.get("Default", "") for name, spec in self.doc.get("Parameters", {}).items()
        }
        # logical id -> {"Ref": ..., "Arn": ..., ...}: physical values, filled as resources are created.
        self.physical: dict[str, dict[str, str]] = {}

    # ------------------------------------------------------------------ resources
    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in self.resources.items() if r["Type"] == kind}

    def table_name(self, logical_id: str) -> str:
        return f"{self.pseudo['AWS::StackName']}-{logical_id}"

    def table_definitions(self) -> dict[str, dict[str, Any]]:
        """``create_table`` arguments for every DynamoDB table, by logical id."""
        tables = {}
        for lid, res in self.of_type("AWS::DynamoDB::Table").items():
            props = res["Properties"]
            args: dict[str, Any] = {
                "TableName": self.table_name(lid),
                "KeySchema": props["KeySchema"],
                "AttributeDefinitions": props["AttributeDefinitions"],
                "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
            }
            if props.get("GlobalSecondaryIndexes"):
                args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
            if props.get("StreamSpecification"):
                args["StreamSpecification"] = {
                    "StreamEnabled": True,
                    "StreamViewType": props["StreamSpecification"]["StreamViewType"],
                }
            tables[lid] = args
        return tables

    def ttl_attributes(self) -> dict[str, str]:
        return {
            lid: res["Properties"]["TimeToLiveSpecification"]["AttributeName"]
            for lid, res in self.of_type("AWS::DynamoDB::Table").items()
            if res["Properties"].get("TimeToLiveSpecification", {}).get("Enabled")
        }

    def bucket_name(self, logical_id: str = "HubBucket") -> str:
        return str(self.resolve(self.resources[logical_id]["Properties"]["BucketName"]))

    def queue_name(self, logical_id: str) -> str:
        return f"{self.pseudo['AWS::StackName']}-{logical_id}"

    # ------------------------------------------------------------------ functions
    def functions(self) -> dict[str, FunctionSpec]:
        glob = self.doc.get("Globals", {}).get("Function", {})
        base_env = glob.get("Environment", {}).get("Variables", {})
        specs = {}
        for lid, res in self.of_type("AWS::Serverless::Function").items():
            props = res["Properties"]
            env = {**base_env, **props.get("Environment", {}).get("Variables", {})}
            specs[lid] = FunctionSpec(
                logical_id=lid,
                handler=props["Handler"],
                timeout=int(props.get("Timeout", glob.get("Timeout", 3))),
                environment=env,
                events=props.get("Events", {}),
            )
        return specs

    def function_environment(self, logical_id: str) -> dict[str, str]:
        spec = self.functions()[logical_id]
        return {k: str(self.resolve(v)) for k, v in spec.environment.items()}

    def default_authorizer(self, api_id: str = "HttpApi") -> str | None:
        auth = self.resources.get(api_id, {}).get("Properties", {}).get("Auth", {})
        return auth.get("DefaultAuthorizer")

    def routes(self) -> list[Route]:
        default = self.default_authorizer()
        found = []
        for lid, spec in self.functions().items():
            for event in spec.events.values():
                if event["Type"] != "HttpApi":
                    continue
                props = event["Properties"]
                auth = (props.get("Auth") or {}).get("Authorizer", default)
                found.append(
                    Route(props["Method"], props["Path"], lid, None if auth in (None, "NONE") else auth)
                )
        return found

    def s3_triggers(self) -> list[S3Trigger]:
        found = []
        for lid, spec in self.functions().items():
            invoke = self.of_type("AWS::Serverless::Function")[lid]["Properties"].get("EventInvokeConfig", {})
            retries = int(invoke.get("MaximumRetryAttempts", 2))
            target = invoke.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            dead_letter = (
                target["Fn::GetAtt"][0] if isinstance(target, dict) and "Fn::GetAtt" in target else None
            )
            for event in spec.events.values():
                if event["Type"] != "S3":
                    continue
                rules = event["Properties"].get("Filter", {}).get("S3Key", {}).get("Rules", [])
                values = {r["Name"]: r["Value"] for r in rules}
                found.append(
                    S3Trigger(lid, values.get("prefix", ""), values.get("suffix", ""), retries, dead_letter)
                )
        return found

    def stream_mappings(self) -> list[StreamMapping]:
        found = []
        for lid, spec in self.functions().items():
            for event in spec.events.values():
                if event["Type"] != "DynamoDB":
                    continue
                props = event["Properties"]
                table = props["Stream"]["Fn::GetAtt"][0]
                dest = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
                filters = [
                    json.loads(f["Pattern"]) for f in props.get("FilterCriteria", {}).get("Filters", [])
                ]
                found.append(
                    StreamMapping(
                        function=lid,
                        table=table,
                        batch_size=int(props.get("BatchSize", 100)),
                        max_retries=int(props.get("MaximumRetryAttempts", -1)),
                        bisect=bool(props.get("BisectBatchOnFunctionError", False)),
                        report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                        dead_letter=dest["Fn::GetAtt"][0] if dest else None,
                        filters=filters,
                        starting_position=props.get("StartingPosition", "LATEST"),
                        batching_window=float(props.get("MaximumBatchingWindowInSeconds", 0)),
                    )
                )
        return found

    def queue_mappings(self) -> list[QueueMapping]:
        found = []
        for lid, spec in self.functions().items():
            for event in spec.events.values():
                if event["Type"] == "SQS":
                    props = event["Properties"]
                    found.append(
                        QueueMapping(lid, props["Queue"]["Fn::GetAtt"][0], int(props.get("BatchSize", 10)))
                    )
        return found

    def schedules(self) -> list[Schedule]:
        found = []
        for lid, spec in self.functions().items():
            for event_id, event in spec.events.items():
                if event["Type"] not in ("Schedule", "ScheduleV2"):
                    continue
                props = event["Properties"]
                name = str(self.resolve(props.get("Name", event_id)))
                name = name.removeprefix(self.pseudo["AWS::StackName"] + "-")
                found.append(Schedule(lid, name, props["Schedule"], json.loads(props.get("Input", "{}"))))
        return found

    # ------------------------------------------------------------------ intrinsics
    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) != 1:
            return {k: self.resolve(v) for k, v in value.items()}
        (key, arg), = value.items()  # fmt: skip
        handlers: dict[str, Callable[[Any], Any]] = {
            "Ref": self._ref,
            "Fn::GetAtt": lambda a: self._attr(a[0], a[1]),
            "Fn::Sub": self._sub,
            "Fn::Join": lambda a: str(a[0]).join(str(self.resolve(v)) for v in a[1]),
        }
        if key in handlers:
            return handlers[key](arg)
        return {key: self.resolve(arg)}

    def _ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            default = self.parameters[name]
            return ",".join(default) if isinstance(default, list) else str(default)
        if name in self.physical and "Ref" in self.physical[name]:
            return self.physical[name]["Ref"]
        kind = self.resources.get(name, {}).get("Type")
        if kind == "AWS::DynamoDB::Table":
            return self.table_name(name)
        if kind == "AWS::S3::Bucket":
            return self.bucket_name(name)
        if kind == "AWS::SQS::Queue":
            p = self.pseudo
            return (
                f"https://sqs.{p['AWS::Region']}.amazonaws.com/{p['AWS::AccountId']}/{self.queue_name(name)}"
            )
        return name

    def _attr(self, name: str, attribute: str) -> str:
        known = self.physical.get(name, {})
        if attribute in known:
            return known[attribute]
        if attribute == "QueueName":
            return self.queue_name(name)
        raise KeyError(f"{name}.{attribute} is not known until {name} is created")

    def _sub(self, arg: Any) -> str:
        text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def one(found: re.Match[str]) -> str:
            ref = found.group(1)
            if ref in extra:
                return str(self.resolve(extra[ref]))
            if "." in ref and ref.split(".", 1)[0] in self.resources:
                res, att = ref.split(".", 1)
                return self._attr(res, att)
            return self._ref(ref)

        return re.sub(r"\$\{([^}!]+)\}", one, text)
