"""Create the template's tables, bucket, queues and sending identity in an AWS emulation.

Used by the local hub against the moto server and by the handler tests under ``mock_aws``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hub.local.template import HubTemplate

REGION = "us-east-1"
CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"


def base_environment(aws_endpoint_url: str) -> dict[str, str]:
    """What Lambda's environment would give a function, pointed at the embedded AWS."""
    return {
        "AWS_ENDPOINT_URL": aws_endpoint_url,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_SERVICE_NAME": "hub-local",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "HUB_CONFIG_DIR": str(CONFIG_DIR),
    }


def create_resources(
    template: HubTemplate, clients: Any, secret_values: Path | None = None
) -> dict[str, dict[str, str]]:
    """Create everything; ``clients(service)`` builds a boto3 client. Returns the physical map.
    ``secret_values``: a file that keeps the generated secrets' values between runs (``create_secrets``)."""
    create_tables(template, clients("dynamodb"))
    s3 = clients("s3")
    for lid in template.of_type("AWS::S3::Bucket"):
        name = template.bucket_name(lid)
        s3.create_bucket(Bucket=name)
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        template.physical[lid] = {"Ref": name, "Arn": f"arn:aws:s3:::{name}"}
    sqs = clients("sqs")
    for lid, res in template.of_type("AWS::SQS::Queue").items():
        name = template.queue_name(lid)
        attributes = {"VisibilityTimeout": str(res["Properties"].get("VisibilityTimeout", 30))}
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        template.physical[lid] = {"Ref": url, "Arn": arn, "QueueName": name}
    for lid, res in template.of_type("AWS::SQS::Queue").items():  # redrive: once every queue exists
        redrive = res["Properties"].get("RedrivePolicy")
        if redrive:
            target = template.physical[redrive["deadLetterTargetArn"]["Fn::GetAtt"][0]]["Arn"]
            policy = {"deadLetterTargetArn": target, "maxReceiveCount": str(redrive["maxReceiveCount"])}
            sqs.set_queue_attributes(
                QueueUrl=template.physical[lid]["Ref"], Attributes={"RedrivePolicy": json.dumps(policy)}
            )
    create_secrets(template, clients, secret_values)
    clients("ses").verify_email_identity(EmailAddress=template.parameters["SenderEmail"])
    return template.physical


def create_secrets(template: HubTemplate, clients: Any, kept: Path | None = None) -> None:
    """The template's generated secrets (the link key), each with a random value as CloudFormation makes
    one. ``kept`` (the local hub's ``.hub/data/secrets.json``, private to its owner) keeps the values
    between runs, so links in emails signed before a restart still open."""
    import secrets
    import string

    found = template.of_type("AWS::SecretsManager::Secret")
    if not found:
        return
    values: dict[str, str] = json.loads(kept.read_text(encoding="utf-8")) if kept and kept.exists() else {}
    manager = clients("secretsmanager")
    alphabet = string.ascii_letters + string.digits
    for lid, res in found.items():
        props = res["Properties"]
        name = str(template.resolve(props["Name"]))
        length = int(props.get("GenerateSecretString", {}).get("PasswordLength", 32))
        value = values.setdefault(name, "".join(secrets.choice(alphabet) for _ in range(length)))
        try:
            arn = manager.create_secret(Name=name, SecretString=value)["ARN"]
        except manager.exceptions.ResourceExistsException:
            arn = manager.put_secret_value(SecretId=name, SecretString=value)["ARN"]
        template.physical[lid] = {"Ref": arn, "Id": arn}
    if kept is not None:
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.touch(mode=0o600)
        kept.write_text(json.dumps(values), encoding="utf-8")


def create_tables(template: HubTemplate, ddb: Any, *, ttl: bool = True) -> None:
    """Create the template's DynamoDB tables (indexes, streams, TTL) with the client ``ddb``.

    Also used alone against DynamoDB Local, which serves DynamoDB only (``ttl=False`` there: it
    deletes expired items within seconds, where DynamoDB takes up to days, and tests write items
    dated in the past).
    """
    ttl_attributes = template.ttl_attributes() if ttl else {}
    for lid, args in template.table_definitions().items():
        try:
            ddb.create_table(**args)
        except ddb.exceptions.ResourceInUseException:  # kept from an earlier run (DynamoDB Local)
            _catch_up(ddb, args)
        described = ddb.describe_table(TableName=args["TableName"])["Table"]
        template.physical[lid] = {"Ref": args["TableName"], "Arn": described["TableArn"]}
        if described.get("LatestStreamArn"):
            template.physical[lid]["StreamArn"] = described["LatestStreamArn"]
        if lid in ttl_attributes:
            current = ddb.describe_time_to_live(TableName=args["TableName"])["TimeToLiveDescription"]
            if current.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                ddb.update_time_to_live(
                    TableName=args["TableName"],
                    TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attributes[lid]},
                )


def _catch_up(ddb: Any, args: dict[str, Any]) -> None:
    """A table an earlier run created: add the indexes and the stream the template has gained since."""
    described = ddb.describe_table(TableName=args["TableName"])["Table"]
    have = {index["IndexName"] for index in described.get("GlobalSecondaryIndexes", [])}
    for index in args.get("GlobalSecondaryIndexes", []):
        if index["IndexName"] not in have:
            ddb.update_table(
                TableName=args["TableName"],
                AttributeDefinitions=args["AttributeDefinitions"],
                GlobalSecondaryIndexUpdates=[{"Create": index}],
            )
    wanted = args.get("StreamSpecification")
    if wanted and not described.get("StreamSpecification", {}).get("StreamEnabled"):
        ddb.update_table(TableName=args["TableName"], StreamSpecification=wanted)


def hub_environment(template: HubTemplate) -> dict[str, str]:
    """The environment every function sees (Globals plus each function's own variables)."""
    env: dict[str, str] = {}
    for lid in template.functions():
        for key, value in template.function_environment(lid).items():
            if key != "POWERTOOLS_SERVICE_NAME":
                env[key] = value
    return env
