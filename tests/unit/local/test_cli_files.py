"""A command given a file that is not there says so as a usage error (exit 2), before it does anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.cli import build_parser


@pytest.mark.parametrize(
    "argv",
    [
        ["events", "post", "{missing}"],
        ["events", "sign", "{missing}"],
        ["routing", "test", "--rules", "{missing}"],
        ["routing", "test", "--rules", "{present}", "--leads", "{missing}"],
    ],
)
def test_a_missing_file_is_a_usage_error_naming_it(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    present = tmp_path / "routing.yaml"
    present.write_text("rules: []\n", encoding="utf-8")
    missing = tmp_path / "nope.json"
    args = [a.format(missing=missing, present=present) for a in argv]
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(args)
    assert exited.value.code == 2
    assert f"no file {missing}" in capsys.readouterr().err


def test_a_file_that_is_there_and_stdin_are_taken(tmp_path: Path) -> None:
    body = tmp_path / "events.json"
    body.write_text("{}", encoding="utf-8")
    assert build_parser().parse_args(["events", "post", str(body)]).file == str(body)
    assert build_parser().parse_args(["events", "sign", "-"]).file == "-"
