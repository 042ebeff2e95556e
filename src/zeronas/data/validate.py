"""Consistency checks for a dataset read from disk; each failure is one :class:`DataError`."""

from __future__ import annotations

import numpy as np

from zeronas.data.readers import SPLIT_KEYS, RawArrays
from zeronas.errors import DataError


def _fmt(ids: np.ndarray, limit: int = 5) -> str:
    ids = np.asarray(ids).ravel()
    shown = ", ".join(str(int(i)) for i in ids[:limit])
    return f"[{shown}{', ...' if ids.size > limit else ''}]"


def validate(raw: RawArrays) -> None:
    """Raise :class:`DataError` on the first inconsistency found in ``raw``."""
    n, c = raw.labels.size, raw.class_vectors.shape[0]
    feat_file, _ = raw.where("features")
    att_file, att_key = raw.where("class_vectors")
    lab_file, _ = raw.where("labels")

    bad = ~np.isfinite(raw.features)
    if bad.any():
        first = int(np.argwhere(bad)[0][0])
        raise DataError(feat_file, f"'features' has {int(bad.sum())} NaN/Inf values (first in sample {first})")
    if not np.isfinite(raw.class_vectors).all():
        raise DataError(att_file, f"'{att_key}' has NaN/Inf values")
    if n == 0:
        raise DataError(lab_file, "no samples")
    if raw.labels.min() < 0 or raw.labels.max() >= c:
        raise DataError(
            lab_file,
            f"labels range over classes {raw.labels.min()}..{raw.labels.max()} (0-based) but "
            f"'{att_key}' in {att_file} has vectors for {c} classes (read as one row per class: "
            f"{raw.class_vectors.shape}); check its shape",
        )
    if raw.class_names is not None and len(raw.class_names) != c:
        raise DataError(att_file, f"{len(raw.class_names)} class names for {c} classes")

    for split in SPLIT_KEYS:
        file, key = raw.where(split)
        idx = raw.splits[split]
        if idx.size == 0:
            raise DataError(file, f"'{key}' is empty")
        if idx.min() < 0 or idx.max() >= n:
            raise DataError(file, f"'{key}' has indices out of range for {n} samples")
        if np.unique(idx).size != idx.size:
            raise DataError(file, f"'{key}' has duplicate indices")
    for i, a in enumerate(SPLIT_KEYS):
        for b in SPLIT_KEYS[i + 1 :]:
            common = np.intersect1d(raw.splits[a], raw.splits[b])
            if common.size:
                file, key_a = raw.where(a)
                raise DataError(
                    file,
                    f"'{key_a}' and '{raw.where(b)[1]}' share {common.size} samples {_fmt(common)}",
                )

    seen = np.unique(raw.labels[raw.splits["trainval"]])
    unseen = np.unique(raw.labels[raw.splits["test_unseen"]])
    test_seen = np.unique(raw.labels[raw.splits["test_seen"]])
    file = raw.where("test_unseen")[0]
    both = np.intersect1d(seen, unseen)
    if both.size:
        raise DataError(
            file,
            f"labels contradict the splits: classes {_fmt(both)} have samples in both "
            f"'{raw.where('trainval')[1]}' and '{raw.where('test_unseen')[1]}'",
        )
    orphans = np.setdiff1d(test_seen, seen)
    if orphans.size:
        raise DataError(
            file,
            f"labels contradict the splits: '{raw.where('test_seen')[1]}' holds classes "
            f"{_fmt(orphans)} with no training samples",
        )
    empty = np.setdiff1d(np.arange(c), np.union1d(seen, unseen))
    if empty.size:
        names = f" ({raw.class_names[int(empty[0])]})" if raw.class_names else ""
        raise DataError(att_file, f"classes {_fmt(empty)}{names} have no samples in trainval or test-unseen")

    file, key = raw.where("val")
    if raw.val_idx is not None and raw.val_idx.size:
        if raw.val_idx.min() < 0 or raw.val_idx.max() >= n:
            raise DataError(file, f"'{key}' has indices out of range for {n} samples")
        val_classes = np.unique(raw.labels[raw.val_idx])
    elif raw.val_classes is not None and raw.val_classes.size:
        val_classes = np.unique(raw.val_classes)
    else:
        return
    outside = np.setdiff1d(val_classes, seen)
    if outside.size:
        raise DataError(file, f"'{key}' names classes {_fmt(outside)} that are not seen classes")
    if val_classes.size >= seen.size:
        raise DataError(file, f"'{key}' leaves no seen class for training")
