"""Small synthetic datasets in the on-disk formats: builders, and fixtures (a pytest plugin,
loaded by ``tests/conftest.py``).

Fixtures: ``synthetic_dir`` (an xlsa17 folder of :func:`make_arrays`' defaults) and
``synthetic_task`` (the validation task of a slightly larger one, for networks and steps).
Tests that vary the arrays call the builders (``from tests.synth import make_arrays``).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

from zeronas.data import ZSLTask, load_dataset


def make_arrays(n_classes=8, n_unseen=3, per_class=20, feat_dim=16, att_dim=6, seed=0, val_classes=(0, 1)):
    """Class-clustered features; returns numpy arrays with 0-based ids and indices."""
    rng = np.random.default_rng(seed)
    att = rng.random((n_classes, att_dim)).astype(np.float32)
    proj = rng.normal(size=(att_dim, feat_dim))
    labels = np.repeat(np.arange(n_classes), per_class)
    feats = (att[labels] @ proj + 0.1 * rng.normal(size=(labels.size, feat_dim))).astype(np.float32)
    feats = np.maximum(feats, 0)
    unseen = np.arange(n_classes - n_unseen, n_classes)
    idx = np.arange(labels.size)
    is_unseen = np.isin(labels, unseen)
    seen_idx = idx[~is_unseen]
    test_seen = seen_idx[(seen_idx % per_class) >= int(per_class * 0.8)]
    trainval = np.setdiff1d(seen_idx, test_seen)
    return {
        "features": feats,
        "labels": labels,
        "class_vectors": att,
        "trainval": trainval,
        "test_seen": test_seen,
        "test_unseen": idx[is_unseen],
        "val": trainval[np.isin(labels[trainval], val_classes)] if val_classes else None,
        "names": [f"class_{c}" for c in range(n_classes)],
    }


def write_xlsa17(folder: Path, a: dict | None = None, hdf5: bool = False, **overrides) -> Path:
    """Write res101.mat + att_splits.mat (MATLAB v5, or v7.3-style HDF5)."""
    a = dict(a or make_arrays())
    folder.mkdir(parents=True, exist_ok=True)
    res = {"features": a["features"].T, "labels": (a["labels"] + 1)[:, None].astype(np.float64)}
    att = {
        "att": a["class_vectors"].T,
        "trainval_loc": (a["trainval"] + 1)[:, None],
        "test_seen_loc": (a["test_seen"] + 1)[:, None],
        "test_unseen_loc": (a["test_unseen"] + 1)[:, None],
        "allclasses_names": np.array([[n] for n in a["names"]], dtype=object),
    }
    if a.get("val") is not None:
        att["val_loc"] = (a["val"] + 1)[:, None]
    for k, v in overrides.items():
        (res if k in ("features", "labels", "image_files") else att)[k] = v
    res = {k: v for k, v in res.items() if v is not None}
    att = {k: v for k, v in att.items() if v is not None}
    if hdf5:
        write_hdf5(folder / "res101.mat", res)
        write_hdf5(folder / "att_splits.mat", att)
    else:
        scipy.io.savemat(folder / "res101.mat", res)
        scipy.io.savemat(folder / "att_splits.mat", att)
    return folder


def write_hdf5(path: Path, d: dict) -> None:
    """MATLAB v7.3 layout: arrays transposed, cell strings as references to uint16 arrays."""
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        for k, v in d.items():
            v = np.asarray(v)
            if v.dtype == object:
                out = np.empty(v.size, dtype=h5py.ref_dtype)
                for i, s in enumerate(v.ravel()):
                    ds = refs.create_dataset(
                        f"{k}{i}", data=np.array([ord(ch) for ch in str(s)], dtype=np.uint16)[:, None]
                    )
                    out[i] = ds.ref
                f.create_dataset(k, data=out[None, :])
            else:
                f.create_dataset(k, data=v.T)


def write_npz(path: Path, a: dict | None = None, **overrides) -> Path:
    a = dict(a or make_arrays())
    d = {
        "features": a["features"],
        "labels": a["labels"],
        "class_vectors": a["class_vectors"],
        "trainval_idx": a["trainval"],
        "test_seen_idx": a["test_seen"],
        "test_unseen_idx": a["test_unseen"],
        "class_names": np.array(a["names"]),
    }
    d.update(overrides)
    np.savez(path, **{k: v for k, v in d.items() if v is not None})
    return path


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    """An xlsa17 folder: 8 classes (3 unseen, 2 validation), 20 samples each, 16-d features."""
    return write_xlsa17(tmp_path_factory.mktemp("synthetic") / "TINY", make_arrays())


@pytest.fixture(scope="session")
def synthetic_task(tmp_path_factory) -> ZSLTask:
    """The validation task of an xlsa17 folder of 30 samples per class and 12-d features."""
    folder = write_xlsa17(tmp_path_factory.mktemp("synthetic") / "syn", make_arrays(per_class=30, feat_dim=12))
    return load_dataset(folder).validation_task()
