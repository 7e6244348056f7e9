"""The Lambda package size: the shared layer built for the functions' platform (arm64, Python 3.12, as
``sam build`` builds it with the Makefile's ``build-SharedLayer``) plus the function code, unzipped,
beside Lambda's 250 MB limit for a function and its layers.

    .venv/bin/python bench/layer_size.py            # build into .layer-build, then measure (make layer-size)
    .venv/bin/python bench/layer_size.py --no-build # measure the last build

The last line is the figures as one JSON document (bench/sheet.py reads it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MB = 250  # unzipped: function code plus every layer


def tree_bytes(path: Path) -> int:
    total = 0
    for folder, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        total += sum((Path(folder) / name).stat().st_size for name in files)
    return total


def build(out: Path) -> None:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    subprocess.run(
        ["make", "-s", "build-SharedLayer", f"ARTIFACTS_DIR={out}", f"PYTHON={sys.executable}"],
        cwd=ROOT, check=True,
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=ROOT / ".layer-build")
    parser.add_argument("--no-build", action="store_true", help="measure the last build")
    args = parser.parse_args()
    if not args.no_build:
        build(args.out)
    layer = args.out / "python"
    packages = sorted(((tree_bytes(p), p.name) for p in layer.iterdir() if p.is_dir()), reverse=True)
    layer_mb = tree_bytes(layer) / 1e6
    code_mb = tree_bytes(ROOT / "functions") / 1e6
    total = layer_mb + code_mb
    print(f"layer (unzipped)        {layer_mb:7.1f} MB")
    for size, name in packages[:8]:
        print(f"  {name:<22}{size / 1e6:7.1f} MB")
    print(f"function code           {code_mb:7.1f} MB")
    print(f"total                   {total:7.1f} MB of {LIMIT_MB} MB ({LIMIT_MB - total:.1f} MB to spare)")
    duckdb_mb = next((size / 1e6 for size, name in packages if name == "duckdb"), 0.0)
    print(json.dumps({"layer_mb": round(layer_mb, 1), "function_code_mb": round(code_mb, 1),
                      "total_mb": round(total, 1), "limit_mb": LIMIT_MB, "duckdb_mb": round(duckdb_mb, 1)}))  # fmt: skip


if __name__ == "__main__":
    main()
