"""Golden numbers: a tiny search and tiny trainings reproduce recorded results exactly.

This guards restructurings that must not change behaviour: the same seed on the same
machine must give the same genotype, alpha/beta history, losses and metrics. The runs use
the bundled ``fmnist`` data with tiny widths and two epochs, and every setting they read is
written out below (``PINNED``), so that later changes of the defaults do not move the
numbers.

What is compared, per run: the genotype and the alpha/beta history of a search
(``genotype.json``, ``arch_history.json``), the per-epoch rows of the history CSVs (without
the ``seconds`` column) and ``metrics.json`` of a training. Floats must agree to 1e-6
(relative above 1); everything else exactly.

When a change is *meant* to change these numbers (a new default in the code path, another
order of random draws, a fix), regenerate the file deliberately and say so in the commit:

    ZERONAS_REGENERATE_GOLDEN=1 OMP_NUM_THREADS=1 .venv/bin/python -m pytest -q tests/engine/test_golden.py

then review ``git diff tests/engine/golden/``. The numbers are those of one kind of machine
(CPU, one thread, the torch version of ``scripts/setup.sh``): another CPU or torch version
may differ in the last bits, so ``tests/engine/golden/`` holds one file per machine, named by
a hash of :func:`machine` (torch version and the CPU's vector-instruction flags, which decide
the kernels) and recording it. Regenerating writes this machine's file and leaves the others;
on a machine without a file the test is skipped, saying so. A deliberate change of the numbers
must regenerate every file, or delete those it cannot.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import platform
from pathlib import Path

import pytest
import torch

from zeronas.config import Config
from zeronas.data import load_dataset
from zeronas.engine import search, train_and_evaluate
from zeronas.nas.genotype import Genotype, fixed_genotype

GOLDEN_DIR = Path(__file__).parent / "golden"
REGENERATE = os.environ.get("ZERONAS_REGENERATE_GOLDEN") == "1"
MACHINE_KEY = "_machine"


def machine() -> dict[str, object]:
    """What decides the last bits on a CPU: torch's version and the vector-instruction flags."""
    flags: list[str] = []
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = sorted(f for f in line.split(":", 1)[1].split() if f.startswith(("avx", "amx", "fma")))
                break
    except OSError:
        pass
    return {"torch": torch.__version__, "arch": platform.machine(), "cpu_flags": flags}


def golden_file(this: dict[str, object]) -> Path:
    """This machine's golden file: ``golden/<first 12 hex digits of the machine's hash>.json``."""
    digest = hashlib.sha256(json.dumps(this, sort_keys=True).encode()).hexdigest()[:12]
    return GOLDEN_DIR / f"{digest}.json"


# Every setting the runs below read, pinned (the defaults may change, these numbers may not).
PINNED = {
    "model.framework": "clswgan",
    "model.noise_dim": 0,
    "model.fix_hidden": 32,
    "model.slope": 0.2,
    "model.dropout": 0.5,
    "train.epochs": 2,
    "train.batch_size": 64,
    "train.lr": 0.0005,
    "train.beta1": 0.5,
    "train.cls_weight": 0.1,
    "train.gp_weight": 10.0,
    "train.critic_iters": 5,
    "train.eval_every": 1,
    "train.checkpoint_every": 1,
    "train.tensorboard": False,
    "eval.syn_num_zsl": 20,
    "eval.syn_num_gzsl": 20,
    "eval.final_cls_lr_zsl": 0.001,
    "eval.final_cls_lr_gzsl": 0.001,
    "eval.final_cls_epochs": 2,
    "eval.final_cls_batch": 32,
    "eval.folds": 2,
    "eval.gzsl_balanced": False,
    "eval.calibration_points": 11,
    "clswgan.pretrain_cls_lr": 0.001,
    "clswgan.pretrain_cls_epochs": 2,
    "clswgan.pretrain_cls_batch": 32,
    "search.epochs": 2,
    "search.batch_size": 64,
    "search.critic_iters": 5,
    "search.cls_weight": 0.1,
    "search.gp_weight": 10.0,
    "search.lr": 0.0001,
    "search.beta1": 0.5,
    "search.arch_lr": 0.0003,
    "search.arch_beta1": 0.5,
    "search.arch_weight_decay": 0.001,
    "search.arch_schedule": "constant",
    "search.warmup_epochs": 0,
    "search.arch_cls_weight": -1.0,
    "search.split": "sample",
    "search.g_ops": "paper",
    "search.d_ops": "paper",
    "search.g_widths": (8, 8, 16, 16),
    "search.d_widths": (16, 16, 8, 8),
    "search.g_out": "any",
    "search.d_out": "any",
    "search.keep_edges": 2,
    "search.mode": "exact",
    "search.tau_max": 10.0,
    "search.tau_min": 0.1,
    "search.fixed_g": False,
    "search.fixed_d": False,
    "search.eval_every": 1,
    "search.select": "last",
    "search.val_candidates": 3,
    "search.checkpoint_every": 1,
    "search.tensorboard": False,
    "vaegan.gan_weight_d": 10.0,
    "vaegan.gan_weight_g": 10.0,
    "vaegan.encoded_noise": True,
    "vaegan.encoder_hidden": 16,
    "tfvaegan.recons_weight": 0.01,
    "tfvaegan.feedback_weight": 1.0,
    "tfvaegan.feedback_weight_syn": 1.0,
    "tfvaegan.decoder_hidden": 16,
    "tfvaegan.decoder_lr": 0.0001,
    "tfvaegan.feedback_lr": 1e-05,
    "lisgan.souls_per_class": 3,
    "lisgan.sample_soul_weight": 0.01,
    "lisgan.class_soul_weight": 0.01,
    "lisgan.soul_syn_num": 20,
}
# The runs: (name, kind, settings on top of PINNED).
SEARCHES = {
    "search_exact": {},
    "search_gdas_fixed_d": {"search.mode": "gdas", "search.fixed_d": True},
}
TRAININGS = {
    "train_fix": ("fixed", {}),
    "train_found_tfvaegan": ("search_exact", {"model.framework": "tfvaegan", "train.epochs": 1}),
    "train_fix_lisgan": ("fixed", {"model.framework": "lisgan", "train.epochs": 1}),
}
CPU = torch.device("cpu")


def config(extra: dict) -> Config:
    cfg = Config()
    for key, value in {**PINNED, **extra}.items():
        cfg.set(key, value, "golden test")
    return cfg


def _rows(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def produce(tmp: Path) -> dict:
    """Run everything and collect the numbers (what the golden file holds)."""
    ds = load_dataset(None)
    out: dict = {}
    found: dict[str, Genotype] = {}
    for name, extra in SEARCHES.items():
        run_dir = tmp / name
        run_dir.mkdir()
        geno = search(ds, config(extra), 0, run_dir, CPU, log=lambda m: None)
        found[name] = geno
        arch = json.loads((run_dir / "arch_history.json").read_text())
        out[name] = {
            "genotype": {"generator": str(geno.generator), "critic": str(geno.critic)},
            "genotype_file": json.loads((run_dir / "genotype.json").read_text()),
            "arch_history": arch,
            "history": _rows(run_dir / "search_history.csv"),
        }
    for name, (arch_name, extra) in TRAININGS.items():
        run_dir = tmp / name
        run_dir.mkdir()
        cfg = config(extra)
        geno = fixed_genotype(cfg.model.fix_hidden) if arch_name == "fixed" else found[arch_name]
        train_and_evaluate(ds, geno, cfg, 0, run_dir, CPU, log=lambda m: None)
        out[name] = {
            "metrics": json.loads((run_dir / "metrics.json").read_text()),
            "history": _rows(run_dir / "history.csv"),
        }
    return out


def _number(v: object) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def assert_same(got: object, want: object, where: str = "") -> None:
    if isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), f"{where}: keys {list(got)} != {list(want)}"
        for k in want:
            assert_same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: length differs"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{where}[{i}]")
    elif _number(want) is not None and _number(got) is not None and isinstance(want, float | str):
        a, b = _number(got), _number(want)
        assert a is not None and b is not None
        if math.isnan(b):
            assert math.isnan(a), f"{where}: {got} != {want}"
        else:
            assert abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b)), f"{where}: {got} != {want}"
    else:
        assert got == want, f"{where}: {got!r} != {want!r}"


def test_search_and_training_reproduce_the_golden_numbers(tmp_path):
    this = machine()
    path = golden_file(this)
    want = json.loads(path.read_text()) if path.is_file() and not REGENERATE else None
    if want is None and not REGENERATE:
        known = sorted(p.name for p in GOLDEN_DIR.glob("*.json"))
        pytest.skip(f"no golden numbers for this machine ({this}); recorded: {known}; regenerate to add {path.name}")
    got = produce(tmp_path)
    if REGENERATE:
        GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({MACHINE_KEY: this, **got}, indent=1) + "\n")
        return
    assert want.get(MACHINE_KEY) == this, f"{path.name} records another machine: {want.get(MACHINE_KEY)}"
    assert_same(got, {k: v for k, v in want.items() if k != MACHINE_KEY})


def test_golden_files_are_named_by_their_machine():
    """Each file's name is the hash of the machine it records, so no two machines share one."""
    files = sorted(GOLDEN_DIR.glob("*.json"))
    assert files, f"{GOLDEN_DIR} holds no golden numbers"
    for f in files:
        assert golden_file(json.loads(f.read_text())[MACHINE_KEY]) == f, f"{f.name} is not its machine's hash"
