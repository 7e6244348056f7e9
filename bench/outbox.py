"""The local outbox: how long reading one recipient's mail takes with many emails kept.

    .venv/bin/python bench/outbox.py [messages]

Prints the time of ``messages(to=...)`` (what ``hub emails --to`` and the tests' ``emails_to`` ask
for) and of ``messages(last=10)`` over an outbox of N messages to 200 recipients.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from hub.local.outbox import Outbox


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        outbox = Outbox(Path(folder) / "outbox.sqlite")
        started = time.perf_counter()
        for n in range(count):
            outbox.add({"id": f"m-{n}", "sent_at": f"2026-12-02T00:00:{n % 60:02d}.000000Z", "source": "hub@example.com",
                        "subject": f"New prospect assigned: lead {n}", "text": "x" * 400, "html": "<p>" + "x" * 400 + "</p>",
                        "destinations": {"ToAddresses": [f"rep-{n % 200}@example.com"]}})  # fmt: skip
        filled = time.perf_counter() - started
        started = time.perf_counter()
        mine = outbox.messages(to="rep-7@example.com")
        by_recipient = time.perf_counter() - started
        started = time.perf_counter()
        outbox.messages(last=10)
        last = time.perf_counter() - started
        outbox.close()
    print(f"outbox of {count} emails (filled in {filled:.1f} s): one recipient's {len(mine)} in "
          f"{by_recipient * 1000:.1f} ms, the last 10 in {last * 1000:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
