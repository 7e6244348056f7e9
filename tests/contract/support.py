"""What the contract tests share: racing threads, an item too big for DynamoDB, known gaps."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

# DynamoDB refuses an item over 400 KB (names and values together): this text alone is over it.
OVER_400_KB = "x" * (400 * 1024 + 1)
# About 100 KB: a dozen such items make a partition that DynamoDB answers in more than one 1 MB page.
ABOUT_100_KB = "y" * (100 * 1024)


@dataclass
class Raced:
    """What each of the racing calls returned or raised, in thread order."""

    results: list[Any]
    errors: list[BaseException | None]

    def values(self) -> list[Any]:
        """The results of the calls that returned."""
        return [r for r, e in zip(self.results, self.errors, strict=True) if e is None]

    def raised(self, kind: type[BaseException] = BaseException) -> list[BaseException]:
        return [e for e in self.errors if isinstance(e, kind)]


def race(n: int, call: Callable[[int], T], *, timeout: float = 120.0) -> Raced:
    """Run ``call(0) .. call(n-1)`` in ``n`` threads released together; collect every outcome."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n
    errors: list[BaseException | None] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call(i)
        except BaseException as exc:  # every outcome is the test's to judge
            errors[i] = exc

    threads = [threading.Thread(target=run, args=(i,), name=f"race-{i}") for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError(f"racing calls still running after {timeout} s")
    return Raced(results, errors)
