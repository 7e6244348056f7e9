"""End to end: a POS file dropped in the local hub's drop folder shows its run record, rejects file
and actuals within seconds."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.e2e


def _get(local_hub: dict[str, Any], path: str) -> Any:
    request = urllib.request.Request(f"{local_hub['api_url']}{path}",
                                     headers={"authorization": f"Bearer {local_hub['api_token']}"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise


def test_a_dropped_file_shows_its_run_rejects_and_actuals(local_hub, wait_for, aws_clients) -> None:
    # Given a German distributor's export: cp1252, semicolons, decimal commas, a title row, a bad row
    key = f"pos/elektro-e2e/{int(time.time())}.csv"
    text = (
        "Verkaufsbericht\r\n\r\n"
        "Rechnungsdatum;Rechnungsnummer;Pos;Artikelnummer;Menge;Einzelpreis;Betrag;Endkunde\r\n"
        "02.10.2026;R-1;1;BAV99;1.000;0,0425;42,50;ACME Robotics\r\n"
        "03.10.2026;R-1;2;BC847;10;1,25;12,50;Acme Robotics Inc\r\n"
        "04.10.2026;R-2;1;BC847;zehn;1,25;12,50;Brenner Auto\r\n"
        "05.10.2026;R-3;1;BC847;4;1,25;5,00;Unbekannt GmbH\r\n"
    )
    path = Path(local_hub["drop_dir"]) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    # When it is dropped in the drop folder
    path.write_bytes(text.encode("cp1252"))
    # Then its run record is there within seconds, every row accounted for
    record = wait_for(
        lambda: (r := _get(local_hub, f"/pos/runs?key={urllib.parse.quote(key)}")) and r["status"] == "done" and r,
        timeout=15, what="the run record",
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert (record["rows_total"], record["accepted"], record["rejected"]) == (4, 3, 1)
    assert record["amount_accepted"] == {"USD": "60.00"}
    # the rejects file has the refused row and its reason
    s3 = aws_clients("s3")
    rejects = s3.get_object(Bucket=local_hub["bucket"], Key=record["rejects_key"])["Body"].read().decode()
    assert "zehn" in rejects and "not a number" in rejects
    # the actuals are where the plan rollup reads them
    from shared.store.plan import actual_key

    dynamodb = aws_clients("dynamodb")
    pk, sk = actual_key("A-ACME", 2026, 4, "USD")
    item = dynamodb.get_item(TableName=local_hub["tables"]["PlanTable"],
                             Key={"pk": {"S": pk}, "sk": {"S": sk}})["Item"]  # fmt: skip
    assert Decimal(item["amount"]["N"]) >= Decimal("55.00")
    assert item["entity"]["S"] == "ACTUAL"
    # the unknown end customer is listed as unmatched
    unmatched = _get(local_hub, "/pos/unmatched")["unmatched"]
    assert any(u["normalised_name"] == "unbekannt" for u in unmatched)
    assert elapsed < 15
