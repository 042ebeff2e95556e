"""The dataset object, its class roles, and the two tasks built from it.

A :class:`ZSLTask` is what training and evaluation consume: training features of the
seen classes, test features of seen and unseen classes, and every class vector. The same
code therefore runs on the *test task* (the benchmark split) and on the *validation task*
(SPEC §3), where a class-disjoint subset of the seen classes plays the unseen classes and
every sample comes from ``trainval``: no test sample ever enters model selection.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from sklearn.preprocessing import MinMaxScaler

from zeronas.data.readers import RawArrays, read_npz, read_xlsa17
from zeronas.data.validate import validate
from zeronas.errors import DataError

BUNDLED_NAME = "fmnist"


def bundled_dataset_path() -> Path:
    """Folder of the bundled Fashion-MNIST zero-shot dataset (the default)."""
    return Path(__file__).resolve().parent.parent / "datasets" / BUNDLED_NAME


@dataclass
class ZSLTask:
    """Preprocessed tensors of one train/test arrangement of a dataset."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_seen_x: torch.Tensor
    test_seen_y: torch.Tensor
    test_unseen_x: torch.Tensor
    test_unseen_y: torch.Tensor
    class_vectors: torch.Tensor  # (C, D), every class of the dataset, unit L2 rows
    seen_classes: torch.Tensor
    unseen_classes: torch.Tensor
    indices: dict[str, np.ndarray] = field(default_factory=dict)  # source sample indices
    # raw features -> task features: (raw - feature_min) * feature_scale (see _preprocess)
    feature_min: torch.Tensor | None = None
    feature_scale: torch.Tensor | None = None

    def scale_features(self, raw: torch.Tensor) -> torch.Tensor:
        """Apply this task's preprocessing to raw features (e.g. a planted generator's)."""
        if self.feature_min is None or self.feature_scale is None:
            raise ValueError(f"task {self.name} has no recorded preprocessing")
        return (raw.to(self.feature_min) - self.feature_min) * self.feature_scale

    @property
    def feature_dim(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def attr_dim(self) -> int:
        return int(self.class_vectors.shape[1])


def _preprocess(features: np.ndarray, fit_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """f-CLSWGAN scaling: MinMax fitted on training rows, then divide by their maximum.

    Returns the scaled features and the transform ``(raw - min) * scale``.
    """
    scaler = MinMaxScaler().fit(features[fit_idx])
    out = scaler.transform(features).astype(np.float32)
    top = float(out[fit_idx].max())
    top = top if top > 0 else 1.0
    return out / top, scaler.data_min_, scaler.scale_ / top


def _make_task(
    name: str,
    raw: RawArrays,
    train_idx: np.ndarray,
    test_seen_idx: np.ndarray,
    test_unseen_idx: np.ndarray,
) -> ZSLTask:
    feats, fmin, fscale = _preprocess(raw.features.astype(np.float64), train_idx)
    att = raw.class_vectors.astype(np.float32)
    att = (att / np.maximum(np.linalg.norm(att, axis=1, keepdims=True), 1e-12)).astype(np.float32)
    labels = torch.as_tensor(raw.labels, dtype=torch.long)

    def take(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(feats[idx]), labels[idx]

    train_x, train_y = take(train_idx)
    ts_x, ts_y = take(test_seen_idx)
    tu_x, tu_y = take(test_unseen_idx)
    return ZSLTask(
        name=name,
        train_x=train_x,
        train_y=train_y,
        test_seen_x=ts_x,
        test_seen_y=ts_y,
        test_unseen_x=tu_x,
        test_unseen_y=tu_y,
        class_vectors=torch.from_numpy(att),
        seen_classes=torch.unique(train_y),
        unseen_classes=torch.unique(tu_y),
        indices={"train": train_idx, "test_seen": test_seen_idx, "test_unseen": test_unseen_idx},
        feature_min=torch.as_tensor(fmin, dtype=torch.float32),
        feature_scale=torch.as_tensor(fscale, dtype=torch.float32),
    )


def _check_class_sizes(raw: RawArrays) -> None:
    """Every seen class needs 2 trainval samples: in each validation task where it trains,
    one at least is held out to play test-seen (a class of 2 gives 1 and keeps 1), and a
    class without held-out samples cannot be scored (per-class accuracy over no images)."""
    labels = raw.labels[raw.splits["trainval"]]
    classes, counts = np.unique(labels, return_counts=True)
    small = classes[counts < 2]
    if small.size:
        c = int(small[0])
        name = f" ({raw.class_names[c]})" if raw.class_names else ""
        more = f" (and {small.size - 1} more)" if small.size > 1 else ""
        file, key = raw.where("trainval")
        raise DataError(
            file,
            f"seen class {c}{name}{more} has 1 sample in '{key}'; every seen class needs at least 2 "
            "(one to train on, one held out as a validation image)",
        )


class ZSLDataset:
    """A validated dataset with its class roles.

    Args:
        raw: arrays as read from disk (validated here).
        name: a short name (the folder or file stem).
        source: where it was loaded from.
        split_seed: seed of the derived validation classes (when the file names none)
            and of the validation task's held-out seen samples.
        val_fraction: fraction of seen samples per training class held out as the
            validation task's "test-seen" images (rounded, at least one: a class of 2
            trainval samples trains on 1). A seen class of 1 sample is a :class:`DataError`.
    """

    def __init__(
        self,
        raw: RawArrays,
        name: str,
        source: str,
        split_seed: int = 0,
        val_fraction: float = 0.2,
    ):
        validate(raw)
        _check_class_sizes(raw)
        self.raw = raw
        self.name = name
        self.source = source
        self.split_seed = split_seed
        self.val_fraction = val_fraction
        self.seen_classes = np.unique(raw.labels[raw.splits["trainval"]])
        self.unseen_classes = np.unique(raw.labels[raw.splits["test_unseen"]])
        if raw.val_idx is not None and raw.val_idx.size:
            self.val_classes = np.unique(raw.labels[raw.val_idx])
            self.val_source = "classes of val_loc"
        elif raw.val_classes is not None and raw.val_classes.size:
            self.val_classes = np.unique(raw.val_classes)
            self.val_source = "val_classes"
        else:
            self.val_classes = self._derive_val_classes()
            self.val_source = f"derived (split_seed={split_seed})"
        self.train_classes = np.setdiff1d(self.seen_classes, self.val_classes)

    def _derive_val_classes(self) -> np.ndarray:
        """Pick validation classes so that val:train mirrors the real unseen:seen ratio."""
        n_seen, n_unseen = self.seen_classes.size, self.unseen_classes.size
        if n_seen < 2:
            raise DataError(self.source, "needs at least 2 seen classes to form a validation split")
        k = int(round(n_seen * n_unseen / (n_seen + n_unseen)))
        k = min(max(k, 1), n_seen - 1)
        rng = np.random.default_rng(self.split_seed)
        return np.sort(rng.choice(self.seen_classes, size=k, replace=False))

    # ----------------------------------------------------------------- properties
    @property
    def feature_dim(self) -> int:
        return int(self.raw.features.shape[1])

    @property
    def attr_dim(self) -> int:
        return int(self.raw.class_vectors.shape[1])

    @property
    def num_classes(self) -> int:
        return int(self.raw.class_vectors.shape[0])

    def class_name(self, c: int) -> str:
        return self.raw.class_names[c] if self.raw.class_names else str(c)

    # ----------------------------------------------------------------- tasks
    def test_task(self) -> ZSLTask:
        """The benchmark arrangement: train on trainval, test on test-seen and test-unseen."""
        s = self.raw.splits
        return _make_task(f"{self.name}/test", self.raw, s["trainval"], s["test_seen"], s["test_unseen"])

    def fold_classes(self, folds: int = 1) -> list[np.ndarray]:
        """Class-disjoint validation folds of the seen classes (SPEC §3).

        Fold 0 is :attr:`val_classes` (the file's validation classes, or a seeded draw).
        Folds 1.. are seeded draws from the other seen classes, of the same size as fold 0
        where enough classes remain (smaller otherwise, never empty); seen classes in no fold
        always train. The same ``split_seed`` gives the same folds.
        """
        if folds < 1:
            raise DataError(self.source, f"validation folds must be at least 1, not {folds}")
        rest = np.setdiff1d(self.seen_classes, self.val_classes)
        size = min(self.val_classes.size, rest.size // max(folds - 1, 1))
        if folds > 1 and size < 1:
            raise DataError(
                self.source, f"{self.seen_classes.size} seen classes are too few for {folds} validation folds"
            )
        perm = np.random.default_rng(self.split_seed + 7919).permutation(rest)
        return [self.val_classes] + [np.sort(perm[f * size : (f + 1) * size]) for f in range(folds - 1)]

    def validation_split(self, fold: int = 0, folds: int = 1) -> dict[str, np.ndarray]:
        """Sample indices of the validation task of ``fold``; every one of them is in ``trainval``.

        The fold's classes play the unseen classes; every other seen class trains, with
        ``val_fraction`` of its samples (at least one) held out to play the test-seen images.
        """
        if not 0 <= fold < folds:
            raise DataError(self.source, f"validation fold {fold} does not exist (folds: {folds})")
        val_classes = self.fold_classes(folds)[fold]
        trainval = self.raw.splits["trainval"]
        labels = self.raw.labels[trainval]
        rng = np.random.default_rng(self.split_seed + 1 + fold)
        train, held = [], []
        for c in np.setdiff1d(self.seen_classes, val_classes):
            idx = trainval[labels == c]
            idx = idx[rng.permutation(idx.size)]
            k = max(1, int(round(idx.size * self.val_fraction)))  # >= 2 samples: see _check_class_sizes
            held.append(idx[:k])
            train.append(idx[k:])
        unseen = trainval[np.isin(labels, val_classes)]
        return {
            "train": np.sort(np.concatenate(train)),
            "test_seen": np.sort(np.concatenate(held)),
            "test_unseen": np.sort(unseen),
        }

    def validation_task(self, fold: int = 0, folds: int = 1) -> ZSLTask:
        """Validation classes of ``fold`` play the unseen classes; held-out training samples play test-seen."""
        s = self.validation_split(fold, folds)
        name = f"{self.name}/validation" + (f"/fold{fold}" if folds > 1 else "")
        return _make_task(name, self.raw, s["train"], s["test_seen"], s["test_unseen"])

    def summary(self) -> dict[str, object]:
        """Counts per role and split, for ``zeronas data check`` and run records."""
        s = self.raw.splits
        v = self.validation_split()
        return {
            "name": self.name,
            "source": self.source,
            "feature_dim": self.feature_dim,
            "class_vector_dim": self.attr_dim,
            "classes": {
                "total": self.num_classes,
                "seen": int(self.seen_classes.size),
                "unseen": int(self.unseen_classes.size),
                "validation": int(self.val_classes.size),
                "validation_source": self.val_source,
            },
            "samples": {
                "trainval": int(s["trainval"].size),
                "test_seen": int(s["test_seen"].size),
                "test_unseen": int(s["test_unseen"].size),
                "validation_train": int(v["train"].size),
                "validation_seen": int(v["test_seen"].size),
                "validation_unseen": int(v["test_unseen"].size),
            },
            "class_names": self.raw.class_names is not None,
        }


def load_dataset(path: str | Path | None = None, split_seed: int = 0) -> ZSLDataset:
    """Load and validate a dataset: an xlsa17 folder, a ``.npz`` file, or the bundled one."""
    p = Path(path) if path is not None else bundled_dataset_path()
    if p.is_dir():
        raw = read_xlsa17(p)
    elif p.suffix == ".npz":
        raw = read_npz(p)
    elif p.exists():
        raise DataError(p, "expected an xlsa17 folder (res101.mat + att_splits.mat) or a .npz file")
    else:
        raise DataError(p, "no such file or folder")
    return ZSLDataset(raw, name=p.stem if p.is_file() else p.name, source=str(p), split_seed=split_seed)
