"""Argument types the command modules share (argparse ``type=``): a bad value is a usage error, no traceback."""

from __future__ import annotations

import argparse
from pathlib import Path


def existing_file(text: str) -> str:
    """A path to a file that is there (``-`` for stdin passes as it is)."""
    if text != "-" and not Path(text).is_file():
        raise argparse.ArgumentTypeError(f"no file {text}")
    return text
