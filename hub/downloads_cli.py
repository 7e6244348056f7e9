"""``hub pos rejects KEY`` and ``hub leads results KEY``: the files the hub wrote for people, fetched from
the running local hub's read API as any reader fetches them (``GET /pos/rejects?key=``,
``GET /leads/imports/results?key=``, with the hub's ``api_token``), given the ORIGINAL file's key.

The CSV goes to standard output, or to ``--out``. A refusal prints the API's own sentence and exits 1
(no traceback). A large file's answer is a redirect to a presigned S3 link, followed without the bearer
token (S3 refuses a second credential).
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from hub.local_state import local_info
from shared.downloads import POS_REJECTS_ROUTE

TIMEOUT_SECONDS = 60


def register(subparsers: Any) -> None:
    pos = subparsers.add_parser("pos", help="POS files: fetch what the hub wrote about them")
    pos.add_argument("--home", default=".", help="where the local hub's .hub/ lives (default: here)")
    commands = pos.add_subparsers(dest="pos_command", required=True)
    rejects = commands.add_parser(
        "rejects",
        help="every rejected row of a POS file with its reason (the rejects CSV of its newest version)",
    )
    rejects.add_argument(
        "key",
        help="the POS file's S3 key, e.g. pos/DIST-A/week-48.csv (dropped as drop/pos/DIST-A/week-48.csv)",
    )
    rejects.add_argument("--out", help="write the CSV to this file (default: standard output)")
    rejects.set_defaults(func=cmd_pos_rejects)


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are not followed by urllib (it would send the bearer token on to S3): ``fetch`` does."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch(api_url: str, token: str, route: str, query: dict[str, str]) -> bytes:
    """The file the route hands over for ``query`` (``{"key": ...}``); ``LookupError`` with the API's
    sentence when refused."""
    url = f"{api_url.rstrip('/')}{route}?{urllib.parse.urlencode(query)}"
    opener = urllib.request.build_opener(_KeepRedirects)
    request = urllib.request.Request(url, headers={"authorization": f"Bearer {token}"})
    try:
        with opener.open(request, timeout=TIMEOUT_SECONDS) as answer:
            return bytes(answer.read())
    except urllib.error.HTTPError as error:
        if error.code in (301, 302, 303, 307) and error.headers.get("Location"):
            with urllib.request.urlopen(error.headers["Location"], timeout=TIMEOUT_SECONDS) as answer:
                return bytes(answer.read())
        raise LookupError(f"{error.code}: {_message(error.read())}") from None


def _message(body: bytes) -> str:
    import json

    try:
        return str(json.loads(body)["message"])
    except (ValueError, KeyError, TypeError):
        return body.decode(errors="replace").strip()


def fetch_file(home: str, route: str, key: str, out: str | None) -> int:
    """Fetch from the local hub in ``home`` and write to ``out`` (or standard output); 1 when refused."""
    return fetch_to(home, route, {"key": key}, out, key)


def fetch_to(home: str, route: str, query: dict[str, str], out: str | None, what: str) -> int:
    """Fetch ``route?query`` from the local hub in ``home`` and write it to ``out`` (or standard output);
    1 when refused, the API's sentence after ``what``."""
    info = local_info(Path(home).resolve())
    try:
        body = fetch(str(info["api_url"]), str(info["api_token"]), route, query)
    except LookupError as refused:
        print(f"{what}: {refused}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as error:
        print(f"the local hub at {info['api_url']} did not answer: {error}", file=sys.stderr)
        return 1
    if out:
        Path(out).write_bytes(body)
        print(f"{len(body)} bytes written to {out}", file=sys.stderr)
    else:
        sys.stdout.write(body.decode("utf-8", errors="replace"))
        sys.stdout.flush()
    return 0


def cmd_pos_rejects(args: argparse.Namespace) -> int:
    return fetch_file(args.home, POS_REJECTS_ROUTE, args.key, args.out)
