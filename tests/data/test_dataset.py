"""Loader, validator and preprocessing tests (SPEC §2).

* Every real ``att_splits.mat`` of the shared folder, with generated features and labels
  consistent with its splits, loads with the true class-vector dims and class counts, and
  its validation task never touches a test sample (AWA1, AWA2, SUN and FLO have
  ``train_loc``/``val_loc`` overlapping ``test_seen_loc``).
* Every bad input fails with one :class:`DataError` naming the file and the problem, and
  ``zeronas data check`` turns it into exit status 2 and one line on stderr (checked once
  per place that raises).
* A seen class of 2 trainval samples holds one out for validation; one of 1 is refused.
* MATLAB v7.3 (HDF5) files read the same as v5 files.
* Preprocessing is fitted on training rows only; class vectors come out unit L2.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch

from tests.synth import make_arrays, write_hdf5, write_npz, write_xlsa17
from zeronas.data import ZSLDataset, load_dataset
from zeronas.data.readers import read_mat, read_npz, read_xlsa17
from zeronas.errors import DataError

_SHARED_NEAR = Path(__file__).resolve().parents[3] / "shared"  # CI: shared/ beside the clone
XLSA17 = (
    Path(os.environ.get("ZERONAS_SHARED", _SHARED_NEAR if _SHARED_NEAR.is_dir() else "/work/shared"))
    / "data"
    / "xlsa17"
)

# name: (seen classes, unseen classes, class-vector dim, validation classes of val_loc or None)
REAL = {
    "APY": (20, 12, 64, None),
    "AWA1": (40, 10, 85, 13),
    "AWA2": (40, 10, 85, 13),
    "CUB": (150, 50, 312, None),
    "FLO": (82, 20, 1024, 20),
    "SUN": (645, 72, 102, 65),
}
FEAT_DIM = 8


def _locs(att: dict) -> dict[str, np.ndarray]:
    """0-based sample indices of every ``*_loc`` key of a loaded att_splits.mat."""
    return {k[:-4]: np.asarray(v).ravel().astype(np.int64) - 1 for k, v in att.items() if k.endswith("_loc")}


def synth_labels(att: dict, n_seen: int, n_unseen: int, n_val: int | None, seed: int = 0) -> np.ndarray:
    """0-based labels, one per sample index, consistent with every split of a real file.

    The real res101 labels are not available offline, so classes are assigned to the
    sample indices of the real splits: unseen classes to ``test_unseen_loc``; when the
    file has ``val_loc``, ``n_val`` seen classes to ``val_loc`` and the other seen classes
    to the remaining seen samples (``train_loc``), which keeps train and validation
    classes disjoint as in the real files. Each class gets a contiguous block of
    ``trainval`` samples, so every seen class has training samples; seen samples outside
    ``trainval`` (``test_seen``) are dealt round-robin over their group's classes.
    """
    loc = _locs(att)
    n = 1 + max(int(v.max()) for v in loc.values())
    c = np.asarray(att["att"]).shape[1]
    assert c == n_seen + n_unseen
    perm = np.random.default_rng(seed).permutation(c)
    unseen_ids, seen_ids = perm[:n_unseen], perm[n_unseen:]
    labels = np.full(n, -1, dtype=np.int64)
    trainval = loc["trainval"]

    def assign(group: np.ndarray, ids: np.ndarray, in_train: np.ndarray) -> None:
        group = np.unique(group)
        tv, rest = group[np.isin(group, in_train)], group[~np.isin(group, in_train)]
        assert tv.size >= ids.size
        for chunk, cls in zip(np.array_split(tv, ids.size), ids, strict=True):
            labels[chunk] = cls
        labels[rest] = ids[np.arange(rest.size) % ids.size]

    seen_samples = np.union1d(trainval, loc["test_seen"])
    if "val" in loc:
        assert n_val is not None
        val_samples = loc["val"]
        assign(val_samples, seen_ids[:n_val], trainval)
        assign(np.setdiff1d(seen_samples, val_samples), seen_ids[n_val:], trainval)
    else:
        assign(seen_samples, seen_ids, trainval)
    tu = loc["test_unseen"]
    for chunk, cls in zip(np.array_split(np.sort(tu), n_unseen), unseen_ids, strict=True):
        labels[chunk] = cls
    labels[labels < 0] = seen_ids[0]  # samples in no split (none in the real files)
    return labels


@pytest.fixture(scope="module", params=sorted(REAL))
def real(request, tmp_path_factory):
    """(name, folder, raw att_splits dict, 0-based labels) for one real att_splits.mat."""
    name = request.param
    src = XLSA17 / name / "att_splits.mat"
    if not src.is_file():
        pytest.skip(f"{src} not available")
    att = scipy.io.loadmat(str(src))
    n_seen, n_unseen, _, n_val = REAL[name]
    labels = synth_labels(att, n_seen, n_unseen, n_val)
    folder = tmp_path_factory.mktemp("real") / name
    folder.mkdir()
    (folder / "att_splits.mat").symlink_to(src)
    rng = np.random.default_rng(1)
    feats = rng.random((FEAT_DIM, labels.size), dtype=np.float32)
    scipy.io.savemat(folder / "res101.mat", {"features": feats, "labels": (labels + 1)[:, None].astype(np.float64)})
    return name, folder, att, labels


# ============================================================================ real split files


def test_real_dataset_dims_and_counts(real):
    name, folder, att, labels = real
    n_seen, n_unseen, dim, _ = REAL[name]
    ds = load_dataset(folder)
    assert ds.name == name
    assert ds.attr_dim == dim
    assert ds.feature_dim == FEAT_DIM
    assert ds.num_classes == n_seen + n_unseen
    assert ds.seen_classes.size == n_seen and ds.unseen_classes.size == n_unseen
    assert np.intersect1d(ds.seen_classes, ds.unseen_classes).size == 0
    loc = _locs(att)
    s = ds.summary()
    assert s["class_vector_dim"] == dim
    assert s["classes"]["total"] == n_seen + n_unseen
    for split in ("trainval", "test_seen", "test_unseen"):
        assert s["samples"][split] == loc[split].size
        np.testing.assert_array_equal(ds.raw.splits[split], loc[split])
    # FLO has no class names; the others have one per class
    if name == "FLO":
        assert ds.raw.class_names is None and s["class_names"] is False
    else:
        assert len(ds.raw.class_names) == n_seen + n_unseen
        assert all(isinstance(n, str) and n for n in ds.raw.class_names)
    task = ds.test_task()
    assert tuple(task.class_vectors.shape) == (n_seen + n_unseen, dim)
    assert task.train_x.shape == (loc["trainval"].size, FEAT_DIM)
    assert task.test_unseen_x.shape == (loc["test_unseen"].size, FEAT_DIM)
    assert set(task.unseen_classes.tolist()) == set(ds.unseen_classes.tolist())


def test_real_validation_task_uses_only_trainval(real):
    name, folder, att, labels = real
    ds = load_dataset(folder)
    loc = _locs(att)
    trainval, test_seen, test_unseen = loc["trainval"], loc["test_seen"], loc["test_unseen"]
    v = ds.validation_split()
    task = ds.validation_task()
    for key in ("train", "test_seen", "test_unseen"):
        np.testing.assert_array_equal(task.indices[key], v[key])
        idx = v[key]
        assert idx.size > 0, key
        assert np.isin(idx, trainval).all(), f"{name}: validation '{key}' has samples outside trainval"
        assert not np.isin(idx, test_seen).any(), f"{name}: validation '{key}' uses test-seen samples"
        assert not np.isin(idx, test_unseen).any(), f"{name}: validation '{key}' uses test-unseen samples"
    # the three parts partition trainval
    parts = np.concatenate([v["train"], v["test_seen"], v["test_unseen"]])
    assert parts.size == np.unique(parts).size
    np.testing.assert_array_equal(np.sort(parts), np.sort(trainval))

    val_classes = set(ds.val_classes.tolist())
    train_classes = set(task.train_y.tolist())
    assert val_classes and train_classes
    assert val_classes.isdisjoint(ds.unseen_classes.tolist())
    assert val_classes.isdisjoint(train_classes)
    assert val_classes <= set(ds.seen_classes.tolist())
    assert set(task.test_unseen_y.tolist()) == val_classes
    assert set(task.test_seen_y.tolist()) <= train_classes
    assert train_classes == set(ds.train_classes.tolist())
    assert set(task.seen_classes.tolist()) == train_classes
    assert set(task.unseen_classes.tolist()) == val_classes
    # labels really are those of the source samples
    np.testing.assert_array_equal(task.test_unseen_y.numpy(), labels[v["test_unseen"]])


@pytest.mark.parametrize("name", ["AWA1", "AWA2", "SUN", "FLO"])
def test_real_val_loc_overlaps_test_seen_and_is_not_used(name, tmp_path):
    """SPEC §2: these files' train_loc/val_loc overlap test_seen_loc; no such sample may be used."""
    src = XLSA17 / name / "att_splits.mat"
    if not src.is_file():
        pytest.skip(f"{src} not available")
    att = scipy.io.loadmat(str(src))
    loc = _locs(att)
    train_overlap = np.intersect1d(loc["train"], loc["test_seen"])
    val_overlap = np.intersect1d(loc["val"], loc["test_seen"])
    assert train_overlap.size > 0 and val_overlap.size > 0  # the fact the loader must respect
    if name == "AWA2":
        assert (train_overlap.size, val_overlap.size) == (4031, 1851)
    n_seen, n_unseen, _, n_val = REAL[name]
    labels = synth_labels(att, n_seen, n_unseen, n_val)
    (tmp_path / "att_splits.mat").symlink_to(src)
    feats = np.random.default_rng(0).random((FEAT_DIM, labels.size), dtype=np.float32)
    scipy.io.savemat(tmp_path / "res101.mat", {"features": feats, "labels": (labels + 1)[:, None].astype(np.float64)})
    ds = load_dataset(tmp_path)
    assert ds.val_source == "classes of val_loc"
    np.testing.assert_array_equal(ds.val_classes, np.unique(labels[loc["val"]]))
    assert ds.val_classes.size == n_val
    used = np.concatenate(list(ds.validation_split().values()))
    assert not np.isin(used, val_overlap).any()
    assert not np.isin(used, train_overlap).any()
    # the validation classes do have test-seen samples in this file: they are excluded, not absent
    assert np.isin(labels[val_overlap], ds.val_classes).all()


@pytest.mark.parametrize("name", ["CUB", "APY"])
def test_real_derived_validation_classes_are_seeded(name, tmp_path):
    """CUB and APY files have no train_loc/val_loc: validation classes are derived, seeded."""
    src = XLSA17 / name / "att_splits.mat"
    if not src.is_file():
        pytest.skip(f"{src} not available")
    att = scipy.io.loadmat(str(src))
    assert "train_loc" not in att and "val_loc" not in att
    n_seen, n_unseen, _, _ = REAL[name]
    labels = synth_labels(att, n_seen, n_unseen, None)
    (tmp_path / "att_splits.mat").symlink_to(src)
    feats = np.random.default_rng(0).random((FEAT_DIM, labels.size), dtype=np.float32)
    scipy.io.savemat(tmp_path / "res101.mat", {"features": feats, "labels": (labels + 1)[:, None].astype(np.float64)})
    raw = read_xlsa17(tmp_path)
    by_seed = {s: ZSLDataset(raw, name, str(tmp_path), split_seed=s) for s in range(4)}
    ds0 = by_seed[0]
    assert ds0.val_source.startswith("derived") and "split_seed=0" in ds0.val_source
    expected_k = int(round(n_seen * n_unseen / (n_seen + n_unseen)))
    for ds in by_seed.values():
        assert ds.val_classes.size == expected_k
        assert set(ds.val_classes.tolist()) <= set(ds.seen_classes.tolist())
        assert set(ds.val_classes.tolist()).isdisjoint(ds.unseen_classes.tolist())
        assert ds.train_classes.size == n_seen - expected_k
    again = ZSLDataset(raw, name, str(tmp_path), split_seed=0)
    np.testing.assert_array_equal(again.val_classes, ds0.val_classes)
    for a, b in zip(again.validation_split().values(), ds0.validation_split().values(), strict=True):
        np.testing.assert_array_equal(a, b)
    distinct = {tuple(ds.val_classes.tolist()) for ds in by_seed.values()}
    assert len(distinct) > 1, "different split seeds gave the same validation classes every time"
    np.testing.assert_array_equal(load_dataset(tmp_path, split_seed=3).val_classes, by_seed[3].val_classes)


def test_real_hdf5_copy_of_cub_reads_like_v5(tmp_path):
    """A v7.3 (HDF5) copy of the real CUB att_splits.mat reads the same arrays and names."""
    src = XLSA17 / "CUB" / "att_splits.mat"
    if not src.is_file():
        pytest.skip(f"{src} not available")
    v5 = read_mat(src)
    raw = scipy.io.loadmat(str(src))
    d = {k: v for k, v in raw.items() if not k.startswith("__") and k != "allclasses_names"}
    d["allclasses_names"] = np.array(v5["allclasses_names"], dtype=object)[:, None]
    write_hdf5(tmp_path / "att_splits.mat", d)
    h5 = read_mat(tmp_path / "att_splits.mat")
    assert set(h5) == set(v5)
    assert h5["allclasses_names"] == v5["allclasses_names"]
    assert v5["allclasses_names"][0] == "002.Laysan_Albatross"  # first name in the real file
    for k in v5:
        if k != "allclasses_names":
            np.testing.assert_array_equal(h5[k], v5[k])
            assert h5[k].shape == v5[k].shape


# ============================================================================ good synthetic inputs


def test_synthetic_xlsa17_loads(tmp_path):
    a = make_arrays()
    ds = load_dataset(write_xlsa17(tmp_path / "ds", a))
    assert (ds.feature_dim, ds.attr_dim, ds.num_classes) == (16, 6, 8)
    np.testing.assert_array_equal(ds.seen_classes, np.arange(5))
    np.testing.assert_array_equal(ds.unseen_classes, np.arange(5, 8))
    np.testing.assert_array_equal(ds.val_classes, [0, 1])
    np.testing.assert_array_equal(ds.train_classes, [2, 3, 4])
    np.testing.assert_array_equal(ds.raw.labels, a["labels"])
    assert ds.raw.class_names == a["names"]
    assert ds.class_name(3) == "class_3"


def test_synthetic_npz_loads_like_xlsa17(tmp_path):
    a = make_arrays()
    x = load_dataset(write_xlsa17(tmp_path / "ds", a))
    n = load_dataset(write_npz(tmp_path / "ds.npz", a, val_classes=np.array([0, 1])))
    assert n.name == "ds" and n.val_source == "val_classes"
    np.testing.assert_array_equal(n.raw.features, x.raw.features)
    np.testing.assert_array_equal(n.raw.labels, x.raw.labels)
    np.testing.assert_allclose(n.raw.class_vectors, x.raw.class_vectors)
    for k in ("trainval", "test_seen", "test_unseen"):
        np.testing.assert_array_equal(n.raw.splits[k], x.raw.splits[k])
    np.testing.assert_array_equal(n.val_classes, x.val_classes)
    assert n.raw.class_names == x.raw.class_names
    for k, v in n.validation_split().items():
        np.testing.assert_array_equal(v, x.validation_split()[k])


def test_npz_without_val_classes_derives_them(tmp_path):
    ds = load_dataset(write_npz(tmp_path / "d.npz"), split_seed=5)
    assert ds.val_source == "derived (split_seed=5)"
    assert set(ds.val_classes.tolist()) < set(ds.seen_classes.tolist())


# ============================================================================ HDF5 == v5


@pytest.mark.parametrize("with_val", [True, False])
def test_hdf5_reads_identically_to_v5(tmp_path, with_val):
    a = make_arrays(val_classes=(0, 1) if with_val else ())
    v5 = write_xlsa17(tmp_path / "v5", a)
    h5 = write_xlsa17(tmp_path / "h5", a, hdf5=True)
    import h5py

    assert h5py.is_hdf5(h5 / "res101.mat") and h5py.is_hdf5(h5 / "att_splits.mat")
    assert not h5py.is_hdf5(v5 / "res101.mat")
    r5, r73 = read_xlsa17(v5), read_xlsa17(h5)
    for field in ("features", "labels", "class_vectors"):
        x, y = getattr(r5, field), getattr(r73, field)
        assert x.shape == y.shape, field
        np.testing.assert_array_equal(x, y)
    assert set(r5.splits) == set(r73.splits)
    for k in r5.splits:
        np.testing.assert_array_equal(r5.splits[k], r73.splits[k])
    if with_val:
        np.testing.assert_array_equal(r5.val_idx, r73.val_idx)
    else:
        assert r5.val_idx is None and r73.val_idx is None
    assert r5.class_names == r73.class_names == a["names"]
    d5, d73 = load_dataset(v5), load_dataset(h5)
    assert {**d5.summary(), "source": None, "name": None} == {**d73.summary(), "source": None, "name": None}
    t5, t73 = d5.test_task(), d73.test_task()
    for f in ("train_x", "train_y", "test_seen_x", "test_unseen_x", "class_vectors"):
        torch.testing.assert_close(getattr(t5, f), getattr(t73, f))


# ============================================================================ preprocessing


def _write_and_task(folder: Path, a: dict, validation: bool = False):
    ds = load_dataset(write_xlsa17(folder, a))
    return ds, (ds.validation_task() if validation else ds.test_task())


def test_minmax_fitted_on_training_rows_only(tmp_path):
    a = make_arrays()
    ds, task = _write_and_task(tmp_path / "a", a)
    b = dict(a, features=a["features"].copy())
    b["features"][a["test_unseen"][0]] = 1e6
    b["features"][a["test_seen"][0]] = -1e6
    _, task_b = _write_and_task(tmp_path / "b", b)
    torch.testing.assert_close(task_b.train_x, task.train_x, rtol=0, atol=0)
    # the scaler is the training one: test rows are not clipped to [0, 1]
    assert task_b.test_unseen_x.max() > 1e3 and task_b.test_seen_x.min() < -1e3
    # sanity: changing a training row does change the preprocessed training features
    c = dict(a, features=a["features"].copy())
    c["features"][a["trainval"][0]] = 1e6
    _, task_c = _write_and_task(tmp_path / "c", c)
    assert not torch.equal(task_c.train_x, task.train_x)


def test_minmax_values(tmp_path):
    a = make_arrays()
    _, task = _write_and_task(tmp_path / "a", a)
    f = a["features"].astype(np.float64)
    tr = f[a["trainval"]]
    lo, hi = tr.min(0), tr.max(0)
    rng_ = np.where(hi > lo, hi - lo, 1.0)
    scaled = (f - lo) / rng_
    top = scaled[a["trainval"]].max()
    np.testing.assert_allclose(task.train_x.numpy(), scaled[a["trainval"]] / top, atol=1e-6)
    np.testing.assert_allclose(task.test_unseen_x.numpy(), scaled[a["test_unseen"]] / top, atol=1e-5)
    assert float(task.train_x.min()) == 0.0 and float(task.train_x.max()) == pytest.approx(1.0)
    assert task.train_x.dtype == torch.float32


def test_validation_task_scaler_ignores_test_and_validation_class_rows(tmp_path):
    a = make_arrays()
    ds, task = _write_and_task(tmp_path / "a", a, validation=True)
    v = ds.validation_split()
    b = dict(a, features=a["features"].copy())
    b["features"][a["test_unseen"][:5]] = 1e6  # test rows: not even part of the validation task
    b["features"][a["test_seen"][:5]] = -1e6
    b["features"][v["test_unseen"][0]] = 1e6  # a validation-class row of trainval
    b["features"][v["test_seen"][0]] = -1e6  # a held-out seen row of trainval
    _, task_b = _write_and_task(tmp_path / "b", b, validation=True)
    torch.testing.assert_close(task_b.train_x, task.train_x, rtol=0, atol=0)


def test_class_vectors_unit_l2(tmp_path):
    a = make_arrays()
    scale = np.linspace(0.1, 50, a["class_vectors"].shape[0])[:, None]
    b = dict(a, class_vectors=(a["class_vectors"] * scale).astype(np.float32))
    for task in (_write_and_task(tmp_path / "b", b)[1], _write_and_task(tmp_path / "c", b, validation=True)[1]):
        norms = task.class_vectors.norm(dim=1)
        torch.testing.assert_close(norms, torch.ones_like(norms))
        unit = a["class_vectors"] / np.linalg.norm(a["class_vectors"], axis=1, keepdims=True)
        np.testing.assert_allclose(task.class_vectors.numpy(), unit, atol=1e-6)


# ============================================================================ small classes


def test_a_class_of_two_trainval_samples_holds_one_out_in_every_fold(tmp_path):
    """Protects the small-class fix: with ``round(0.2 * 2) = 0`` a 2-sample class used to
    hold out nothing, and scoring its (empty) validation images failed deep in a run
    (``ValueError: class 2 has no samples`` from ESZSL). Now it trains on one and holds one
    out, in every fold where it trains, and the whole protocol runs."""
    from zeronas.baselines import eszsl_evaluate

    a = make_arrays(n_classes=10, n_unseen=3, per_class=20, val_classes=(0, 1))
    small = a["trainval"][a["labels"][a["trainval"]] == 2]
    a["trainval"] = np.setdiff1d(a["trainval"], small[2:])  # class 2 keeps 2 trainval samples
    ds = load_dataset(write_xlsa17(tmp_path / "small", a))
    trained = 0
    for fold in range(3):
        split = ds.validation_split(fold, 3)
        if 2 in ds.fold_classes(3)[fold]:
            continue
        trained += 1
        labels = a["labels"]
        assert (labels[split["train"]] == 2).sum() == 1
        assert (labels[split["test_seen"]] == 2).sum() == 1
    assert trained >= 2
    m = eszsl_evaluate(ds)  # raised ValueError before the fix
    assert 0.0 <= m["gzsl_h"] <= 1.0


# ============================================================================ bad inputs
#
# Each case builds a bad dataset under tmp and returns (path to check, file the message
# must name, regex of the problem the message must state).


def _x(tmp: Path, a: dict | None = None, **over) -> Path:
    return write_xlsa17(tmp / "ds", a, **over)


def _relabel(a: dict, idx, cls) -> dict:
    b = dict(a, labels=a["labels"].copy())
    b["labels"][idx] = cls
    return b


def _feat(a: dict, value: float) -> dict:
    b = dict(a, features=a["features"].copy())
    b["features"][7, 3] = value
    return b


def _att(folder: Path) -> str:
    return str(folder / "att_splits.mat")


def _res(folder: Path) -> str:
    return str(folder / "res101.mat")


def _garbage(tmp: Path, which: str, data: bytes) -> tuple[Path, str]:
    d = _x(tmp)
    (d / which).write_bytes(data)
    return d, str(d / which)


A = make_arrays()
N = A["labels"].size
TV, TS, TU = A["trainval"], A["test_seen"], A["test_unseen"]


def _loc(idx) -> np.ndarray:
    return (np.asarray(idx) + 1)[:, None]


def _one_of_class(c: int) -> np.ndarray:
    """trainval with a single sample left of seen class ``c``."""
    of_c = TV[A["labels"][TV] == c]
    return np.setdiff1d(TV, of_c[1:])


def case_missing_res101(tmp):
    d = _x(tmp)
    (d / "res101.mat").unlink()
    return d, _res(d), "file not found"


def case_missing_att_splits(tmp):
    d = _x(tmp)
    (d / "att_splits.mat").unlink()
    return d, _att(d), "file not found"


def case_missing_folder(tmp):
    return tmp / "nope", str(tmp / "nope"), "no such file or folder"


def case_plain_file(tmp):
    p = tmp / "data.csv"
    p.write_text("1,2,3\n")
    return p, str(p), "expected an xlsa17 folder"


XLSA17_CASES = {
    "missing res101.mat": case_missing_res101,
    "missing att_splits.mat": case_missing_att_splits,
    "missing folder": case_missing_folder,
    "neither folder nor npz": case_plain_file,
    "missing key features": lambda t: ((d := _x(t, features=None)), _res(d), r"missing key 'features'"),
    "missing key labels": lambda t: ((d := _x(t, labels=None)), _res(d), r"missing key 'labels'"),
    "missing key att": lambda t: ((d := _x(t, att=None)), _att(d), r"missing key 'att'"),
    "missing key trainval_loc": lambda t: ((d := _x(t, trainval_loc=None)), _att(d), r"missing key 'trainval_loc'"),
    "missing key test_seen_loc": lambda t: ((d := _x(t, test_seen_loc=None)), _att(d), r"missing key 'test_seen_loc'"),
    "missing key test_unseen_loc": lambda t: (
        (d := _x(t, test_unseen_loc=None)),
        _att(d),
        r"missing key 'test_unseen_loc'",
    ),
    "missing key (HDF5)": lambda t: (
        (d := write_xlsa17(t / "ds", hdf5=True, test_seen_loc=None)),
        _att(d),
        r"missing key 'test_seen_loc'",
    ),
    "features not numeric": lambda t: (
        (d := _x(t, features=np.array(["abc"]))),
        _res(d),
        r"key 'features' is not a numeric array",
    ),
    "features wrong N": lambda t: (
        (d := _x(t, features=A["features"].T[:, :-1])),
        _res(d),
        rf"'features' has shape \(16, {N - 1}\).*{N} labels",
    ),
    "features transposed": lambda t: (
        (d := _x(t, features=A["features"])),
        _res(d),
        rf"'features' has shape \({N}, 16\); expected \(feature_dim, {N}\)",
    ),
    "features 3-d": lambda t: ((d := _x(t, features=A["features"].T[None])), _res(d), r"'features' has shape"),
    "att transposed": lambda t: (
        (d := _x(t, att=A["class_vectors"])),
        _att(d),
        r"labels range over classes 0\.\.7.*'att'.*6 classes",
    ),
    "att one class short": lambda t: (
        (d := _x(t, att=A["class_vectors"].T[:, :-1])),
        _att(d),
        r"labels range over classes 0\.\.7.*'att'.*7 classes",
    ),
    "att one class extra": lambda t: (
        (d := _x(t, att=np.hstack([A["class_vectors"].T, A["class_vectors"].T[:, :1]]), allclasses_names=None)),
        _att(d),
        r"classes \[8\] have no samples",
    ),
    "att transposed, dim > classes": lambda t: (
        (d := _x(t, make_arrays(att_dim=12), att=make_arrays(att_dim=12)["class_vectors"])),
        _att(d),
        r"8 class names for 12 classes",
    ),
    "att not 2-d": lambda t: ((d := _x(t, att=np.zeros((2, 3, 4)))), _att(d), r"'att' has shape \(2, 3, 4\)"),
    "class names count": lambda t: (
        (d := _x(t, allclasses_names=np.array([[n] for n in A["names"][:-1]], dtype=object))),
        _att(d),
        r"7 class names for 8 classes",
    ),
    "trainval_loc out of range": lambda t: (
        (d := _x(t, trainval_loc=_loc(np.append(TV, N)))),
        _att(d),
        rf"'trainval_loc' has indices out of range for {N} samples",
    ),
    "test_unseen_loc has a 0 (1-based)": lambda t: (
        (d := _x(t, test_unseen_loc=np.vstack([[[0]], _loc(TU)]))),
        _att(d),
        rf"'test_unseen_loc' has indices out of range for {N} samples",
    ),
    "val_loc out of range": lambda t: (
        (d := _x(t, val_loc=_loc([0, N + 5]))),
        _att(d),
        r"'val_loc' has indices out of range",
    ),
    "loc not integer": lambda t: (
        (d := _x(t, trainval_loc=_loc(TV).astype(float) + 0.5)),
        _att(d),
        r"'trainval_loc' holds non-integer values",
    ),
    "loc is a matrix": lambda t: (
        (d := _x(t, test_seen_loc=_loc(TS).reshape(2, -1))),
        _att(d),
        r"'test_seen_loc' has shape \(2, 10\); expected a vector",
    ),
    "empty split": lambda t: ((d := _x(t, test_seen_loc=np.zeros((0, 1)))), _att(d), r"'test_seen_loc' is empty"),
    "duplicate indices": lambda t: (
        (d := _x(t, test_seen_loc=_loc(np.append(TS, TS[0])))),
        _att(d),
        r"'test_seen_loc' has duplicate indices",
    ),
    "trainval overlaps test_seen": lambda t: (
        (d := _x(t, test_seen_loc=_loc(np.append(TS, TV[:2])))),
        _att(d),
        r"'trainval_loc' and 'test_seen_loc' share 2 samples",
    ),
    "trainval overlaps test_unseen": lambda t: (
        (d := _x(t, trainval_loc=_loc(np.append(TV, TU[0])))),
        _att(d),
        rf"'trainval_loc' and 'test_unseen_loc' share 1 samples \[{TU[0]}\]",
    ),
    "test_seen overlaps test_unseen": lambda t: (
        (d := _x(t, test_unseen_loc=_loc(np.append(TU, TS[-1])))),
        _att(d),
        r"'test_seen_loc' and 'test_unseen_loc' share 1 samples",
    ),
    "class with no samples": lambda t: (
        (d := _x(t, _relabel(A, A["labels"] == 7, 6))),
        _att(d),
        r"classes \[7\] \(class_7\) have no samples",
    ),
    "NaN feature": lambda t: (
        (d := _x(t, _feat(A, np.nan))),
        _res(d),
        r"'features' has 1 NaN/Inf values \(first in sample 7\)",
    ),
    "Inf feature": lambda t: ((d := _x(t, _feat(A, -np.inf))), _res(d), r"'features' has 1 NaN/Inf values"),
    "NaN class vector": lambda t: (
        (d := _x(t, att=np.where(np.eye(6, 8, dtype=bool), np.nan, A["class_vectors"].T))),
        _att(d),
        r"'att' has NaN/Inf",
    ),
    "label 0 (1-based)": lambda t: (
        (d := _x(t, labels=np.vstack([[[0.0]], (A["labels"][1:] + 1)[:, None]]))),
        _res(d),
        r"labels range over classes -1\.\.7",
    ),
    "label not integer": lambda t: (
        (d := _x(t, labels=(A["labels"] + 1.25)[:, None])),
        _res(d),
        r"'labels' holds non-integer values",
    ),
    "unseen-class sample in trainval": lambda t: (
        (d := _x(t, _relabel(A, TV[0], 6))),
        _att(d),
        r"labels contradict the splits: classes \[6\] have samples in both 'trainval_loc' and 'test_unseen_loc'",
    ),
    "test_seen class without training samples": lambda t: (
        (d := _x(t, trainval_loc=_loc(TV[A["labels"][TV] != 4]))),
        _att(d),
        r"labels contradict the splits: 'test_seen_loc' holds classes \[4\] with no training samples",
    ),
    "seen class with one trainval sample": lambda t: (
        (d := _x(t, trainval_loc=_loc(_one_of_class(3)))),
        _att(d),
        r"seen class 3 \(class_3\) has 1 sample in 'trainval_loc'; every seen class needs at least 2",
    ),
    "val_loc on unseen classes": lambda t: (
        (d := _x(t, val_loc=_loc(TU[:3]))),
        _att(d),
        r"'val_loc' names classes \[5\] that are not seen classes",
    ),
    "val_loc on every seen class": lambda t: (
        (d := _x(t, val_loc=_loc(TV))),
        _att(d),
        r"'val_loc' leaves no seen class for training",
    ),
    "res101.mat is text": lambda t: (
        *_garbage(t, "res101.mat", b"features,labels\n1,2\n3,4\n"),
        r"not a MATLAB \.mat file",
    ),
    "res101.mat is empty": lambda t: (*_garbage(t, "res101.mat", b""), r"not a MATLAB \.mat file"),
    "att_splits.mat is random bytes": lambda t: (
        *_garbage(t, "att_splits.mat", np.random.default_rng(0).bytes(300)),
        r"not a MATLAB \.mat file",
    ),
    "res101.mat is broken HDF5": lambda t: (
        *_garbage(t, "res101.mat", b"\x89HDF\r\n\x1a\n" + b"x" * 100),
        r"unreadable MATLAB v7\.3 \(HDF5\) file",
    ),
}


def _n(tmp: Path, a: dict | None = None, **over) -> Path:
    return write_npz(tmp / "ds.npz", a, **over)


def _npz_garbage(tmp: Path, data: bytes):
    p = tmp / "ds.npz"
    p.write_bytes(data)
    return p, str(p), r"not a \.npz file"


def _npy_named_npz(tmp: Path):
    p = tmp / "ds.npz"
    with open(p, "wb") as f:
        np.save(f, np.arange(5))
    return p, str(p), r"not a \.npz file"


NPZ_CASES = {
    "missing file": lambda t: (t / "ds.npz", str(t / "ds.npz"), "file not found"),
    "text named .npz": lambda t: _npz_garbage(t, b"this is not a zip archive\n"),
    "empty file named .npz": lambda t: _npz_garbage(t, b""),
    ".npy named .npz": _npy_named_npz,
    "pickled class names": lambda t: (
        (p := _n(t, class_names=np.array(A["names"], dtype=object))),
        str(p),
        r"not a readable \.npz file",
    ),
    "missing key features": lambda t: ((p := _n(t, features=None)), str(p), r"missing key 'features'"),
    "missing key labels": lambda t: ((p := _n(t, labels=None)), str(p), r"missing key 'labels'"),
    "missing key class_vectors": lambda t: ((p := _n(t, class_vectors=None)), str(p), r"missing key 'class_vectors'"),
    "missing key trainval_idx": lambda t: ((p := _n(t, trainval_idx=None)), str(p), r"missing key 'trainval_idx'"),
    "missing key test_unseen_idx": lambda t: (
        (p := _n(t, test_unseen_idx=None)),
        str(p),
        r"missing key 'test_unseen_idx'",
    ),
    "features as strings": lambda t: (
        (p := _n(t, features=np.array([["a"] * 16] * N))),
        str(p),
        r"key 'features' is not a numeric array",
    ),
    "features wrong N": lambda t: (
        (p := _n(t, features=A["features"][:-1])),
        str(p),
        rf"'features' has shape \({N - 1}, 16\); expected \({N}, feature_dim\)",
    ),
    "features transposed": lambda t: (
        (p := _n(t, features=A["features"].T)),
        str(p),
        rf"'features' has shape \(16, {N}\)",
    ),
    "class_vectors transposed": lambda t: (
        (p := _n(t, class_vectors=A["class_vectors"].T)),
        str(p),
        r"labels range over classes 0\.\.7.*'class_vectors'.*6 classes",
    ),
    "class_vectors one class short": lambda t: (
        (p := _n(t, class_vectors=A["class_vectors"][:-1])),
        str(p),
        r"'class_vectors'.*7 classes",
    ),
    "class_vectors 1-d": lambda t: (
        (p := _n(t, class_vectors=A["class_vectors"].ravel())),
        str(p),
        r"'class_vectors' has shape \(48,\)",
    ),
    "class names count": lambda t: (
        (p := _n(t, class_names=np.array(A["names"][:-1]))),
        str(p),
        r"7 class names for 8 classes",
    ),
    "index out of range": lambda t: (
        (p := _n(t, trainval_idx=np.append(TV, N))),
        str(p),
        rf"'trainval_idx' has indices out of range for {N} samples",
    ),
    "negative index": lambda t: (
        (p := _n(t, test_seen_idx=np.append(TS, -1))),
        str(p),
        r"'test_seen_idx' has indices out of range",
    ),
    "float index": lambda t: (
        (p := _n(t, test_seen_idx=TS + 0.5)),
        str(p),
        r"'test_seen_idx' holds non-integer values",
    ),
    "empty split": lambda t: (
        (p := _n(t, test_unseen_idx=np.zeros(0, dtype=int))),
        str(p),
        r"'test_unseen_idx' is empty",
    ),
    "trainval overlaps test_seen": lambda t: (
        (p := _n(t, test_seen_idx=np.append(TS, TV[0]))),
        str(p),
        r"'trainval_idx' and 'test_seen_idx' share 1 samples",
    ),
    "trainval overlaps test_unseen": lambda t: (
        (p := _n(t, test_unseen_idx=np.append(TU, TV[0]))),
        str(p),
        r"'trainval_idx' and 'test_unseen_idx' share 1 samples",
    ),
    "class with no samples": lambda t: (
        (p := _n(t, labels=np.where(A["labels"] == 7, 6, A["labels"]))),
        str(p),
        r"classes \[7\] \(class_7\) have no samples",
    ),
    "NaN feature": lambda t: ((p := _n(t, _feat(A, np.nan))), str(p), r"'features' has 1 NaN/Inf values"),
    "Inf feature": lambda t: ((p := _n(t, _feat(A, np.inf))), str(p), r"'features' has 1 NaN/Inf values"),
    "negative label": lambda t: (
        (p := _n(t, labels=np.where(np.arange(N) == 0, -1, A["labels"]))),
        str(p),
        r"labels range over classes -1\.\.7",
    ),
    "unseen-class sample in trainval": lambda t: (
        (p := _n(t, _relabel(A, TV[3], 7))),
        str(p),
        r"labels contradict the splits: classes \[7\] have samples in both 'trainval_idx' and 'test_unseen_idx'",
    ),
    "test_seen class without training samples": lambda t: (
        (p := _n(t, trainval_idx=TV[A["labels"][TV] != 2])),
        str(p),
        r"labels contradict the splits: 'test_seen_idx' holds classes \[2\] with no training samples",
    ),
    "seen class with one trainval sample": lambda t: (
        (p := _n(t, trainval_idx=_one_of_class(0))),
        str(p),
        r"seen class 0 \(class_0\) has 1 sample in 'trainval_idx'",
    ),
    "val_classes unseen": lambda t: (
        (p := _n(t, val_classes=np.array([0, 6]))),
        str(p),
        r"'val_classes' names classes \[6\] that are not seen classes",
    ),
    "val_classes every seen class": lambda t: (
        (p := _n(t, val_classes=np.arange(5))),
        str(p),
        r"'val_classes' leaves no seen class for training",
    ),
    "val_classes not numeric": lambda t: (
        (p := _n(t, val_classes=np.array(["class_0"]))),
        str(p),
        r"key 'val_classes' is not a numeric array",
    ),
}

BAD = {**{f"xlsa17: {k}": v for k, v in XLSA17_CASES.items()}, **{f"npz: {k}": v for k, v in NPZ_CASES.items()}}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_raises_data_error(case, tmp_path):
    path, file, problem = BAD[case](tmp_path)
    with pytest.raises(DataError) as info:
        load_dataset(path)
    msg = str(info.value)
    assert file in msg, f"message does not name {file}: {msg}"
    assert re.search(problem, msg), f"message does not state {problem!r}: {msg}"
    assert "\n" not in msg


# The CLI turns every DataError into the same one line (``zeronas.cli.main``), so the table
# runs through it once per place that raises, not once per case: load_dataset itself, the
# MATLAB v5, HDF5 and .npz readers, the consistency checks, and the dataset's class sizes.
CLI_CASES = [
    "xlsa17: missing folder",
    "xlsa17: neither folder nor npz",
    "xlsa17: missing key features",
    "xlsa17: res101.mat is text",
    "xlsa17: missing key (HDF5)",
    "xlsa17: res101.mat is broken HDF5",
    "npz: text named .npz",
    "npz: missing key class_vectors",
    "xlsa17: trainval overlaps test_seen",
    "npz: class with no samples",
    "xlsa17: seen class with one trainval sample",
]


@pytest.mark.parametrize("case", CLI_CASES)
def test_bad_input_cli_exit_2_one_line(case, tmp_path, monkeypatch, capsys):
    import zeronas.cli

    path, file, _ = BAD[case](tmp_path)
    monkeypatch.setattr(sys, "argv", ["zeronas", "data", "check", str(path)])
    with pytest.raises(SystemExit) as info:
        zeronas.cli.main()
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("zeronas: error: ") and file in lines[0]
    assert "Traceback" not in err


@pytest.mark.parametrize("case", ["xlsa17: res101.mat is text", "npz: test_seen class without training samples"])
def test_bad_input_cli_subprocess(case, tmp_path):
    """The real process: exit status 2, exactly one line on stderr, no traceback."""
    path, file, problem = BAD[case](tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "zeronas.cli", "data", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=600,  # a liveness bound: starting torch on a loaded machine can take minutes
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert file in lines[0] and re.search(problem, lines[0])
    assert "Traceback" not in proc.stderr


def test_read_npz_rejects_directory_and_missing(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_npz(tmp_path / "x.npz")
    with pytest.raises(DataError, match="file not found"):
        read_mat(tmp_path / "x.mat")
