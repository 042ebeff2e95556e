"""``zeronas data extract`` on a tiny generated image folder, then ``zeronas train`` on the result."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from tests.cli import run_main as _cli
from zeronas.data.extract import CROP, MEAN, STD, load_image
from zeronas.data.resnet import ResNet, load_resnet
from zeronas.errors import ZeroNASError

CLASSES = {"cat": (200, 40, 40), "dog": (40, 200, 40), "fox": (40, 40, 200)}
VECTORS = "class,furry,barks,orange,wild\ncat,1,0,0.5,0\ndog,1,1,0,0\nfox,1,0,1,1\n"
TINY_TRAIN = [
    "--epochs",
    "1",
    "--set",
    "eval.folds=1",
    "--set",
    "model.fix_hidden=32",
    "--set",
    "eval.syn_num_zsl=20",
    "--set",
    "eval.syn_num_gzsl=20",
    "--set",
    "eval.final_cls_epochs=2",
    "--set",
    "clswgan.pretrain_cls_epochs=2",
    "--set",
    "train.batch_size=8",
]


@pytest.fixture
def images(tmp_path):
    """3 classes x 6 small images (PNG and JPEG, one greyscale), coloured by class."""
    root = tmp_path / "images"
    rng = np.random.default_rng(0)
    for name, colour in CLASSES.items():
        (root / name).mkdir(parents=True)
        for i in range(6):
            arr = np.clip(np.array(colour) + rng.normal(0, 20, (24, 32, 3)), 0, 255).astype(np.uint8)
            im = Image.fromarray(arr)
            if i == 5:
                im = im.convert("L")
            im.save(root / name / f"{i}.{'png' if i % 2 else 'jpg'}")
    (root / "cat" / "notes.txt").write_text("not an image, ignored")
    (tmp_path / "classes.csv").write_text(VECTORS)
    return root


def _extract(monkeypatch, capsys, images, out, *extra: str) -> tuple[int, str, str]:
    return _cli(
        monkeypatch,
        capsys,
        "data",
        "extract",
        str(images),
        "--classes",
        str(images.parent / "classes.csv"),
        "--unseen",
        "fox",
        "--out",
        str(out),
        "--model",
        "resnet18",
        "--random-weights",
        "--batch-size",
        "5",
        "--workers",
        "2",
        *extra,
    )


def test_extract_writes_an_xlsa17_folder_that_trains(images, tmp_path, monkeypatch, capsys):
    out = tmp_path / "mine"
    torch.manual_seed(0)
    code, stdout, err = _extract(monkeypatch, capsys, images, out, "--test-seen-fraction", "0.34")
    assert code == 0, err
    assert stdout.strip() == f"wrote {out} (zeronas data check {out})"
    assert "extract: 18 images of 3 classes (2 seen, 1 unseen) with resnet18 (random (--random-weights))" in err
    assert sorted(p.name for p in out.iterdir()) == ["att_splits.mat", "extract.json", "res101.mat"]

    res, att = scipy.io.loadmat(out / "res101.mat"), scipy.io.loadmat(out / "att_splits.mat")
    assert res["features"].shape == (512, 18) and res["features"].dtype == np.float32
    assert (res["features"] >= 0).all() and res["features"].std(axis=1).max() > 0  # ReLU + pool, not constant
    assert res["labels"].ravel().tolist() == [1] * 6 + [2] * 6 + [3] * 6  # 1-based, in class-file order
    assert [str(f[0][0]) for f in res["image_files"]][:2] == ["cat/0.jpg", "cat/1.png"]
    assert att["att"].shape == (4, 3) and np.allclose(np.linalg.norm(att["att"], axis=0), 1.0)
    assert np.allclose(att["original_att"][:, 2], [1, 0, 1, 1])
    assert [str(n[0][0]) for n in att["allclasses_names"]] == ["cat", "dog", "fox"]
    assert att["test_unseen_loc"].ravel().tolist() == list(range(13, 19))
    ts, tv = att["test_seen_loc"].ravel(), att["trainval_loc"].ravel()
    assert ts.size == 4 and tv.size == 8 and not set(ts) & set(tv)  # round(6 * 0.34) = 2 per seen class
    assert set(ts) | set(tv) == set(range(1, 13))
    record = json.loads((out / "extract.json").read_text())
    assert record["unseen"] == ["fox"] and record["feature_dim"] == 512 and record["split_seed"] == 0

    code, stdout, err = _cli(monkeypatch, capsys, "data", "check", str(out))
    assert code == 0, err
    assert stdout.splitlines()[1:3] == [
        "  features: 512-d, class vectors: 4-d",
        "  classes: 3 = 2 seen + 1 unseen; 1 of the seen are validation classes (derived (split_seed=0))",
    ]

    run = tmp_path / "run"
    code, stdout, err = _cli(monkeypatch, capsys, "train", "--data", str(out), "--out", str(run), *TINY_TRAIN)
    assert code == 0, err
    assert "ZSL top-1" in stdout and 0.0 <= json.loads((run / "metrics.json").read_text())["zsl_top1"] <= 1.0


def test_val_classes_and_npy_class_vectors(images, tmp_path, monkeypatch, capsys):
    np.save(tmp_path / "vectors.npy", np.array([[1, 0, 0.5], [1, 1, 0], [1, 0, 1]]))
    (tmp_path / "names.txt").write_text("cat\ndog\nfox\n")
    (images / "bird").mkdir()
    Image.new("RGB", (20, 20), (9, 9, 9)).save(images / "bird" / "a.png")
    Image.new("RGB", (20, 20), (9, 9, 90)).save(images / "bird" / "b.png")
    out = tmp_path / "mine"
    vectors = "class,a,b\ncat,1,0\ndog,0,1\nfox,1,1\nbird,2,1\n"
    (tmp_path / "classes.csv").write_text(vectors)
    code, _, err = _extract(monkeypatch, capsys, images, out, "--val", "dog")
    assert code == 0, err
    att = scipy.io.loadmat(out / "att_splits.mat")
    assert att["val_loc"].ravel().tolist() == [v for v in att["trainval_loc"].ravel() if 7 <= v <= 12]
    # a .npy needs its names
    code, _, err = _cli(
        monkeypatch,
        capsys,
        "data",
        "extract",
        str(images),
        "--classes",
        str(tmp_path / "vectors.npy"),
        "--unseen",
        "fox",
        "--out",
        str(tmp_path / "x"),
        "--model",
        "resnet18",
        "--random-weights",
    )
    assert code == 2 and "vectors.npy: a .npy holds no class names: give --class-names FILE" in err
    code, _, err = _cli(
        monkeypatch,
        capsys,
        "data",
        "extract",
        str(images),
        "--classes",
        str(tmp_path / "vectors.npy"),
        "--class-names",
        str(tmp_path / "names.txt"),
        "--unseen",
        "fox",
        "--out",
        str(tmp_path / "x"),
        "--model",
        "resnet18",
        "--random-weights",
    )
    assert code == 2 and "no class vector for image folder 'bird'" in err and not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: (d / "dog" / "3.png").write_bytes(b"not a png"), "dog/3.png: not a readable image"),
        (
            lambda d: (d.parent / "classes.csv").write_text("class,a\ncat,1\ndog,x\nfox,2\n"),
            "classes.csv: line 3: 'x' is not a number",
        ),
        (
            lambda d: (d.parent / "classes.csv").write_text("cat,1,2\ndog,1,2\n"),
            "classes.csv: no class vector for image folder 'fox'",
        ),
        (lambda d: (d / "wolf").mkdir(), "wolf: no images"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(images, tmp_path, monkeypatch, capsys, setup, message):
    setup(images)
    out = tmp_path / "mine"
    code, stdout, err = _extract(monkeypatch, capsys, images, out)
    assert code == 2 and stdout == ""
    assert err.strip().splitlines()[-1].startswith("zeronas: error: ") and message in err.strip().splitlines()[-1]
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_unknown_unseen_class(images, tmp_path, monkeypatch, capsys):
    classes = str(images.parent / "classes.csv")
    code, _, err = _cli(
        monkeypatch,
        capsys,
        "data",
        "extract",
        str(images),
        "--classes",
        classes,
        "--unseen",
        "cow",
        "--out",
        str(tmp_path / "o"),
        "--random-weights",
    )
    assert code == 2 and "--unseen: unknown class 'cow' (classes: cat, dog, fox)" in err


def test_preprocessing_is_resize_256_centre_crop_224_imagenet_normalised(tmp_path):
    Image.new("RGB", (300, 200), (255, 128, 0)).save(tmp_path / "flat.png")
    x = load_image(tmp_path / "flat.png")
    assert x.shape == (3, CROP, CROP) and x.dtype == np.float32
    assert np.allclose(x[:, 100, 100], (np.array([255, 128, 0]) / 255.0 - MEAN) / STD, atol=1e-6)
    # a left-to-right ramp: 300x200 -> 384x256, crop columns 80..303: the crop's centre is the image's centre
    ramp = np.tile(np.linspace(0, 255, 300), (200, 1)).astype(np.uint8)
    Image.fromarray(ramp).convert("RGB").save(tmp_path / "ramp.png")
    r = load_image(tmp_path / "ramp.png")[0] * STD[0] + MEAN[0]
    assert abs(r[112, 112] - 0.5) < 0.01 and r[112, 0] == pytest.approx(80 / 383, abs=0.01)


def test_resnets_match_torchvision_sizes_and_load_its_state_dicts(tmp_path, monkeypatch):
    # torchvision's published parameter counts (ResNet*_Weights.IMAGENET1K_V1 "num_params")
    torch.manual_seed(0)
    m = ResNet("resnet101")
    assert sum(p.numel() for p in m.parameters()) == 44549160
    assert sum(p.numel() for p in ResNet("resnet18").parameters()) == 11689512
    keys = list(m.state_dict())
    assert len(keys) == 626 and keys[:2] == ["conv1.weight", "bn1.weight"] and "layer3.22.conv3.weight" in keys
    assert "layer4.0.downsample.1.running_var" in keys and keys[-2:] == ["fc.weight", "fc.bias"]
    assert m.layer2[0].conv2.stride == (2, 2)  # torchvision's "v1.5": the stride sits in the 3x3 convolution

    small = ResNet("resnet18")
    torch.save({f"module.{k}": v for k, v in small.state_dict().items()}, tmp_path / "w.pth")  # DataParallel prefix
    loaded, source = load_resnet("resnet18", tmp_path / "w.pth")
    assert source == str(tmp_path / "w.pth") and not loaded.training
    pairs = zip(loaded.state_dict().values(), small.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)
    with pytest.raises(ZeroNASError, match=r"w.pth: not a torchvision resnet50 state dict \(missing: "):
        load_resnet("resnet50", tmp_path / "w.pth")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    want = r"no resnet101 weights: give --weights FILE .*resnet101-63fe2227.pth.* or put it in "
    with pytest.raises(ZeroNASError, match=want + r".*torch_home/hub/checkpoints; nothing is downloaded"):
        load_resnet("resnet101", None)
    (tmp_path / "torch_home" / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(small.state_dict(), tmp_path / "torch_home" / "hub" / "checkpoints" / "resnet18-f37072fd.pth")
    assert load_resnet("resnet18", None)[1].endswith("hub/checkpoints/resnet18-f37072fd.pth")
