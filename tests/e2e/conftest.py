"""The local hub started as a user starts it: ``hub local`` in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _hub_command() -> list[str]:
    script = Path(sys.executable).parent / "hub"
    return [str(script)] if script.exists() else [sys.executable, "-m", "hub.cli"]


@contextmanager
def running_hub(home: Path, *extra: str, keep_log: bool = False) -> Iterator[dict[str, Any]]:
    """``hub local --home HOME`` started as a user starts it; yields what it wrote to ``.hub/local.json``.

    Stopped with SIGINT (Ctrl-C) when the block ends."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_", "HUB_"))}
    env.pop("CRM_TABLE", None)
    log_path = home / "hub.log"
    log = log_path.open("ab")
    info_path = home / ".hub" / "local.json"
    info_path.unlink(missing_ok=True)
    process = subprocess.Popen(
        [*_hub_command(), "local", "--home", str(home), "--port", "0", "--aws-port", "0", *extra],
        cwd=home, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    started = time.monotonic()
    # Generous: with DynamoDB Local (a JVM) on a busy 2-core machine a start has taken 100 s.
    deadline = time.monotonic() + 300
    while not info_path.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the local hub did not start:\n{log_path.read_text(errors='replace')[-4000:]}")
        time.sleep(0.1)
    info = json.loads(info_path.read_text())
    info["home"] = str(home)
    info["started_in_seconds"] = time.monotonic() - started
    info["process"] = process
    try:
        yield info
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        if keep_log and os.environ.get("KEEP_HUB_LOG"):
            shutil.copy(log_path, ROOT / "hub-e2e.log")


@pytest.fixture(scope="session")
def local_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A running local hub (one for the session); yields what it wrote to ``.hub/local.json``."""
    with running_hub(tmp_path_factory.mktemp("hub-home"), keep_log=True) as info:
        yield info


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    """Poll ``probe`` until it returns something truthy (or fail after ``timeout`` seconds)."""

    def wait(
        probe: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1, what: str = "condition"
    ) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = probe()
            if value:
                return value
            time.sleep(interval)
        pytest.fail(f"timed out after {timeout}s waiting for {what}")

    return wait


@pytest.fixture
def aws_clients(local_hub: dict[str, Any]) -> Callable[[str], Any]:
    """boto3 clients pointed at the local hub's embedded AWS."""
    import boto3
    from botocore.config import Config

    def make(service: str) -> Any:
        return boto3.client(service, region_name=local_hub["region"], endpoint_url=local_hub["aws_endpoint_url"],
                            aws_access_key_id="local", aws_secret_access_key="local",
                            config=Config(account_id_endpoint_mode="disabled"))  # fmt: skip

    return make


# ------------------------------------------------------------------ browser
@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium (Debian's, /usr/bin/chromium) driven by playwright, one per test module."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")  # a fresh --user-data-dir
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS,
            viewport={"width": 1100, "height": 760},
        )  # fmt: skip
        yield context
        context.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where screenshots go: ``$SCREENSHOT_DIR`` (default: the test's temporary folder)."""
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
