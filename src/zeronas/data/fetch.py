"""HTTP(S) or file:// download of one file, with a progress bar and resume (``.part`` + Range).

Standard library only (urllib): one GET per attempt, nothing fancy is needed, and it keeps
the dependencies few.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import sys
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from zeronas.errors import ZeroNASError

TIMEOUT_S = 60.0  # per socket operation, not for the whole file
CHUNK = 1 << 20


class DownloadError(ZeroNASError):
    """A server could not be reached, refused the file, or the transfer broke off."""


def _oneline(exc: BaseException) -> str:
    text = getattr(exc, "reason", None) or exc
    return " ".join(str(text).split()) or type(exc).__name__


def _open(url: str, offset: int, validator: str | None):
    headers = {"User-Agent": "zeronas (python urllib)"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if validator:  # the server sends the whole file instead if it changed meanwhile
            headers["If-Range"] = validator
    try:
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:
            return None  # the partial file is not a prefix of what the server has now: restart
        raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        what = "cannot read it" if url.startswith("file:") else "cannot reach the server"
        raise DownloadError(f"{url}: {what} ({_oneline(exc)})") from None


def _content_range_start(value: str | None) -> tuple[int, int | None] | None:
    m = re.fullmatch(r"bytes (\d+)-\d+/(\d+|\*)", (value or "").strip())
    if not m:
        return None
    return int(m[1]), None if m[2] == "*" else int(m[2])


def fetch(url: str, dest: Path, progress: bool = True) -> Path:
    """Download ``url`` to ``dest``, resuming ``dest.part`` left by an interrupted attempt.

    The file appears under ``dest`` only once complete (as many bytes as the server
    announced). A transfer that breaks off leaves ``dest.part`` and raises
    :class:`DownloadError` saying to run again; the next call continues where it stopped
    when the server honours HTTP Range, and starts over when it does not.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    meta = dest.with_name(dest.name + ".part.json")  # the server's validator, for If-Range
    offset = part.stat().st_size if part.is_file() else 0
    validator = None
    if offset and meta.is_file():
        try:
            validator = json.loads(meta.read_text()).get("validator")
        except (OSError, ValueError):
            validator = None
    resp = _open(url, offset, validator)
    if resp is None:
        offset = 0
        resp = _open(url, 0, None)
    with resp:
        status = getattr(resp, "status", None)
        total: int | None
        rng = _content_range_start(resp.headers.get("Content-Range")) if status == 206 else None
        if rng is not None and rng[0] == offset:
            total = rng[1]
            mode = "ab"
        else:  # a full response (200, file://, or a range we did not ask for): start over
            offset, mode = 0, "wb"
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            v = resp.headers.get("ETag") or resp.headers.get("Last-Modified")
            meta.write_text(json.dumps({"url": url, "validator": v}))
        done = offset
        bar = tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            desc=dest.name,
            file=sys.stderr,
            disable=None if progress else True,
        )
        try:
            with open(part, mode) as f, bar:
                while True:
                    chunk = resp.read(CHUNK)
                    if not chunk:
                        break
                    f.write(chunk)
                    done += len(chunk)
                    bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as exc:
            raise _interrupted(url, done, total, _oneline(exc)) from None
    if total is not None and done != total:
        raise _interrupted(url, done, total, "connection closed early")
    os.replace(part, dest)
    meta.unlink(missing_ok=True)
    return dest


def _interrupted(url: str, done: int, total: int | None, why: str) -> DownloadError:
    of = f" of {total}" if total is not None else ""
    return DownloadError(
        f"{url}: download interrupted after {done}{of} bytes ({why}); run the same command again to resume"
    )
