"""The drop folder: a file at ``drop/pos/DIST-A/jan.csv`` is uploaded as ``pos/DIST-A/jan.csv``.

A file is uploaded once it has stopped growing (same size and modification time on two
looks), and again whenever it changes. The upload is an ordinary S3 put, so the function
that the template triggers on that prefix receives the S3 event record AWS would send.
What was uploaded is remembered in ``state`` (in the hub's data folder), so a restarted hub
does not upload (and process) the same files again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class DropFolder:
    def __init__(self, root: Path, s3: Any, bucket: str, state: Path | None = None) -> None:
        self.root = root
        self.s3 = s3
        self.bucket = bucket
        self.state = state
        self._seen: dict[Path, tuple[int, int]] = {}
        if state is not None and state.is_file():
            kept = json.loads(state.read_text(encoding="utf-8"))
            self._seen = {root / name: (size, mtime) for name, (size, mtime) in kept.items()}
        self._pending: dict[Path, tuple[int, int]] = {}
        self.uploaded: list[str] = []

    def prepare(self, prefixes: list[str]) -> None:
        for prefix in prefixes:
            (self.root / prefix).mkdir(parents=True, exist_ok=True)

    def adopt_existing(self) -> None:
        """Take the files already in the folder as uploaded (``hub local --fresh`` starts empty: a file
        left in the folder is imported again when it changes, or is touched)."""
        for path in self.root.rglob("*"):
            if path.is_file() and not path.name.startswith("."):
                stat = path.stat()
                self._seen[path] = (stat.st_size, stat.st_mtime_ns)

    def poll(self) -> int:
        done = 0
        for path in sorted(self.root.rglob("*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            stat = path.stat()
            signature = (stat.st_size, stat.st_mtime_ns)
            if self._seen.get(path) == signature:
                continue
            if self._pending.get(path) != signature:
                self._pending[path] = signature  # look again next time: is it still growing?
                continue
            key = path.relative_to(self.root).as_posix()
            with path.open("rb") as body:
                self.s3.upload_fileobj(body, self.bucket, key)
            self._seen[path] = signature
            self._pending.pop(path, None)
            self.uploaded.append(key)
            done += 1
        if done and self.state is not None:
            kept = {p.relative_to(self.root).as_posix(): list(sig) for p, sig in self._seen.items()}
            self.state.with_suffix(".tmp").write_text(json.dumps(kept), encoding="utf-8")
            self.state.with_suffix(".tmp").replace(self.state)
        return done
