"""Active secrets per source in SSM Parameter Store, through powertools (moto's SSM)."""

import json

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SSMProvider
from moto import mock_aws

from shared.signing import SignatureError, SsmSourceSecrets


@pytest.fixture
def ssm(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


def put(ssm, name, value):
    ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)


def test_reads_the_json_list_of_active_secrets(ssm):
    # Given a source with two active secrets
    put(ssm, "/hub/test/sources/crm-x", json.dumps(["new", "old"]))
    store = SsmSourceSecrets("/hub/test", provider=SSMProvider())
    # When read / Then both come back in order
    assert store.secrets_for("crm-x") == ["new", "old"]


def test_values_are_cached_for_max_age(ssm):
    put(ssm, "/hub/test/sources/crm-x", json.dumps(["first"]))
    store = SsmSourceSecrets("hub/test/", max_age=300, provider=SSMProvider())
    assert store.secrets_for("crm-x") == ["first"]
    put(ssm, "/hub/test/sources/crm-x", json.dumps(["second"]))
    assert store.secrets_for("crm-x") == ["first"]


def test_zero_max_age_sees_a_rotation_at_once(ssm):
    put(ssm, "/hub/test/sources/crm-x", json.dumps(["first"]))
    store = SsmSourceSecrets("/hub/test", max_age=0, provider=SSMProvider())
    assert store.secrets_for("crm-x") == ["first"]
    put(ssm, "/hub/test/sources/crm-x", json.dumps(["second", "first"]))
    assert store.secrets_for("crm-x") == ["second", "first"]


@pytest.mark.parametrize("value", [None, "[]"])
def test_unknown_or_empty_source_is_an_unknown_source(ssm, value):
    if value is not None:
        put(ssm, "/hub/test/sources/crm-x", value)
    store = SsmSourceSecrets("/hub/test", provider=SSMProvider())
    with pytest.raises(SignatureError) as err:
        store.secrets_for("crm-x")
    assert err.value.reason == SignatureError.UNKNOWN_SOURCE


def test_a_bad_source_name_never_reaches_ssm(ssm):
    store = SsmSourceSecrets("/hub/test", provider=SSMProvider())
    with pytest.raises(SignatureError) as err:
        store.secrets_for("../../other")
    assert err.value.reason == SignatureError.MALFORMED
