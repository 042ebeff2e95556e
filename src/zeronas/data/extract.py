"""``zeronas data extract``: features of your own images, written as an xlsa17 dataset folder.

The default encoder and preprocessing follow the xlsa17 features: ImageNet ResNet-101,
resize the short side to 256, centre crop 224, ImageNet mean/std, 2048-d global average
pool of the last stage. The output is ``res101.mat`` + ``att_splits.mat`` laid out as the
real files (column per sample/class, 1-based MATLAB indices), plus ``extract.json``
recording how it was made.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from zeronas.data.extract_inputs import parse_class_list, read_class_vectors, scan_images
from zeronas.data.resnet import ResNet, load_resnet
from zeronas.errors import DataError, ZeroNASError

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)
RESIZE, CROP = 256, 224
MAT_V5_LIMIT = 2**31 - 1  # bytes per variable in a MATLAB v5 file

Log = Callable[[str], None]


@dataclass
class ExtractOptions:
    """How ``zeronas data extract`` splits the classes and encodes the images."""

    unseen: str  # comma-separated class names or @FILE
    val: str | None = None  # validation classes among the seen (same format); None: zeronas derives them
    test_seen_fraction: float = 0.2  # per seen class, the share of images held out as test-seen
    split_seed: int = 0
    model: str = "resnet101"
    weights: Path | None = None
    random_weights: bool = False
    batch_size: int = 64
    workers: int = 4
    class_names: Path | None = None  # row names of a .npy class-vector file


def load_image(path: Path, resize: int = RESIZE, crop: int = CROP) -> np.ndarray:
    """One image as a normalised (3, crop, crop) float32 array (torchvision's Resize + CenterCrop)."""
    try:
        with Image.open(path) as raw:
            rgb = raw.convert("RGB")
            w, h = rgb.size
            short, long = min(w, h), max(w, h)
            size_long = int(resize * long / short)
            im = rgb.resize((resize, size_long) if w <= h else (size_long, resize), Image.Resampling.BILINEAR)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise DataError(path, f"not a readable image ({' '.join(str(exc).split())})") from None
    w, h = im.size
    top, left = int(round((h - crop) / 2.0)), int(round((w - crop) / 2.0))
    arr = np.asarray(im.crop((left, top, left + crop, top + crop)), dtype=np.float32) / 255.0
    return ((arr - MEAN) / STD).transpose(2, 0, 1)


@torch.inference_mode()
def encode(
    files: list[Path],
    model: ResNet,
    device: torch.device,
    batch_size: int = 64,
    workers: int = 4,
    progress: bool = True,
) -> np.ndarray:
    """(N, feature_dim) float32 features; images are decoded by ``workers`` threads while the
    previous batch runs on ``device``."""
    model = model.to(device).eval()
    out = np.empty((len(files), model.feature_dim), dtype=np.float32)
    batches = [files[i : i + batch_size] for i in range(0, len(files), batch_size)]
    bar = tqdm(total=len(files), unit="img", desc="features", file=sys.stderr, disable=None if progress else True)
    with ThreadPoolExecutor(max(1, workers)) as pool, bar:
        pending = [pool.submit(load_image, f) for f in batches[0]] if batches else []
        start = 0
        for k in range(len(batches)):
            arrays = [p.result() for p in pending]
            if k + 1 < len(batches):  # decode the next batch while this one is encoded
                pending = [pool.submit(load_image, f) for f in batches[k + 1]]
            x = torch.from_numpy(np.stack(arrays)).to(device)
            out[start : start + len(arrays)] = model.features(x).float().cpu().numpy()
            start += len(arrays)
            bar.update(len(arrays))
    return out


def make_splits(labels: np.ndarray, unseen: np.ndarray, fraction: float, seed: int) -> dict[str, np.ndarray]:
    """0-based sample indices: every image of an unseen class is test-unseen; of each seen class,
    ``round(n * fraction)`` images (at least 1, at most n - 1) drawn with ``seed`` are test-seen."""
    rng = np.random.default_rng(seed)
    trainval, test_seen = [], []
    for c in np.setdiff1d(np.unique(labels), unseen):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(idx.size)]
        k = min(max(int(round(idx.size * fraction)), 1), idx.size - 1)
        test_seen.append(idx[:k])
        trainval.append(idx[k:])
    return {
        "trainval": np.sort(np.concatenate(trainval)),
        "test_seen": np.sort(np.concatenate(test_seen)),
        "test_unseen": np.flatnonzero(np.isin(labels, unseen)),
    }


def _class_ids(names: list[str], wanted: list[str], option: str, all_names: list[str]) -> np.ndarray:
    unknown = [n for n in wanted if n not in names]
    if unknown:
        raise ZeroNASError(
            f"{option}: unknown class {unknown[0]!r} (classes: {', '.join(all_names[:8])}"
            f"{', ...' if len(all_names) > 8 else ''})"
        )
    return np.array(sorted(names.index(n) for n in wanted), dtype=np.int64)


def _col(a: np.ndarray) -> np.ndarray:
    """1-based MATLAB column vector."""
    return (np.asarray(a, dtype=np.float64) + 1)[:, None]


def _cell(items: list[str]) -> np.ndarray:
    cell = np.empty((len(items), 1), dtype=object)
    for i, s in enumerate(items):
        cell[i, 0] = s
    return cell


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def extract(
    images: Path,
    classes_file: Path,
    out: Path,
    opts: ExtractOptions,
    device: torch.device,
    log: Log = print,
    progress: bool = True,
) -> Path:
    """Encode ``images`` (one sub-folder per class) and write an xlsa17 dataset folder ``out``.

    Every input is checked before the (slow) encoding; ``out`` appears only when complete.
    Returns ``out``.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ZeroNASError(f"{out}: already exists and is not empty; give a new --out")
    if not 0.0 < opts.test_seen_fraction < 1.0:
        raise ZeroNASError(f"--test-seen-fraction {opts.test_seen_fraction}: must be between 0 and 1")
    if opts.batch_size < 1:
        raise ZeroNASError(f"--batch-size {opts.batch_size}: must be positive")
    per_class = scan_images(images)
    names, vectors = read_class_vectors(classes_file, opts.class_names)
    folders = list(per_class)
    no_vector = [c for c in folders if c not in names]
    if no_vector:
        raise DataError(classes_file, f"no class vector for image folder {no_vector[0]!r}")
    no_images = [c for c in names if c not in per_class]
    if no_images:
        raise DataError(images, f"no image folder for class {no_images[0]!r} of {classes_file}")
    unseen = _class_ids(names, parse_class_list(opts.unseen, "--unseen"), "--unseen", names)
    seen = np.setdiff1d(np.arange(len(names)), unseen)
    if seen.size < 2:
        raise ZeroNASError(f"--unseen: leaves {seen.size} seen class(es); zeronas needs at least 2")
    val = None
    if opts.val is not None:
        val = _class_ids(names, parse_class_list(opts.val, "--val"), "--val", names)
        if np.intersect1d(val, unseen).size or val.size >= seen.size:
            raise ZeroNASError("--val: validation classes must be seen classes, and leave at least one for training")

    files = [f for c in names for f in per_class[c]]
    labels = np.concatenate([np.full(len(per_class[c]), i) for i, c in enumerate(names)])
    n_bytes = len(files) * 4 * (2048 if opts.model not in ("resnet18", "resnet34") else 512)
    if n_bytes > MAT_V5_LIMIT:
        raise ZeroNASError(
            f"{images}: {len(files)} images give {n_bytes / 2**30:.1f} GB of features, over the 2 GB a "
            "MATLAB v5 variable holds; split the folder"
        )
    splits = make_splits(labels, unseen, opts.test_seen_fraction, opts.split_seed)
    model, weights_source = load_resnet(opts.model, opts.weights, opts.random_weights)
    log(
        f"extract: {len(files)} images of {len(names)} classes ({seen.size} seen, {unseen.size} unseen) with "
        f"{opts.model} ({weights_source}) on {device}"
    )
    features = encode(files, model, device, opts.batch_size, opts.workers, progress)

    norm = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    att = {
        "att": norm.T,  # (D, C), unit L2 per class as in the real files
        "original_att": vectors.T,
        "allclasses_names": _cell(names),
        **{f"{k}_loc": _col(v) for k, v in splits.items()},
    }
    if val is not None:  # zeronas reads val_loc only for its classes: their trainval images
        att["val_loc"] = _col(splits["trainval"][np.isin(labels[splits["trainval"]], val)])
    res = {
        "features": features.T,  # (F, N): one column per image
        "labels": _col(labels),
        "image_files": _cell([str(f.relative_to(images)) for f in files]),
    }
    record = {
        "made_by": "zeronas data extract",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "images": str(images.resolve()),
        "class_vectors": str(classes_file.resolve()),
        "model": opts.model,
        "weights": weights_source,
        "weights_sha256": _sha256(Path(weights_source)) if Path(weights_source).is_file() else None,
        "preprocessing": f"RGB, resize short side to {RESIZE} (bilinear), centre crop {CROP}, ImageNet mean/std, "
        "global average pool of the last stage",
        "feature_dim": int(features.shape[1]),
        "unseen": [names[i] for i in unseen],
        "validation": [names[i] for i in val] if val is not None else None,
        "test_seen_fraction": opts.test_seen_fraction,
        "split_seed": opts.split_seed,
        "samples": {k: int(v.size) for k, v in splits.items()},
    }
    _write_atomically(out, res, att, record)
    return out


def _write_atomically(out: Path, res: dict, att: dict, record: dict) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as exc:
        raise ZeroNASError(f"{out}: cannot write here ({exc.strerror or exc})") from None
    try:
        scipy.io.savemat(tmp / "res101.mat", res)
        scipy.io.savemat(tmp / "att_splits.mat", att)
        (tmp / "extract.json").write_text(json.dumps(record, indent=2) + "\n")
        if out.is_dir():
            out.rmdir()  # empty (checked first)
        os.replace(tmp, out)
    except OSError as exc:  # e.g. a full disk: nothing half-written stays
        shutil.rmtree(tmp, ignore_errors=True)
        raise ZeroNASError(f"{out}: cannot write ({exc.strerror or exc})") from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
