"""The local hub's patched moto S3 (``hub/local/s3_bodies.py``) answers as moto itself does.

The patches change moto for the whole process, so they run in a child process (never in this one, where
other tests run ``mock_aws``): the embedded AWS takes the same multi-part uploads before and after the
patches are installed, and the objects' bytes, ETags, checksums and Range reads must be equal.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import json, os, sys, tempfile
import boto3
from boto3.s3.transfer import TransferConfig
from moto.s3.models import s3_backends
from hub.local.embedded_aws import EmbeddedAws
from hub.local.s3_bodies import join_parts_on_disk, stream_large_objects

aws = EmbeddedAws(0)
aws.start()
s3 = boto3.client("s3", endpoint_url=aws.url, region_name="us-east-1",
                  aws_access_key_id="local", aws_secret_access_key="local")
s3.create_bucket(Bucket="bodies")
MiB = 1 << 20
data = os.urandom(5 * MiB) + bytes(range(256)) * (20 * 1024) + b"tail"  # parts of 5, 5 MiB, 4 bytes
path = os.path.join(tempfile.mkdtemp(), "file")
with open(path, "wb") as handle:
    handle.write(data)
config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB, max_concurrency=3)
backend = s3_backends["123456789012"]["aws"]

def uploads(prefix):
    seen = {}
    for algorithm, kind in ((None, None), ("SHA256", None), ("CRC32", "FULL_OBJECT")):
        key = f"{prefix}/{algorithm}"
        extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
        extra |= {"ChecksumType": kind} if kind else {}
        s3.upload_file(path, "bodies", key, ExtraArgs=extra, Config=config)
        whole = s3.get_object(Bucket="bodies", Key=key, ChecksumMode="ENABLED")
        body = whole["Body"].read()
        ranged = s3.get_object(Bucket="bodies", Key=key, Range="bytes=5242870-5242900")["Body"].read()
        tail = s3.get_object(Bucket="bodies", Key=key, Range="bytes=-10")["Body"].read()
        head = s3.head_object(Bucket="bodies", Key=key, ChecksumMode="ENABLED")
        stored = backend.get_object("bodies", key)
        parts = stored.multipart.parts
        seen[str(algorithm)] = {
            "same_bytes": body == data, "range": ranged.hex(), "tail": tail.hex(),
            "etag": whole["ETag"], "head_etag": head["ETag"], "length": head["ContentLength"],
            "checksums": sorted((k, v) for k, v in head.items() if k.startswith("Checksum")),
            "stored_checksum": [stored.checksum_algorithm, stored.checksum_type, stored.checksum_value,
                                stored.checksum_parts],
            "parts": len(parts), "object_on_disk": stored._value_buffer._rolled,
            "parts_on_disk": [parts[n]._value_buffer._rolled for n in sorted(parts)],
        }
    return seen

moto_own = uploads("own")
stream_large_objects()
join_parts_on_disk()
join_parts_on_disk()  # idempotent
patched = uploads("patched")
from moto.s3.models import FakeMultipart
assert FakeMultipart.complete.joins_on_disk
print(json.dumps({"own": moto_own, "patched": patched}))
aws.stop()
"""


def test_parts_joined_on_disk_give_moto_s_own_object_etag_checksum_and_ranges():
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["patched"] == result["own"]
    for algorithm, seen in result["patched"].items():
        assert seen["same_bytes"] and seen["parts"] == 3 and seen["etag"].endswith('-3"'), algorithm
        assert seen["etag"] == seen["head_etag"] and seen["length"] == 10 * (1 << 20) + 4
        assert seen["object_on_disk"] and seen["parts_on_disk"] == [True, True, False], algorithm
    kinds = {algorithm: seen["stored_checksum"][:2] for algorithm, seen in result["patched"].items()}
    assert kinds == {"None": ["CRC32", "COMPOSITE"], "SHA256": ["SHA256", "COMPOSITE"],
                     "CRC32": ["CRC32", "FULL_OBJECT"]}  # fmt: skip
