"""``shared.store.files``: the bucket's store and its in-memory twin answer alike."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from shared.store.errors import Throttled
from shared.store.files import FileStore, InMemoryFileStore, S3FileStore


@pytest.fixture(params=["memory", "moto"])
def files(request: pytest.FixtureRequest) -> FileStore:
    if request.param == "memory":
        return InMemoryFileStore()
    request.getfixturevalue("aws")
    from shared.settings import get_settings

    return S3FileStore(get_settings().bucket)


def test_a_written_file_is_read_back_with_its_size_and_replaced_by_the_next_write(files: FileStore) -> None:
    key = "reports/plan/2026-11/plan-2026.csv"
    assert files.size_of(key) is None and files.read(key) is None
    files.write(key, "Näme,1\n".encode(), "text/csv; charset=utf-8")
    assert files.size_of(key) == 8 and files.read(key) == "Näme,1\n".encode()
    files.write(key, b"x", "text/csv; charset=utf-8")
    assert files.size_of(key) == 1 and files.read(key) == b"x"
    assert files.read("reports/plan/2026-11/plan-2026.html") is None


def test_a_link_names_the_key_the_file_name_the_type_and_the_lifetime(files: FileStore) -> None:
    key = "pos/rejects/northwind/june file.csv"
    files.write(key, b"row,reason\n", "text/csv; charset=utf-8")
    link = urlsplit(files.link(key, "june file.csv", 300, "text/html; charset=utf-8", "inline"))
    query = {name.lower(): values[0] for name, values in parse_qs(link.query).items()}
    assert link.path.endswith("/pos/rejects/northwind/june%20file.csv")
    assert query["response-content-disposition"] == 'inline; filename="june file.csv"'
    assert query["response-content-type"] == "text/html; charset=utf-8"
    assert query["x-amz-expires"] == "300"


def test_a_bucket_that_is_not_there_raises_throttled_not_missing(aws: Any) -> None:
    """NoSuchBucket is no missing object: reads and writes raise ``Throttled`` (the call is retried),
    so a route does not answer 404 and the export does not end as if it had written its files."""
    files = S3FileStore("no-such-bucket-here")
    with pytest.raises(Throttled):
        files.read("reports/plan/2026-11/plan-2026.csv")
    with pytest.raises(Throttled):
        files.write("reports/plan/2026-11/plan-2026.csv", b"x", "text/csv")
