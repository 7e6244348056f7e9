"""The local hub's outbox pages and its journal of data-changing requests, without a running hub."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from hub.local.journal import Journal, JournalRecorder, changes_data
from hub.local.outbox import Outbox, send_email_message
from hub.local.pages import serve_docs, serve_outbox


def _outbox(tmp_path) -> Outbox:
    outbox = Outbox(tmp_path / "outbox.sqlite")
    form = {
        "Source": ["hub@example.com"],
        "Destination.ToAddresses.member.1": ["Rep@Example.com"],
        "Message.Subject.Data": ["<script>alert(1)</script> New prospect"],
        "Message.Body.Text.Data": ["Company: <b>West</b>"],
        "Message.Body.Html.Data": ["<p>Company: &lt;b&gt;West&lt;/b&gt;</p><script>alert(2)</script>"],
    }
    outbox.add(send_email_message(form, "m-1"))
    outbox.add(send_email_message({**form, "Destination.ToAddresses.member.1": ["other@example.com"]}, "m-2"))
    return outbox


def test_messages_by_recipient_case_insensitive_with_both_parts(tmp_path):
    outbox = _outbox(tmp_path)
    [mine] = outbox.messages(to="rep@example.com")
    assert (mine["id"], mine["text"]) == ("m-1", "Company: <b>West</b>")
    assert mine["body"] == mine["html"]  # as the emulated SES kept it: the HTML part when there is one
    assert [m["id"] for m in outbox.messages(last=1)] == ["m-2"]


def test_pages_escape_what_an_email_holds_and_sandbox_its_html(tmp_path):
    outbox = _outbox(tmp_path)
    status, _, listing = serve_outbox(outbox, "/_hub/outbox", "")  # type: ignore[misc]
    assert status == 200 and b"<script>alert(1)" not in listing and b"&lt;script&gt;" in listing
    status, headers, page = serve_outbox(outbox, "/_hub/outbox/m-1", "")  # type: ignore[misc]
    assert b"<script>" not in page and b"<iframe sandbox" in page
    status, headers, _html_part = serve_outbox(outbox, "/_hub/outbox/m-1/html", "")  # type: ignore[misc]
    assert headers["content-security-policy"].startswith("sandbox")
    status, headers, text = serve_outbox(outbox, "/_hub/outbox/m-1/text", "")  # type: ignore[misc]
    assert (headers["content-type"], text) == ("text/plain; charset=utf-8", b"Company: <b>West</b>")
    assert serve_outbox(outbox, "/_hub/outbox/nope", "")[0] == 404  # type: ignore[index]
    status, _, body = serve_outbox(outbox, "/_hub/outbox.json", "to=other@example.com")  # type: ignore[misc]
    assert [m["id"] for m in json.loads(body)["messages"]] == ["m-2"]


def test_the_docs_name_the_local_hub_as_their_server():
    for path, query in (("/_hub/openapi.json", ""), ("/_hub/docs", "format=json")):
        status, headers, body = serve_docs(path, "http://127.0.0.1:8787", query)  # type: ignore[misc]
        assert (status, headers["content-type"]) == (200, "application/json")
        assert json.loads(body)["servers"][0]["url"] == "http://127.0.0.1:8787"
    _status, headers, page = serve_docs("/_hub/docs", "http://127.0.0.1:8787")  # type: ignore[misc]
    assert b"SwaggerUIBundle" in page and b"/_hub/docs/swagger-ui-bundle.min.js" in page


def _environ(
    method: str, path: str, *, target: str = "", service: str = "s3", query: str = ""
) -> dict[str, Any]:
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
               "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential=local/20261202/us-east-1/{service}/aws4_request"}  # fmt: skip
    if target:
        environ["HTTP_X_AMZ_TARGET"] = target
    return environ


def test_only_data_changing_requests_are_journalled():
    assert changes_data(_environ("POST", "/", target="DynamoDB_20120810.PutItem", service="dynamodb"))
    assert changes_data(
        _environ("POST", "/", target="DynamoDB_20120810.TransactWriteItems", service="dynamodb")
    )
    assert not changes_data(_environ("POST", "/", target="DynamoDB_20120810.Query", service="dynamodb"))
    assert not changes_data(
        _environ("POST", "/", target="DynamoDBStreams_20120810.GetRecords", service="dynamodb")
    )
    assert not changes_data(_environ("POST", "/", target="DynamoDB_20120810.CreateTable", service="dynamodb"))
    assert changes_data(_environ("PUT", "/bucket/pos/a.csv"))
    assert changes_data(_environ("DELETE", "/bucket/pos/a.csv"))
    assert changes_data(_environ("POST", "/bucket", query="delete"))
    assert not changes_data(_environ("PUT", "/bucket", query="notification"))
    assert not changes_data(_environ("GET", "/bucket/pos/a.csv"))
    assert changes_data(_environ("POST", "/", target="AmazonSSM.PutParameter", service="ssm"))
    assert not changes_data(_environ("POST", "/", target="AmazonSQS.SendMessage", service="sqs"))


def test_a_journal_replays_what_succeeded_in_order_and_skips_a_line_cut_short(tmp_path):
    seen: list[tuple[str, str, bytes]] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        seen.append((environ["REQUEST_METHOD"], environ["PATH_INFO"], body))
        status = "400 Bad Request" if b"refuse" in body else "200 OK"
        start_response(status, [("content-type", "text/plain")])
        return [b"ok"]

    journal = Journal(tmp_path / "journal.jsonl")
    journal.start()
    recorder = JournalRecorder(app, journal)
    for body in (b"first", b"refuse", b"second"):
        environ = _environ("PUT", "/bucket/key%20one", service="s3") | {
            "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), "HTTP_HOST": "127.0.0.1:4599",
            "REQUEST_URI": "/bucket/key%20one",
        }  # fmt: skip
        recorder(environ, lambda *args: None)
    journal.stop()
    with journal.path.open("a") as lines:
        lines.write('{"method": "PUT", "url": "http://127.0.0.1')  # a kill mid-write
    seen.clear()
    assert journal.replay(app) == 2
    assert seen == [("PUT", "/bucket/key one", b"first"), ("PUT", "/bucket/key one", b"second")]


def test_a_large_body_is_journalled_a_slice_at_a_time_as_one_json_line(tmp_path):
    from hub.local import journal as journal_module

    # Longer than two slices and not a multiple of three: the joined slices must be the whole's base64.
    body = bytes(range(256)) * (2 * journal_module._BODY_SLICE // 256 + 7) + b"end"
    journal = Journal(tmp_path / "journal.jsonl")
    journal.start()
    environ = _environ("POST", "/bucket/big", service="s3") | {
        "QUERY_STRING": "uploads", "HTTP_HOST": "127.0.0.1:4599", "REQUEST_URI": "/bucket/big?uploads",
    }  # fmt: skip
    journal.record(environ, body, b"<UploadId>up-1</UploadId>")
    journal.record(environ | {"QUERY_STRING": "", "REQUEST_URI": "/bucket/big"}, b"", b"")
    journal.stop()
    lines = journal.path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["upload_id"] == "up-1" and first["body_encoded"] is True
    assert base64.b64decode(first["body"]) == body
    assert first["url"] == "http://127.0.0.1:4599/bucket/big?uploads" and first["method"] == "POST"
    assert second["body"] == "" and "upload_id" not in second
