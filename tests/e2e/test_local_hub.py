"""The local hub as a user meets it: start-up, configuration, the drop folder, schedules, stop."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import _hub_command

pytestmark = pytest.mark.e2e


def test_starts_within_30_seconds_on_loopback(local_hub):
    assert local_hub["started_in_seconds"] < 30
    assert local_hub["api_url"].startswith("http://127.0.0.1:")
    assert local_hub["aws_endpoint_url"].startswith("http://127.0.0.1:")


def test_every_shipped_configuration_document_is_accepted(local_hub, aws_clients, wait_for):
    # Given the example configuration the repository ships
    root = Path(__file__).resolve().parents[2] / "config"
    names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.yaml"))
    assert "routing.yaml" in names
    table = local_hub["tables"]["StateTable"]
    ddb = aws_clients("dynamodb")

    # Then the validator accepted each one and put it in force under config-good/
    from shared.store.state import config_status_key

    def statuses():
        found = {}
        for name in names:
            pk, sk = config_status_key(name)
            item = ddb.get_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"S": sk}}).get("Item")
            if item is None:
                return None
            found[name] = item["data"]["M"]["status"]["S"]
        return found

    found = wait_for(statuses, timeout=15, what="configuration statuses")
    assert found == dict.fromkeys(names, "accepted")
    s3 = aws_clients("s3")
    for name in names:
        s3.head_object(Bucket=local_hub["bucket"], Key=f"config-good/{name}")
        # with its data as JSON, which the functions read (shared.config_store.load_config)
        s3.head_object(Bucket=local_hub["bucket"], Key=f"config-good/{name}.json")


def test_a_refused_configuration_keeps_the_last_good_one(local_hub, aws_clients, wait_for):
    s3 = aws_clients("s3")
    good = s3.get_object(Bucket=local_hub["bucket"], Key="config-good/routing.yaml")["Body"].read()
    s3.put_object(
        Bucket=local_hub["bucket"],
        Key="config/routing.yaml",
        Body=b"rules: [{id: 1, target: {}}]\nfallback: 7\n",
    )
    ddb = aws_clients("dynamodb")
    from shared.store.state import config_status_key

    pk, sk = config_status_key("routing.yaml")

    def refused():
        item = ddb.get_item(
            TableName=local_hub["tables"]["StateTable"], Key={"pk": {"S": pk}, "sk": {"S": sk}}
        )["Item"]
        return item["data"]["M"] if item["data"]["M"]["status"]["S"] == "refused" else None

    status = wait_for(refused, timeout=10, what="the refusal")
    assert status["errors"]["L"], "the refusal names the fields and reasons"
    assert s3.get_object(Bucket=local_hub["bucket"], Key="config-good/routing.yaml")["Body"].read() == good
    s3.put_object(Bucket=local_hub["bucket"], Key="config/routing.yaml", Body=good)  # restore for other tests


def test_the_drop_folder_uploads_under_the_same_key(local_hub, aws_clients, wait_for):
    # the hub makes a folder for every prefix a function is triggered on, config/ (as the README says) too
    folders = {p.name for p in Path(local_hub["drop_dir"]).iterdir() if p.is_dir()}
    assert {"pos", "inventory", "imports", "config"} <= folders
    target = Path(local_hub["drop_dir"]) / "inventory" / "DIST-DROP" / "snapshot.csv"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("as_of_date,part_number,on_hand\n2026-11-20,ABC-1,10\n")
    s3 = aws_clients("s3")

    def uploaded():
        try:
            return s3.head_object(Bucket=local_hub["bucket"], Key="inventory/DIST-DROP/snapshot.csv")
        except s3.exceptions.ClientError:
            return None

    assert wait_for(uploaded, timeout=10, what="the upload")["ContentLength"] == target.stat().st_size


def test_a_schedule_runs_on_demand(local_hub):
    request = urllib.request.Request(f"{local_hub['api_url']}/_hub/tick/alerts-sweep", method="POST",
                                     headers={"authorization": f"Bearer {local_hub['api_token']}"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as answer:
        assert json.loads(answer.read())["schedule"] == "alerts-sweep"


def test_ctrl_c_stops_it_cleanly(tmp_path):
    process = subprocess.Popen([*_hub_command(), "local", "--home", str(tmp_path), "--port", "0", "--aws-port", "0"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)  # fmt: skip
    info = tmp_path / ".hub" / "local.json"
    deadline = time.monotonic() + 60
    while not info.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
    assert info.exists()
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output.decode(errors="replace")[-2000:]
    assert not info.exists()
    assert b"Stopping the hub" in output
