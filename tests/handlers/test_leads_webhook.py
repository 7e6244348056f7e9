"""POST /leads and trade-show imports through the handler, with real event shapes, under moto."""

from __future__ import annotations

import itertools
import json
import threading
import time

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import http_event, lead_keys, s3_event

SOURCE, SECRETS = "landing-co", ["new-secret", "old-secret"]
_ips = itertools.count(1)


@pytest.fixture
def leads_hub(aws, demo_data, monkeypatch):
    """The template's tables in moto with the demo's CRM records (the reps routing reads), requests applied
    atomically, a signing source, fresh services."""
    from leads_webhook.wiring import deployed_services
    from moto.core.botocore_stubber import BotocoreStubber

    lock = threading.RLock()
    original = BotocoreStubber.process_request

    def process_request(self, request):  # DynamoDB applies each request atomically; moto alone does not
        with lock:
            return original(self, request)

    monkeypatch.setattr(BotocoreStubber, "process_request", process_request)
    boto3.client("ssm").put_parameter(
        Name=f"/crm-hub/sources/{SOURCE}", Value=json.dumps(SECRETS), Type="SecureString"
    )
    deployed_services.cache_clear()
    yield aws
    deployed_services.cache_clear()


def post(lambda_context, body, *, content_type="application/json", headers=None, ip=None):
    from leads_webhook.app import handler

    raw = body if isinstance(body, bytes | str) else json.dumps(body)
    event = http_event("POST", "/leads", raw, {"content-type": content_type, **(headers or {})},
                       source_ip=ip or f"198.51.100.{next(_ips) % 250 + 1}")  # fmt: skip
    answer = handler(event, lambda_context)
    return answer["statusCode"], json.loads(answer["body"] or "{}"), answer.get("headers", {})


DEMO_ENTITIES = {
    "TERRITORY",
    "REP",
    "ACCOUNT",
}  # loaded by the fixture (demo_data); the intake never writes them


def crm_items(aws):
    """What the requests stored in the CRM table: every item but the demo's territories, reps and accounts."""
    from boto3.dynamodb.conditions import Attr

    # the demo's items are left out by the table's scan (moto answers only the rest, a much shorter answer)
    table = boto3.resource("dynamodb").Table(aws.table_name("CrmTable"))
    items = table.scan(FilterExpression=~Attr("entity").is_in(sorted(DEMO_ENTITIES)))["Items"]
    return [i for i in items if i.get("entity") not in DEMO_ENTITIES]


def lead_item(aws, lead_id):
    table = boto3.resource("dynamodb").Table(aws.table_name("CrmTable"))
    return table.get_item(Key=lead_keys(lead_id)).get("Item")


def test_202_stores_routes_and_explains(leads_hub, lambda_context):
    # Given a form post from California
    status, body, _ = post(lambda_context, {"email": "Kim@Example.com", "country": "United States", "state": "California",
                                            "first_name": "Kim", "company": "West Co"})  # fmt: skip
    # Then 202 with the lead id, stored with the owner by rule and the reason
    assert status == 202 and body["status"] == "received"
    item = lead_item(leads_hub, body["lead_id"])
    assert item["email"] == "kim@example.com"
    assert item["owner"] == "rep-sam"
    assert item["assignment"]["rule_id"] == "us-west-by-state"
    assert item["gsi1pk"] == "OWNER#rep-sam"
    assert item["entity"] == "LEAD"


def test_pool_assignment_stores_pool_weights_and_turn(leads_hub, lambda_context):
    _, body, _ = post(lambda_context, {"email": "big@example.com", "country": "US", "employees": 5000})
    reason = lead_item(leads_hub, body["lead_id"])["assignment"]
    assert reason["pool"] == "americas-enterprise"
    assert reason["weights"] == {"rep-maria": 2, "rep-sam": 1, "rep-ana": 1}
    assert reason["turn"] == 0


def test_urlencoded_form_is_accepted(leads_hub, lambda_context):
    status, body, _ = post(lambda_context, "email=form%40example.com&country=DE&marketing_opt_in=on",
                           content_type="application/x-www-form-urlencoded")  # fmt: skip
    assert status == 202
    item = lead_item(leads_hub, body["lead_id"])
    assert (item["owner"], item["marketing_opt_in"]) == ("rep-jonas", True)


def test_422_names_every_bad_field_and_stores_nothing(leads_hub, lambda_context):
    status, body, _ = post(lambda_context, {"email": "nope", "employees": "lots", "country": "Atlantis"})
    assert status == 422
    assert {e["field"] for e in body["errors"]} == {"email", "employees", "country"}
    assert crm_items(leads_hub) == []


def test_413_over_64_kib(leads_hub, lambda_context):
    status, _, _ = post(lambda_context, {"email": "big@example.com", "message": "x" * 66_000})
    assert status == 413


def test_415_for_other_content_types(leads_hub, lambda_context):
    status, body, _ = post(lambda_context, "email=a@b.co", content_type="text/plain")
    assert status == 415 and body["errors"][0]["field"] == "content-type"


def test_429_per_client_in_a_window_kept_in_dynamodb_with_the_configured_limit(leads_hub, lambda_context):
    # Given a leads.yaml in force (config-good/ in the bucket) allowing 3 posts a minute per client
    from pathlib import Path

    import yaml

    config = yaml.safe_load((Path(__file__).resolve().parents[2] / "config" / "leads.yaml").read_text())
    config["rate_limit"] = {"window_seconds": 60, "max_requests": 3}
    boto3.client("s3").put_object(
        Bucket=leads_hub.bucket_name(), Key="config-good/leads.yaml", Body=yaml.safe_dump(config)
    )
    # When one client posts four times, and another once, all inside one fixed 60 s window (the limiter's
    # windows start at multiples of 60 s: posts straddling a boundary would be counted in two windows)
    into_window = time.time() % 60
    if into_window > 50:
        time.sleep(60 - into_window + 0.05)
    answers = [post(lambda_context, {"email": f"r{i}@example.com"}, ip="192.0.2.50") for i in range(4)]
    other = post(lambda_context, {"email": "other@example.com"}, ip="192.0.2.51")
    # Then the fourth is 429 with Retry-After, the other client is served, and the window expires by TTL
    assert [a[0] for a in answers] == [202, 202, 202, 429]
    assert 1 <= int(answers[3][2]["Retry-After"]) <= 60
    assert other[0] == 202
    windows = boto3.resource("dynamodb").Table(leads_hub.table_name("StateTable")).scan()["Items"]
    from shared.store.state import rate_windows_pk

    rate = [w for w in windows if w["pk"] == rate_windows_pk("leads#192.0.2.50")]
    assert rate[0]["count"] == 4 and rate[0]["expires_at"] > time.time()


def test_repeat_email_merges_into_the_same_lead_with_history(leads_hub, lambda_context):
    from leads_webhook.storage import DynamoLeadRepository

    _, first, _ = post(lambda_context, {"email": "rep@example.com", "country": "US", "campaign": "spring"})
    _, second, _ = post(
        lambda_context, {"email": "REP@example.com", "phone": "+1 415 555 2671", "campaign": "fall"}
    )
    assert first["lead_id"] == second["lead_id"]
    item = lead_item(leads_hub, first["lead_id"])
    assert (item["phone"], item["campaign"]) == ("+14155552671", "spring")
    history = DynamoLeadRepository().history(first["lead_id"])
    assert [(h.outcome, h.campaign) for h in history] == [("created", "spring"), ("merged", "fall")]


def test_ten_threads_posting_one_new_email_make_one_lead(leads_hub):
    # Lambda runs one event per process at a time and powertools' resolver keeps the current event on the
    # app, so ten concurrent Lambda instances are played by ten threads calling the handler's logic with
    # the deployed services (DynamoDB storage, rotation and rate limit) directly.
    from leads_webhook.intake import LeadPost, receive_lead_post
    from leads_webhook.storage import DynamoLeadRepository
    from leads_webhook.wiring import deployed_services

    results = []

    def send(i):
        body = json.dumps({"email": "same@example.com", "country": "US", "message": f"#{i}"}).encode()
        results.append(
            receive_lead_post(LeadPost(body, "application/json", f"192.0.2.{i}"), deployed_services())
        )

    threads = [threading.Thread(target=send, args=(i,)) for i in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status for r in results] == [202] * 10
    assert len({r.body["lead_id"] for r in results}) == 1
    leads = [i for i in crm_items(leads_hub) if i["entity"] == "LEAD"]
    assert len(leads) == 1
    assert len(DynamoLeadRepository().history(leads[0]["lead_id"])) == 10
    assert sorted(r.accepted.outcome for r in results) == ["created"] + ["merged"] * 9
    assert leads[0]["owner"] == "rep-ana"


def test_the_same_request_delivered_twice_has_one_effect(leads_hub, lambda_context):
    body = {"email": "twice@example.com", "country": "US", "employees": 2000}
    first, second = post(lambda_context, body), post(lambda_context, body)
    assert first[1] == second[1]
    items = crm_items(leads_hub)
    # one submission in the history: the first, kept on the lead item (no submission item of its own)
    assert [i["entity"] for i in items if i["pk"] == f"LEAD#{first[1]['lead_id']}"] == ["LEAD"]
    from leads_webhook.storage import DynamoLeadRepository

    assert len(DynamoLeadRepository().history(first[1]["lead_id"])) == 1
    from shared.store.state import rotation_key

    pk, sk = rotation_key("americas-enterprise")
    state = boto3.resource("dynamodb").Table(leads_hub.table_name("StateTable")).get_item(
        Key={"pk": pk, "sk": sk})["Item"]  # fmt: skip
    assert state["count"] == 1


def test_honeypot_is_202_quarantined_not_routed_and_released_on_demand(leads_hub, lambda_context):
    from leads_webhook.intake import release_from_quarantine
    from leads_webhook.wiring import deployed_services

    status, body, _ = post(
        lambda_context, {"email": "bot@example.com", "country": "DE", "website": "http://spam"}
    )
    assert status == 202
    item = lead_item(leads_hub, body["lead_id"])
    assert item["quarantined"] is True and "owner" not in item
    assert item["quarantine_reason"] == "honeypot" and item["gsi1pk"] == "LEADS#QUARANTINE"
    assert [x.lead_id for x in deployed_services().leads.quarantined()] == [body["lead_id"]]
    # When an operator releases it, it is routed like any lead
    assignment = release_from_quarantine(body["lead_id"], deployed_services())
    assert assignment.owner == "rep-jonas"
    assert lead_item(leads_hub, body["lead_id"])["quarantined"] is False
    assert deployed_services().leads.quarantined() == []


def test_signed_request_with_either_active_secret_is_recorded_with_its_source(leads_hub, lambda_context):
    from shared.signing import sign

    for secret in SECRETS:
        body = json.dumps({"email": f"lp-{secret}@example.com", "country": "JP"})
        headers = {"X-Hub-Signature": sign(body, secret), "X-Hub-Source": SOURCE}
        status, answer, _ = post(lambda_context, body, headers=headers)
        assert status == 202
        assert lead_item(leads_hub, answer["lead_id"])["source"] == f"signed:{SOURCE}"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Hub-Source": SOURCE, "X-Hub-Signature": "t=1,v1=" + "a" * 64},
        {"X-Hub-Source": SOURCE},
        {"X-Hub-Source": "stranger", "X-Hub-Signature": "SIGN"},
        {"X-Hub-Source": SOURCE, "X-Hub-Signature": "SIGN-WRONG"},
    ],
)
def test_bad_signature_is_401_and_stores_nothing(leads_hub, lambda_context, headers):
    from shared.signing import sign

    body = json.dumps({"email": "lp@example.com"})
    if headers.get("X-Hub-Signature") == "SIGN":
        headers = {**headers, "X-Hub-Signature": sign(body, SECRETS[0])}
    if headers.get("X-Hub-Signature") == "SIGN-WRONG":
        headers = {**headers, "X-Hub-Signature": sign(body, "not-a-secret")}
    status, _, _ = post(lambda_context, body, headers=headers)
    assert status == 401
    assert crm_items(leads_hub) == []


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=st.one_of(
        st.binary(max_size=300),
        st.dictionaries(st.sampled_from(["email", "employees", "country", "marketing_opt_in", "website", "x"]),
                        st.one_of(st.text(max_size=40), st.integers(), st.booleans(), st.none()), max_size=5).map(json.dumps),
    ),
    content_type=st.sampled_from(["application/json", "application/x-www-form-urlencoded", "text/csv", ""]),
)  # fmt: skip
def test_no_input_gives_a_5xx_and_nothing_invalid_is_stored(leads_hub, lambda_context, body, content_type):
    before = len(crm_items(leads_hub))
    status, answer, _ = post(lambda_context, body, content_type=content_type)
    assert status in (202, 413, 415, 422)
    if status != 202:
        assert len(crm_items(leads_hub)) == before
    else:
        assert lead_item(leads_hub, answer["lead_id"])["email"]


def test_trade_show_import_writes_results_beside_the_file(leads_hub, lambda_context):
    from leads_webhook.app import handler

    # Given a trade-show list with synonyms, a repeat, spam and a bad row
    bucket = leads_hub.bucket_name()
    csv_text = (
        "E-mail,First Name,Company Name,Country,State\n"
        "ann@example.com,Ann,Acme,US,CA\n"
        "ANN@example.com,Ann,Acme Robotics,US,CA\n"
        "spam@mailinator.com,Bot,Spam,US,\n"
        "not-an-email,Bob,Beta,Narnia,\n"
        "=cmd@example.com,Eve,Evil,US,\n"
    )
    key = "imports/leads/expo 2026.csv"
    s3 = boto3.client("s3")
    s3.put_object(Bucket=bucket, Key=key, Body=csv_text.encode())
    # When S3 tells the function (twice: at-least-once delivery)
    handler(s3_event(bucket, key), lambda_context)
    handler(s3_event(bucket, key), lambda_context)
    handler(
        s3_event(bucket, "imports/leads/expo 2026.results.csv"), lambda_context
    )  # its own output: skipped
    # Then each row has its outcome in the results file, and the second delivery changed nothing
    results = s3.get_object(Bucket=bucket, Key="imports/leads/expo 2026.results.csv")["Body"].read().decode()
    lines = [line.split(",") for line in results.strip().splitlines()]
    assert lines[0] == ["row", "email", "outcome", "lead_id", "owner", "reason"]
    assert [(r[0], r[2]) for r in lines[1:]] == [("2", "created"), ("3", "merged"), ("4", "quarantined"),
                                                  ("5", "rejected"), ("6", "created")]  # fmt: skip
    assert all("already imported" in r[5] for r in lines[1:] if r[2] != "rejected")
    assert lines[5][1] == "'=cmd@example.com"  # no formula when opened in a spreadsheet
    from leads_webhook.storage import DynamoLeadRepository

    # each row recorded once: a new lead's row kept on the lead item, the merged row as an item of its own
    leads = [i["lead_id"] for i in crm_items(leads_hub) if i["entity"] == "LEAD"]
    assert len(leads) == 3
    assert sorted(len(DynamoLeadRepository().history(lead_id)) for lead_id in leads) == [1, 1, 2]
    assert len([i for i in crm_items(leads_hub) if i["entity"] == "LEAD_SUBMISSION"]) == 1
    lead = lead_item(leads_hub, lines[1][3])
    assert (lead["campaign"], lead["owner"], lead["source"]) == ("expo 2026", "rep-sam", f"import:{key}")
    assert lead["company"] == "Acme Robotics"  # the later row is the newer contact detail


def test_get_lead_shows_owner_reason_segments_and_history(leads_hub, lambda_context):
    from reports_api.app import handler as reports

    _, body, _ = post(
        lambda_context, {"email": "read@example.com", "country": "US", "employees": 20, "campaign": "a"}
    )
    post(lambda_context, {"email": "read@example.com", "annual_revenue": 2_000_000, "campaign": "b"})
    answer = reports(http_event("GET", f"/leads/{body['lead_id']}", authorized=True), lambda_context)
    assert answer["statusCode"] == 200
    view = json.loads(answer["body"])
    assert view["owner"] == "rep-ana"
    assert view["status"] == "New"
    assert view["segments"] == {"employee_band": "10-49", "revenue_band": "1M-10M"}
    assert view["assignment"]["rule_id"] == "us-east"
    assert [(s["outcome"], s["campaign"], s["source"]) for s in view["submissions"]] == [
        ("created", "a", "web_form"), ("merged", "b", "web_form")
    ]  # fmt: skip
    assert view["queue"] is None and view["quarantine_reasons"] == []


def test_a_busy_table_is_503_with_retry_after(leads_hub, lambda_context, monkeypatch):
    from shared.store import crm
    from shared.store.errors import Throttled

    def busy(self, key):
        raise Throttled("ProvisionedThroughputExceededException")

    # the table refuses every read, as under load
    monkeypatch.setattr(crm.DynamoCrmStore, "get_lead", busy)
    monkeypatch.setattr(crm.DynamoCrmStore, "read_person", busy)
    status, body, headers = post(lambda_context, {"email": "busy@example.com", "first_name": "Bea"})
    assert (status, headers.get("Retry-After")) == (503, "5")
    assert "try again" in body["message"]


# ------------------------------------------------------------------ browsers: CORS, multipart, return URLs


def test_preflight_of_post_leads_answers_allowed_origins_only(leads_hub, lambda_context):
    from leads_webhook.app import handler

    def options(origin):
        headers = {"origin": origin, "access-control-request-method": "POST",
                   "access-control-request-headers": "content-type"}  # fmt: skip
        return handler(http_event("OPTIONS", "/leads", b"", headers), lambda_context)

    allowed, other = options("http://localhost:5173"), options("https://evil.example")
    assert allowed["statusCode"] == 204
    assert allowed["headers"]["Access-Control-Allow-Origin"] == "http://localhost:5173"
    assert other["statusCode"] == 403
    assert not any(k.lower().startswith("access-control-") for k in other.get("headers", {}))


def test_a_read_route_has_no_preflight_route_in_the_template():
    from hub.local.template import HubTemplate

    options = [r for r in HubTemplate().routes() if r.method.upper() == "OPTIONS"]
    assert [(r.path, r.authorizer) for r in options] == [("/leads", None)]


def test_a_multipart_browser_form_with_a_return_url_is_stored_and_answered_303(leads_hub, lambda_context):
    from leads_webhook.app import handler

    boundary = "----WebKitFormBoundary7MA4YWxkTrZu0gW"
    parts = {"email": "multi@example.com", "country": "DE", "return_url": "http://localhost:8000/thanks.html"}
    body = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in parts.items()
    )
    body += f"--{boundary}--\r\n"
    headers = {"content-type": f"multipart/form-data; boundary={boundary}", "accept": "text/html,*/*",
               "origin": "http://localhost:8000"}  # fmt: skip
    answer = handler(http_event("POST", "/leads", body.encode(), headers), lambda_context)
    assert answer["statusCode"] == 303
    assert answer["headers"]["Location"] == "http://localhost:8000/thanks.html"
    assert lead_item(leads_hub, answer_lead_id("multi@example.com"))["owner"] == "rep-jonas"


def test_a_return_url_on_another_host_is_refused_and_the_lead_still_kept(leads_hub, lambda_context):
    from leads_webhook.app import handler

    form = "email=away%40example.com&country=DE&return_url=https%3A%2F%2Fevil.example%2F"
    headers = {"content-type": "application/x-www-form-urlencoded", "accept": "text/html"}
    answer = handler(http_event("POST", "/leads", form, headers), lambda_context)
    assert answer["statusCode"] == 200 and "Location" not in answer.get("headers", {})
    assert "Thank you" in answer["body"]
    assert lead_item(leads_hub, answer_lead_id("away@example.com")) is not None


def answer_lead_id(email):
    from leads_webhook.intake import lead_id_of_email

    return lead_id_of_email(email)


def test_the_handler_answers_post_leads_as_the_resolver_that_documents_it(leads_hub, lambda_context):
    # Given requests whose answers do not change when asked twice: a lead already received (JSON, and a
    # browser's multipart form with a return URL: 303), bad fields (422, and as a browser's page), another
    # content type (415)
    from leads_webhook import routes
    from leads_webhook.app import handler

    boundary = "----parity"
    form = {
        "email": "parity-form@example.com",
        "country": "DE",
        "return_url": "http://localhost:8000/thanks.html",
    }
    multipart = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                        for k, v in form.items()) + f"--{boundary}--\r\n"  # fmt: skip
    browser = {"accept": "text/html,*/*", "origin": "http://localhost:8000"}
    lead = json.dumps({"email": "parity@example.com", "country": "US", "employees": 2000})
    requests = [
        (lead, {"content-type": "application/json"}),
        (multipart, {"content-type": f"multipart/form-data; boundary={boundary}", **browser}),
        (json.dumps({"email": "nope", "employees": "lots"}), {"content-type": "application/json"}),
        ("email=nope", {"content-type": "application/x-www-form-urlencoded", **browser}),
        ("email=a@b.co", {"content-type": "text/plain"}),
    ]
    handler(
        http_event("POST", "/leads", requests[0][0], requests[0][1], source_ip="198.51.100.250"),
        lambda_context,
    )
    handler(
        http_event("POST", "/leads", requests[1][0], requests[1][1], source_ip="198.51.100.251"),
        lambda_context,
    )
    statuses = []
    for n, (body, headers) in enumerate(requests):
        ip = f"198.51.100.{250 + n}"
        # When the handler answers it directly, and the resolver answers the same request
        direct = handler(http_event("POST", "/leads", body, headers, source_ip=ip), lambda_context)
        resolved = routes.app.resolve(
            http_event("POST", "/leads", body, headers, source_ip=ip), lambda_context
        )
        # Then the two answers are the same, byte for byte
        assert direct == resolved
        statuses.append(direct["statusCode"])
    assert statuses == [202, 303, 422, 422, 415]
