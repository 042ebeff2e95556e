"""The user's inputs to ``zeronas data extract``: an image folder, class vectors, class lists.

Every problem is one :class:`DataError` naming the file and what is wrong.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from zeronas.errors import DataError, ZeroNASError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"})


def scan_images(root: Path) -> dict[str, list[Path]]:
    """Class name -> its image files (sorted), from one sub-folder per class (sorted by name)."""
    if not root.is_dir():
        raise DataError(root, "not a folder (expected one sub-folder of images per class)")
    classes: dict[str, list[Path]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(p for p in sub.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(sub, f"no images (looked for {', '.join(sorted(IMAGE_SUFFIXES))})")
        classes[sub.name] = files
    if not classes:
        raise DataError(root, "no class sub-folders (expected one sub-folder of images per class)")
    return classes


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_class_vectors(path: Path, names_file: Path | None = None) -> tuple[list[str], np.ndarray]:
    """Class names and their vectors (C, D) from a CSV or a ``.npy``.

    CSV: one row per class, ``name, v1, v2, ...``; a first row whose second cell is not a
    number is a header. ``.npy``: a (C, D) float array whose rows follow the names in
    ``names_file`` (one per line).
    """
    if not path.is_file():
        raise DataError(path, "file not found")
    if path.suffix.lower() == ".npy":
        names = _npy_names(path, names_file)
        try:
            vectors = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise DataError(path, f"not a readable .npy file ({' '.join(str(exc).split())})") from None
        if vectors.ndim != 2 or vectors.dtype.kind not in "biuf":
            raise DataError(path, f"expected a 2-D numeric array (classes, dims), got {vectors.dtype} {vectors.shape}")
        if vectors.shape[0] != len(names):
            raise DataError(path, f"{vectors.shape[0]} rows but {len(names)} names in {names_file}")
    else:
        names, vectors = _read_csv(path)
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise DataError(path, f"class {dup!r} is listed twice")
    vectors = vectors.astype(np.float64)
    if not np.isfinite(vectors).all():
        raise DataError(path, "class vectors hold NaN/Inf values")
    if (np.linalg.norm(vectors, axis=1) == 0).any():
        zero = names[int(np.flatnonzero(np.linalg.norm(vectors, axis=1) == 0)[0])]
        raise DataError(path, f"class {zero!r} has an all-zero vector")
    return names, vectors


def _npy_names(path: Path, names_file: Path | None) -> list[str]:
    if names_file is None:
        raise DataError(path, "a .npy holds no class names: give --class-names FILE (one name per line, in row order)")
    if not names_file.is_file():
        raise DataError(names_file, "file not found")
    names = [ln.strip() for ln in names_file.read_text().splitlines() if ln.strip()]
    if not names:
        raise DataError(names_file, "no class names")
    return names


def _read_csv(path: Path) -> tuple[list[str], np.ndarray]:
    try:
        with open(path, newline="") as f:
            rows = [(i, r) for i, r in enumerate(csv.reader(f), 1) if r and any(c.strip() for c in r)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(path, f"not a readable CSV file ({exc})") from None
    if rows and len(rows[0][1]) > 1 and not _is_number(rows[0][1][1].strip()):
        rows = rows[1:]  # header
    if not rows:
        raise DataError(path, "no class rows (expected 'name, v1, v2, ...' per class)")
    width = len(rows[0][1])
    if width < 2:
        raise DataError(path, f"line {rows[0][0]}: expected 'name, v1, v2, ...'")
    names, values = [], []
    for line, row in rows:
        if len(row) != width:
            raise DataError(path, f"line {line}: {len(row)} columns, expected {width} like line {rows[0][0]}")
        bad = next((c for c in row[1:] if not _is_number(c.strip())), None)
        if bad is not None:
            raise DataError(path, f"line {line}: {bad.strip()!r} is not a number")
        names.append(row[0].strip())
        values.append([float(c) for c in row[1:]])
    return names, np.array(values)


def parse_class_list(value: str, option: str) -> list[str]:
    """Class names from ``a,b,c`` or ``@FILE`` (one name per line)."""
    if value.startswith("@"):
        path = Path(value[1:])
        if not path.is_file():
            raise DataError(path, f"file not found (given to {option})")
        names = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
    else:
        names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise ZeroNASError(f"{option}: no class names given")
    return names
