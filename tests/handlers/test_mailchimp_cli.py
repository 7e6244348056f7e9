"""`hub mailchimp setup` and `hub mailchimp backfill` against moto's tables and the fake MailChimp."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from hub.fake_mailchimp import FakeMailchimp
from tests.helpers import lead_keys


@pytest.fixture
def fake() -> Iterator[FakeMailchimp]:
    with FakeMailchimp() as server:
        yield server


@pytest.fixture
def env(aws: Any, fake: FakeMailchimp, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from shared.settings import get_settings

    monkeypatch.setenv("MAILCHIMP_URL", fake.url)
    monkeypatch.setenv("MAILCHIMP_API_KEY", "fake-key")
    monkeypatch.setenv("MAILCHIMP_LIST_ID", fake.list_id)
    get_settings.cache_clear()
    yield boto3.resource("dynamodb", region_name="us-east-1").Table(aws.table_name("CrmTable"))
    get_settings.cache_clear()


def put_leads(table: Any, count: int, opt_in: bool = True, prefix: str = "p") -> None:
    from leads_webhook.records import lead_id_for

    with table.batch_writer() as batch:
        for i in range(count):
            email = f"{prefix}{i}@example.com"
            lead_id = lead_id_for(email)
            batch.put_item(
                Item={
                    **lead_keys(lead_id), "entity": "LEAD", "lead_id": lead_id,
                    "email": email, "first_name": f"P{i}", "employee_band": "10-49",
                    "marketing_opt_in": opt_in, "quarantined": False, "version": 1,
                }
            )  # fmt: skip


def args(tmp_path: Any, **extra: Any) -> argparse.Namespace:
    return argparse.Namespace(home=str(tmp_path), restart=False, poll=0.02, no_progress=True, **extra)


def test_setup_creates_missing_merge_fields_and_reports(env, fake, tmp_path, capsys):
    from hub.mailchimp_cli import cmd_setup

    assert cmd_setup(args(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "created:       COMPANY, COUNTRY, EMPBAND, REVBAND, INDUSTRY" in out
    assert cmd_setup(args(tmp_path)) == 0
    assert "created:       -" in capsys.readouterr().out


def test_backfill_syncs_every_opted_in_lead_and_records_the_state(env, fake, tmp_path):
    from hub.mailchimp_cli import cmd_backfill

    put_leads(env, 40)
    put_leads(env, 5, opt_in=False, prefix="n")
    assert cmd_backfill(args(tmp_path)) == 0
    assert fake.stats()["members"] == 40
    assert fake.member("n0@example.com") is None
    assert "employees:10-49" in fake.tags("p7@example.com")
    states = {i["mailchimp"]["state"] for i in env.scan()["Items"] if i.get("marketing_opt_in")}
    assert states == {"synced"}


def test_a_stopped_backfill_resumes_from_its_saved_position(env, fake, tmp_path, monkeypatch):
    from mailchimp_sync.repository import DynamoContactRepository

    from hub.mailchimp_cli import StateCursorStore, cmd_backfill

    put_leads(env, 30)
    order = [position for position, _ in DynamoContactRepository().eligible_after(None)]
    StateCursorStore(fake.list_id).save(order[19])  # as if stopped after the 20th contact
    assert cmd_backfill(args(tmp_path)) == 0
    assert fake.stats()["members"] == 10
    assert StateCursorStore(fake.list_id).load() is None  # finished: the position is cleared
