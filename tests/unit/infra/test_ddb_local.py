"""The DynamoDB Local tier says in one line what is missing, and finds what it needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import ddb_local


@pytest.mark.parametrize(
    ("text", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_402"', 8),
        ("no version here", None),
    ],
)
def test_the_java_major_version_is_read_from_its_banner(text: str, major: int | None) -> None:
    assert ddb_local.parse_java_version(text) == major


def test_no_java_on_the_path_is_one_line_with_the_remedy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a PATH with neither java nor npm
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("DDB_LOCAL", raising=False)
    monkeypatch.delenv("DDB_LOCAL_ENDPOINT", raising=False)

    reason = ddb_local.unavailable()

    assert reason is not None
    assert "\n" not in reason
    assert "no `java` on PATH" in reason and "Java 17" in reason


def test_an_old_java_is_named_with_the_version_needed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Given a java that reports version 11
    java = tmp_path / "java"
    java.write_text("#!/bin/sh\necho 'openjdk version \"11.0.2\" 2019-01-15' >&2\n")
    java.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("DDB_LOCAL", raising=False)
    monkeypatch.delenv("DDB_LOCAL_ENDPOINT", raising=False)

    assert ddb_local.unavailable() == (
        f"DynamoDB Local tier skipped: Java 11 found, DynamoDB Local 3 needs 17+; {ddb_local.JAVA_HINT}"
    )


def test_the_tier_can_be_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DDB_LOCAL", "off")
    assert ddb_local.unavailable() == "DynamoDB Local tier skipped: DDB_LOCAL=off"


def test_a_free_port_is_on_loopback_and_bindable() -> None:
    import socket

    port = ddb_local.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))
