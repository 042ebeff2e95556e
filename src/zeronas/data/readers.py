"""Readers for the two on-disk formats: an xlsa17 folder and a single ``.npz`` file.

Both produce :class:`RawArrays` with 0-based indices and class ids, in numpy's natural
orientation (one row per sample / per class), so one validator serves both.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import scipy.io

from zeronas.errors import DataError

SPLIT_KEYS = ("trainval", "test_seen", "test_unseen")


@dataclass
class RawArrays:
    """A dataset as read from disk, before validation and preprocessing.

    ``files`` maps each array name to the file it came from and ``keys`` to its key in
    that file, so that errors can name both.
    """

    features: np.ndarray  # (N, F) float
    labels: np.ndarray  # (N,) int, 0-based class ids
    class_vectors: np.ndarray  # (C, D) float
    splits: dict[str, np.ndarray]  # trainval / test_seen / test_unseen, 0-based sample indices
    val_idx: np.ndarray | None = None  # 0-based sample indices whose classes are validation classes
    val_classes: np.ndarray | None = None  # 0-based class ids (npz format)
    class_names: list[str] | None = None
    files: dict[str, str] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    def where(self, name: str) -> tuple[str, str]:
        """File and key an array came from, for error messages."""
        return self.files.get(name, "?"), self.keys.get(name, name)


# --------------------------------------------------------------------------- .mat files


def read_mat(path: Path) -> dict[str, object]:
    """Read a MATLAB file, v5 (scipy) or v7.3 (HDF5, via h5py), into a dict of arrays.

    Numeric arrays come back in MATLAB's orientation (HDF5 arrays are transposed back);
    cell arrays of strings come back as lists of ``str``.
    """
    if not path.is_file():
        raise DataError(path, "file not found")
    if h5py.is_hdf5(path):
        return _read_mat_hdf5(path)
    try:
        raw = scipy.io.loadmat(str(path))
    except Exception as exc:  # scipy raises several types for garbage input
        raise DataError(path, f"not a MATLAB .mat file ({type(exc).__name__}: {_oneline(exc)})") from None
    return {k: _cell_to_strings(v) for k, v in raw.items() if not k.startswith("__")}


def _oneline(exc: BaseException) -> str:
    """An exception's text on one line (the CLI prints every error as one line)."""
    return " ".join(str(exc).split())


def _cell_to_strings(value: object) -> object:
    if isinstance(value, np.ndarray) and value.dtype == object:
        return [str(np.asarray(v).ravel()[0]) if np.asarray(v).size else "" for v in value.ravel()]
    return value


def _read_mat_hdf5(path: Path) -> dict[str, object]:
    out: dict[str, object] = {}
    try:
        with h5py.File(path, "r") as f:
            for key, ds in f.items():
                if key.startswith("#") or not isinstance(ds, h5py.Dataset):
                    continue
                data = ds[()]
                if data.dtype == object:  # cell array: references to char arrays
                    out[key] = [_hdf5_string(f[ref]) for ref in np.asarray(data).ravel()]
                else:
                    out[key] = np.asarray(data).T
    except OSError as exc:
        raise DataError(path, f"unreadable MATLAB v7.3 (HDF5) file ({_oneline(exc)})") from None
    return out


def _hdf5_string(ds: h5py.Dataset) -> str:
    codes = np.asarray(ds[()]).ravel()
    return "".join(chr(int(c)) for c in codes)


def _require(d: dict[str, object], key: str, path: Path) -> np.ndarray:
    if key not in d:
        raise DataError(path, f"missing key '{key}'")
    value = d[key]
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "biuf":
        raise DataError(path, f"key '{key}' is not a numeric array")
    return value


def _as_index_vector(a: np.ndarray, path: Path, key: str, one_based: bool) -> np.ndarray:
    if a.ndim > 2 or (a.ndim == 2 and min(a.shape) > 1):
        raise DataError(path, f"key '{key}' has shape {a.shape}; expected a vector")
    v = a.ravel()
    if not np.all(np.isfinite(v)) or np.any(v != np.round(v)):
        raise DataError(path, f"key '{key}' holds non-integer values")
    v = v.astype(np.int64)
    return v - 1 if one_based else v


def read_xlsa17(folder: Path) -> RawArrays:
    """Read ``res101.mat`` and ``att_splits.mat`` from an xlsa17-layout folder."""
    feat_path, att_path = folder / "res101.mat", folder / "att_splits.mat"
    res = read_mat(feat_path)
    att = read_mat(att_path)

    features = _require(res, "features", feat_path)
    labels = _as_index_vector(_require(res, "labels", feat_path), feat_path, "labels", True)
    if features.ndim != 2:
        raise DataError(feat_path, f"'features' has shape {features.shape}; expected (feature_dim, N)")
    if features.shape[1] != labels.size:
        raise DataError(
            feat_path,
            f"'features' has shape {features.shape}; expected (feature_dim, {labels.size}) "
            f"to match the {labels.size} labels",
        )
    class_vectors = _require(att, "att", att_path)
    if class_vectors.ndim != 2:
        raise DataError(att_path, f"'att' has shape {class_vectors.shape}; expected (dim, classes)")
    splits = {s: _as_index_vector(_require(att, f"{s}_loc", att_path), att_path, f"{s}_loc", True) for s in SPLIT_KEYS}
    val_idx = None
    if "val_loc" in att:
        val_idx = _as_index_vector(_require(att, "val_loc", att_path), att_path, "val_loc", True)
    names = att.get("allclasses_names")
    files = {"features": str(feat_path), "labels": str(feat_path)}
    keys = {"features": "features", "labels": "labels", "class_vectors": "att", "val": "val_loc"}
    for s in SPLIT_KEYS:
        keys[s] = f"{s}_loc"
    for name in ("class_vectors", "val", *SPLIT_KEYS):
        files[name] = str(att_path)
    return RawArrays(
        features=features.T,
        labels=labels,
        class_vectors=class_vectors.T,
        splits=splits,
        val_idx=val_idx,
        class_names=list(names) if isinstance(names, list) else None,
        files=files,
        keys=keys,
    )


# --------------------------------------------------------------------------- .npz files

NPZ_KEYS = {
    "features": "(N, F) float image features, one row per sample",
    "labels": "(N,) int class ids, 0-based",
    "class_vectors": "(C, D) float semantic vectors, one row per class",
    "trainval_idx": "(n,) int sample indices for training (seen classes), 0-based",
    "test_seen_idx": "(n,) int sample indices of seen-class test images, 0-based",
    "test_unseen_idx": "(n,) int sample indices of unseen-class test images, 0-based",
    "val_classes": "optional (k,) int seen class ids used as validation classes",
    "class_names": "optional (C,) str class names",
}


def read_npz(path: Path) -> RawArrays:
    """Read the bring-your-own ``.npz`` format (keys: see :data:`NPZ_KEYS`)."""
    if not path.is_file():
        raise DataError(path, "file not found")
    if not zipfile.is_zipfile(path):  # np.load would read a .npy or fail with a misleading message
        raise DataError(path, "not a .npz file (not a zip archive of .npy arrays)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # numpy/zipfile raise several types for damaged archives
        raise DataError(path, f"not a readable .npz file ({type(exc).__name__}: {_oneline(exc)})") from None
    features = _require(arrays, "features", path)
    labels = _as_index_vector(_require(arrays, "labels", path), path, "labels", False)
    if features.ndim != 2 or features.shape[0] != labels.size:
        raise DataError(path, f"'features' has shape {features.shape}; expected ({labels.size}, feature_dim)")
    class_vectors = _require(arrays, "class_vectors", path)
    if class_vectors.ndim != 2:
        raise DataError(path, f"'class_vectors' has shape {class_vectors.shape}; expected (C, D)")
    splits = {s: _as_index_vector(_require(arrays, f"{s}_idx", path), path, f"{s}_idx", False) for s in SPLIT_KEYS}
    val_classes = None
    if "val_classes" in arrays:
        val_classes = _as_index_vector(_require(arrays, "val_classes", path), path, "val_classes", False)
    names = [str(n) for n in arrays["class_names"]] if "class_names" in arrays else None
    keys = {s: f"{s}_idx" for s in SPLIT_KEYS}
    return RawArrays(
        features=features,
        labels=labels,
        class_vectors=class_vectors,
        splits=splits,
        val_classes=val_classes,
        class_names=names,
        files={k: str(path) for k in ("features", "labels", "class_vectors", "val", *SPLIT_KEYS)},
        keys={**keys, "val": "val_classes"},
    )
