"""A dataset's content fingerprint: sha256 of the files the loader reads, cached by size and
modification time (so a grid hashes a 600 MB ``res101.mat`` once, not per cell)."""

from __future__ import annotations

import hashlib
from pathlib import Path

#: The files of an xlsa17 folder that zeronas reads (``planted.npz``: the oracle of a
#: semi-synthetic benchmark).
DATASET_FILES = ("res101.mat", "att_splits.mat", "planted.npz")
_CHUNK = 1 << 20


def dataset_files(source: str | Path) -> list[Path]:
    """The files whose bytes make a dataset: the ``.npz`` itself, or the folder's
    :data:`DATASET_FILES` that exist."""
    p = Path(source)
    if p.is_file():
        return [p]
    return [p / name for name in DATASET_FILES if (p / name).is_file()]


def file_sha256(path: Path, cache: dict[str, dict] | None = None) -> str:
    """sha256 of ``path``'s bytes; ``cache`` (path -> size, mtime_ns, sha256) skips unchanged files."""
    st = path.stat()
    key = str(path.resolve())
    hit = cache.get(key) if cache is not None else None
    if hit and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns:
        return str(hit["sha256"])
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    digest = h.hexdigest()
    if cache is not None:
        cache[key] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": digest}
    return digest


def fingerprint(source: str | Path, split_seed: int = 0, cache: dict[str, dict] | None = None) -> str:
    """The content fingerprint of the dataset at ``source`` with its ``split_seed`` (which draws
    validation classes where the file names none): equal exactly when the loader would see the same
    bytes, whatever the path."""
    h = hashlib.sha256(f"split_seed={split_seed}\n".encode())
    for p in dataset_files(source):
        h.update(f"{p.name}={file_sha256(p, cache)}\n".encode())
    return h.hexdigest()
