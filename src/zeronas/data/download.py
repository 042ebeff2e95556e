"""``zeronas data download``: the real benchmarks, fetched, verified and unpacked.

Sources: the xlsa17 release of Xian et al. ("Zero-Shot Learning — The Good, the Bad and the
Ugly"; CUB, SUN, AWA1, AWA2, APY) and the f-CLSWGAN data release (FLO). Neither publishes a
checksum, so a download is verified in two ways:

1. structure: each dataset's ``res101.mat`` and ``att_splits.mat`` load with zeronas's readers,
   pass its validation, and have the benchmark's dimensions and class counts (:data:`BENCHMARKS`);
2. the archive's sha256 is recorded under the root on the first verified download
   (:data:`CHECKSUMS`); every later download, from the original server or a mirror, must match.

Each dataset is unpacked into a temporary folder beside its target and renamed into place
only once verified, so a failure never leaves a half-written ``ROOT/<NAME>``.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zeronas.data.fetch import fetch
from zeronas.data.readers import read_xlsa17
from zeronas.data.validate import validate
from zeronas.errors import DataError, ZeroNASError

MIRROR_ENV = "ZERONAS_DATA_MIRROR"
CHECKSUMS = "zeronas-checksums.json"
DOWNLOADS = ".downloads"
FILES = ("res101.mat", "att_splits.mat")


@dataclass(frozen=True)
class Archive:
    """A published archive; ``sha256`` is pinned only where a public source states one."""

    filename: str
    url: str
    sha256: str | None = None


@dataclass(frozen=True)
class Benchmark:
    """Where a benchmark sits in its archive and the structure its files must have."""

    folder: str  # ROOT/<folder>, and the folder name inside the archive
    archive: str  # key of ARCHIVES
    member_dir: str
    feature_dim: int
    class_vector_dim: int
    seen: int
    unseen: int


ARCHIVES = {
    "xlsa17": Archive("xlsa17.zip", "http://datasets.d2.mpi-inf.mpg.de/xian/xlsa17.zip"),
    "cvpr18xian": Archive("cvpr18xian.zip", "http://datasets.d2.mpi-inf.mpg.de/xian/cvpr18xian.zip"),
}
# Class-vector dims and seen/unseen class counts of the proposed splits (SPEC §2).
BENCHMARKS = {
    "cub": Benchmark("CUB", "xlsa17", "xlsa17/data/CUB", 2048, 312, 150, 50),
    "sun": Benchmark("SUN", "xlsa17", "xlsa17/data/SUN", 2048, 102, 645, 72),
    "awa1": Benchmark("AWA1", "xlsa17", "xlsa17/data/AWA1", 2048, 85, 40, 10),
    "awa2": Benchmark("AWA2", "xlsa17", "xlsa17/data/AWA2", 2048, 85, 40, 10),
    "apy": Benchmark("APY", "xlsa17", "xlsa17/data/APY", 2048, 64, 20, 12),
    "flo": Benchmark("FLO", "cvpr18xian", "cvpr18xian/data/FLO", 2048, 1024, 82, 20),
}

Log = Callable[[str], None]


class ArchiveError(ZeroNASError):
    """The downloaded archive is at fault (damaged, incomplete, or not the benchmark)."""


def archive_url(archive: Archive, mirror: str | None) -> str:
    """The archive's URL, or the same file name at ``mirror``'s root (URL or local folder)."""
    if not mirror:
        return archive.url
    if "://" not in mirror:  # a local copy given as a folder
        path = Path(mirror).expanduser()
        if not path.is_dir():
            raise ZeroNASError(f"--mirror {mirror}: not a URL and not a folder")
        mirror = path.resolve().as_uri()
    return f"{mirror.rstrip('/')}/{archive.filename}"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _read_checksums(root: Path) -> dict:
    path = root / CHECKSUMS
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        return dict(data["archives"])
    except (OSError, ValueError, KeyError, TypeError):
        raise ZeroNASError(f"{path}: unreadable checksum record; fix or delete it") from None


def _record_checksum(root: Path, archive: Archive, sha: str, size: int, url: str) -> None:
    records = _read_checksums(root)
    records[archive.filename] = {
        "sha256": sha,
        "bytes": size,
        "url": url,
        "recorded": datetime.date.today().isoformat(),
    }
    doc = {
        "about": "sha256 of each archive as first downloaded and verified by `zeronas data download`; "
        "later downloads must match (no checksum is published for these archives)",
        "archives": records,
    }
    fd, tmp = tempfile.mkstemp(dir=root, prefix=f".{CHECKSUMS}.")
    with os.fdopen(fd, "w") as f:
        f.write(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, root / CHECKSUMS)


def _complete(folder: Path) -> bool:
    return all((folder / f).is_file() for f in FILES)


def _preflight(names: list[str], root: Path) -> list[str]:
    """The benchmarks still to download; refuses a target folder that holds something else."""
    todo = []
    for name in names:
        target = root / BENCHMARKS[name].folder
        if _complete(target):
            continue
        if target.exists() and (not target.is_dir() or any(target.iterdir())):
            raise ZeroNASError(
                f"{target}: exists but is not a complete dataset ({' + '.join(FILES)}); move it away or remove it"
            )
        todo.append(name)
    return todo


def _members(zf: zipfile.ZipFile, bench: Benchmark, label: str) -> dict[str, zipfile.ZipInfo]:
    """The files of ``bench`` in the archive: those directly in its folder."""
    infos = [i for i in zf.infolist() if not i.is_dir()]
    prefix = bench.member_dir + "/"
    found = {i.filename[len(prefix) :]: i for i in infos if i.filename.startswith(prefix)}
    if not found:  # tolerate another top-level layout: any '<...>/<FOLDER>/att_splits.mat'
        tails = [i.filename for i in infos if i.filename.endswith(f"/{bench.folder}/att_splits.mat")]
        if len(tails) == 1:
            prefix = tails[0][: -len("att_splits.mat")]
            found = {i.filename[len(prefix) :]: i for i in infos if i.filename.startswith(prefix)}
    found = {name: i for name, i in found.items() if "/" not in name and name and not name.startswith(".")}
    for f in FILES:
        if f not in found:
            raise ArchiveError(f"{label}: no {bench.member_dir}/{f} in the archive")
    return found


def check_structure(folder: Path, bench: Benchmark) -> str:
    """Load ``folder`` with zeronas's readers and validation and compare it with ``bench``.

    Returns a one-line summary; raises :class:`DataError` naming the file and the problem.
    """
    raw = read_xlsa17(folder)
    validate(raw)
    att = folder / "att_splits.mat"
    got = {
        "feature dim": (raw.features.shape[1], bench.feature_dim, folder / "res101.mat", "features"),
        "class-vector dim": (raw.class_vectors.shape[1], bench.class_vector_dim, att, "att"),
        "seen classes": (np.unique(raw.labels[raw.splits["trainval"]]).size, bench.seen, att, "trainval_loc"),
        "unseen classes": (np.unique(raw.labels[raw.splits["test_unseen"]]).size, bench.unseen, att, "test_unseen_loc"),
    }
    for what, (value, want, path, key) in got.items():
        if value != want:
            raise DataError(path, f"'{key}' gives {value} {what}; {bench.folder} has {want}")
    return (
        f"{raw.features.shape[1]}-d features of {raw.labels.size} images, {raw.class_vectors.shape[1]}-d class "
        f"vectors, {bench.seen} seen + {bench.unseen} unseen classes"
    )


def _unpack(zf: zipfile.ZipFile, bench: Benchmark, root: Path, label: str, verify: bool) -> tuple[Path, str]:
    """Extract ``bench`` into a temporary folder under ``root`` and check it; returns (folder, summary)."""
    members = _members(zf, bench, label)
    tmp = Path(tempfile.mkdtemp(prefix=f".{bench.folder}.", dir=root))
    try:
        for name, info in members.items():
            with zf.open(info) as src, open(tmp / name, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
        try:
            summary = check_structure(tmp, bench) if verify else _loads(tmp)
        except DataError as exc:  # name the file inside the archive, not the temporary folder
            raise ArchiveError(str(exc).replace(str(tmp), f"{label}:{bench.member_dir}")) from None
        return tmp, summary
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise ArchiveError(f"{label}: damaged archive ({' '.join(str(exc).split())})") from None
    except OSError as exc:  # e.g. a full disk: the archive may be fine
        shutil.rmtree(tmp, ignore_errors=True)
        raise ZeroNASError(f"{root}: cannot unpack {bench.folder} here ({' '.join(str(exc).split())})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _loads(folder: Path) -> str:
    raw = read_xlsa17(folder)
    validate(raw)
    return f"{raw.features.shape[1]}-d features of {raw.labels.size} images (structure not compared: --no-verify)"


def download(
    names: list[str],
    root: Path,
    mirror: str | None = None,
    verify: bool = True,
    log: Log = print,
    progress: bool = True,
) -> list[Path]:
    """Download, verify and unpack benchmarks into ``root/<NAME>`` (the layout ``--data`` takes).

    Args:
        names: keys of :data:`BENCHMARKS` (``cub``, ``sun``, ``awa1``, ``awa2``, ``apy``, ``flo``).
        root: folder that receives one sub-folder per dataset and the checksum record.
        mirror: fetch each archive under its original name from this URL's root (or folder).
        verify: compare the archive with the recorded (or pinned) sha256 and each dataset with
            its expected structure; ``False`` only checks that the files load.
        log: receives one line per step.
        progress: show a progress bar while downloading (on a terminal).

    Returns the dataset folders, in the order of ``names``. Datasets already complete under
    ``root`` are kept and not downloaded again.
    """
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise ZeroNASError(f"unknown dataset {unknown[0]!r} (known: {', '.join(BENCHMARKS)})")
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ZeroNASError(f"{root}: cannot create this folder ({exc.strerror or exc})") from None
    todo = _preflight(names, root)
    for name in names:
        if name not in todo:
            log(f"{BENCHMARKS[name].folder}: already at {root / BENCHMARKS[name].folder}")
    for key, archive in ARCHIVES.items():
        wanted = [BENCHMARKS[n] for n in todo if BENCHMARKS[n].archive == key]
        if wanted:
            _download_archive(archive, wanted, root, mirror, verify, log, progress)
    return [root / BENCHMARKS[n].folder for n in names]


def _download_archive(
    archive: Archive, wanted: list[Benchmark], root: Path, mirror: str | None, verify: bool, log: Log, progress: bool
) -> None:
    url = archive_url(archive, mirror)
    path = root / DOWNLOADS / archive.filename
    if path.is_file():
        log(f"{archive.filename}: using the complete download at {path}")
    else:
        log(f"{archive.filename}: downloading {url}")
        try:
            fetch(url, path, progress)
        finally:
            _remove_if_empty(path.parent)  # a resumable .part keeps it
    label = archive.filename
    sha = sha256_of(path)
    expected = archive.sha256 or _read_checksums(root).get(archive.filename, {}).get("sha256")
    if verify and expected and sha != expected:
        path.unlink()
        _remove_if_empty(path.parent)
        where = "pinned in zeronas" if archive.sha256 else f"recorded in {root / CHECKSUMS}"
        raise ZeroNASError(
            f"{label}: sha256 {sha[:16]}... differs from the {expected[:16]}... {where}; the file is damaged or "
            f"was changed on the server (deleted it; --no-verify accepts it)"
        )
    unpacked: list[tuple[Benchmark, Path]] = []
    try:
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise ArchiveError(f"{label}: not a valid zip archive ({' '.join(str(exc).split())})") from None
        with zf:
            for bench in wanted:
                tmp, summary = _unpack(zf, bench, root, label, verify)
                unpacked.append((bench, tmp))
                log(f"{bench.folder}: verified: {summary}")
        if verify and not expected:
            _record_checksum(root, archive, sha, path.stat().st_size, url)
            log(f"{label}: recorded sha256 {sha} in {root / CHECKSUMS}")
        for bench, tmp in unpacked:  # every dataset of this archive is verified: move them into place
            target = root / bench.folder
            if target.is_dir():
                target.rmdir()  # empty (checked before downloading)
            os.replace(tmp, target)
            log(f"{bench.folder}: {target}")
        unpacked = []
    except ArchiveError as exc:
        path.unlink(missing_ok=True)  # a damaged archive is useless: the next run downloads afresh
        _remove_if_empty(path.parent)
        raise ArchiveError(f"{exc} (deleted the download; nothing was unpacked)") from None
    finally:
        for _, tmp in unpacked:
            shutil.rmtree(tmp, ignore_errors=True)
    path.unlink(missing_ok=True)
    _remove_if_empty(path.parent)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()
