"""Runs through the CLI: end to end, resume after SIGKILL, determinism, divergence, Ctrl-C, safe files.

Tiny settings on the bundled dataset keep each run to seconds.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from zeronas.config import load_config
from zeronas.data import load_dataset
from zeronas.engine import train_and_evaluate
from zeronas.errors import DivergenceError, ZeroNASError
from zeronas.nas.genotype import fixed_genotype
from zeronas.runs import CHECKPOINT, checkpoint_pool_rows, load_checkpoint

TINY = [
    *("--set", "model.fix_hidden=64"),
    *("--set", "eval.syn_num_zsl=50"),
    *("--set", "eval.syn_num_gzsl=50"),
    *("--set", "eval.final_cls_epochs=3"),
    *("--set", "clswgan.pretrain_cls_epochs=3"),
    *("--set", "search.g_widths=16,16,16,16"),
    *("--set", "search.d_widths=16,16,16,16"),
]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def zeronas(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "zeronas.cli", *args], capture_output=True, text=True, env=ENV, timeout=600
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


def _default_sigint() -> None:
    # A shell's background job (as CI may run the suite) ignores SIGINT, and Python keeps an
    # ignored SIGINT ignored: give the child the terminal's default so Ctrl-C can be tested.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "zeronas.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        preexec_fn=_default_sigint,
    )


def wait_for_rows(csv: Path, rows: int, proc: subprocess.Popen, timeout: float = 300) -> None:
    t0 = time.time()
    while time.time() - t0 < timeout:
        if csv.is_file() and len(csv.read_text().splitlines()) > rows:
            return
        if proc.poll() is not None:
            raise AssertionError(f"run ended early: {proc.communicate()}")
        time.sleep(0.05)
    raise AssertionError("timed out waiting for epochs")


def test_run_end_to_end_is_deterministic_and_resumes(tmp_path):
    """`zeronas run` (search, retrain, evaluate) twice with one seed, the second killed in its
    training and continued with `zeronas run --resume`: identical genotype and metrics, and
    the finished search is not run again."""
    args = ["--epochs", "2", "--search-epochs", "2", "--seed", "3", *TINY]
    a, b = tmp_path / "a", tmp_path / "b"
    out = zeronas("run", "--out", str(a), *args).stdout
    # the summary judges the genotype it trained, and names its epoch
    search = json.loads((a / "search" / "genotype.json").read_text())["search"]
    verdict = "decisive" if search["decisive"] else "NOT decisive: " + "; ".join(search["warnings"])
    assert f"search: {verdict}; median operation margins generator " in out
    assert f"; median in-edge margins generator {search['edge_median']['generator']:.3g}" in out
    assert "genotype of epoch 2 of 2 (search.select = 'last')" in out
    proc = start("run", "--out", str(b), *args)
    t0 = time.time()
    while not (b / "train" / CHECKPOINT).is_file():  # written after the first training epoch
        assert proc.poll() is None, f"run ended early: {proc.communicate()}"
        assert time.time() - t0 < 600, "timed out waiting for the training checkpoint"
        time.sleep(0.05)
    proc.kill()
    proc.communicate()
    assert (b / "search" / "genotype.json").is_file() and not (b / "metrics.json").exists()
    search_files = {p: p.read_bytes() for p in (b / "search").iterdir() if p.is_file()}
    zeronas("run", "--resume", str(b))
    assert {p: p.read_bytes() for p in search_files} == search_files
    for rel in ("metrics.json", "search/genotype.json", "search/arch_history.json", "train/metrics.json"):
        assert (a / rel).read_text() == (b / rel).read_text(), rel
    m = json.loads((a / "metrics.json").read_text())
    for key in ("zsl_top1", "gzsl_seen", "gzsl_unseen", "gzsl_h"):
        assert 0.0 <= m[key] <= 1.0
    assert set(m["selected_epoch"]) == {"zsl", "gzsl", "gzsl_calibrated"}
    assert (a / "search" / "genotype.png").stat().st_size > 1000
    assert (a / "search" / "search_history.csv").is_file()
    rec = json.loads((a / "config.json").read_text())
    assert rec["seed"] == 3 and "torch" in rec["versions"] and rec["config"]["search"]["epochs"] == 2


#: A search epoch of 4 iterations instead of 12 (the tests of resuming only need epochs), and a
#: `search.select = val` of one candidate, trained 2 epochs on one fold.
FAST_SEARCH = [
    *("--set", "search.batch_size=200"),
    *("--set", "search.val_candidates=1"),
    *("--set", "eval.folds=1"),
    *("--set", "train.epochs=2"),
]


@pytest.fixture(scope="module")
def reference_search(tmp_path_factory) -> Path:
    """An uninterrupted 5-epoch search, the reference of the interrupted ones."""
    ref = tmp_path_factory.mktemp("ref") / "search"
    zeronas("search", "--out", str(ref), "--epochs", "5", *TINY, *FAST_SEARCH)
    return ref


@pytest.mark.parametrize("command", ["train", "search"])
def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, request, command):
    extra = ["--epochs", "5"] + (["--arch", "fixed"] if command == "train" else FAST_SEARCH)
    csv = "history.csv" if command == "train" else "search_history.csv"
    final = "metrics.json" if command == "train" else "genotype.json"
    if command == "train":
        ref = tmp_path / "ref"
        zeronas(command, "--out", str(ref), *extra, *TINY)
    else:
        ref = request.getfixturevalue("reference_search")

    killed = tmp_path / "killed"
    proc = start(command, "--out", str(killed), *extra, *TINY)
    wait_for_rows(killed / csv, 2, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert not (killed / final).exists(), "the run finished before it was killed"
    assert (killed / CHECKPOINT).is_file()
    zeronas(command, "--resume", str(killed))
    assert (killed / final).read_text() == (ref / final).read_text()
    if command == "search":
        ref_hist = json.loads((ref / "arch_history.json").read_text())
        assert json.loads((killed / "arch_history.json").read_text()) == ref_hist


def test_sigterm_is_handled_like_ctrl_c_and_the_search_resumes_identically(tmp_path, reference_search):
    """What Slurm and `timeout` send: the last checkpoint kept, the resume command printed, status 143."""
    run = tmp_path / "run"
    proc = start("search", "--out", str(run), "--epochs", "5", *TINY, *FAST_SEARCH)
    wait_for_rows(run / "search_history.csv", 2, proc)  # two epochs' rows: epoch 1's checkpoint exists
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM
    last = err.strip().splitlines()[-1]
    assert (
        last
        == f"zeronas: terminated (SIGTERM); the last checkpoint is kept, continue with: zeronas search --resume {run}"
    )
    assert "Traceback" not in err
    assert not (run / "genotype.json").exists(), "the search finished before SIGTERM"
    assert load_checkpoint(run / CHECKPOINT)["epoch"] >= 1
    zeronas("search", "--resume", str(run))
    assert (run / "genotype.json").read_text() == (reference_search / "genotype.json").read_text()


def test_a_named_search_is_recorded_and_kept_on_resume(tmp_path, reference_search):
    """``--search-method`` runs the search with the method's settings, records its name, and on
    resume is accepted only where the run already holds those settings."""
    run = tmp_path / "settled"
    proc = zeronas("search", "--out", str(run), "--epochs", "1", "--search-method", "nas_settled", *TINY, *FAST_SEARCH)
    assert "search method nas_settled (search.mode=gdas," in proc.stdout
    rec = json.loads((run / "config.json").read_text())
    assert rec["search_method"] == "nas_settled"
    assert rec["config"]["search"]["mode"] == "gdas" and rec["config"]["search"]["edge_topk"] == 1.0
    assert json.loads((run / "genotype.json").read_text())["search"]["epoch"] == 1
    zeronas("search", "--resume", str(run), "--search-method", "nas_settled")
    for other, method, said in (
        (run, "nas", "this run searched with nas_settled;"),
        (reference_search, "nas_settled", "this run computed with search.g_ops = paper, not the method's;"),
    ):
        proc = zeronas("search", "--resume", str(other), "--search-method", method, check=False)
        assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
        assert f"--search-method {method}: {said}" in proc.stderr, proc.stderr


def test_resume_a_finished_search_with_changed_settings(tmp_path, reference_search):
    """`--resume DIR --set k=v` applies what does not change what was computed (the selection, more
    epochs), records it, and refuses with one line what would (a learning rate)."""
    run = tmp_path / "s"
    shutil.copytree(reference_search, run)
    history = (run / "search_history.csv").read_text()
    # the case of issue 13: a search recorded with a selection that does not exist (accepted by an
    # older zeronas), which ran to its end and wrote no genotype
    rec = json.loads((run / "config.json").read_text())
    rec["config"]["search"]["select"] = "best"
    (run / "config.json").write_text(json.dumps(rec))
    (run / "genotype.json").unlink()
    proc = zeronas("search", "--resume", str(run), check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1
    assert "'best' for search.select" in proc.stderr and "--set" in proc.stderr

    zeronas("search", "--resume", str(run), "--set", "search.select=last")
    g = json.loads((run / "genotype.json").read_text())
    assert g["search"]["select"] == "last" and g["search"]["epoch"] == 5
    assert g["generator"] == json.loads((reference_search / "genotype.json").read_text())["generator"]
    assert (run / "search_history.csv").read_text() == history  # no epoch was run again
    rec = json.loads((run / "config.json").read_text())
    assert rec["config"]["search"]["select"] == "last"
    assert rec["changes"][-1]["settings"] == {"search.select": {"from": "best", "to": "last"}}
    assert rec["changes"][-1]["checkpoint"] == {"search": {"stage": "search", "epoch": 5}}

    before = (run / "config.json").read_text()
    proc = zeronas("search", "--resume", str(run), "--set", "search.lr=0.001", check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("zeronas: error: --set search.lr=0.001: a resumed run keeps the settings")
    assert (run / "config.json").read_text() == before

    proc = zeronas("search", "--resume", str(run), "--epochs", "2", check=False)
    assert proc.returncode == 2 and "error: --epochs 2: the search has already run 5 epochs" in proc.stderr

    zeronas("search", "--resume", str(run), "--epochs", "6", "--set", "search.select=val")
    assert len((run / "search_history.csv").read_text().splitlines()) == 1 + 6
    assert (run / "search_history.csv").read_text().startswith(history)
    g = json.loads((run / "genotype.json").read_text())
    assert g["search"]["select"] == "val"
    rec = json.loads((run / "config.json").read_text())
    assert len(rec["changes"]) == 2 and rec["config"]["search"]["epochs"] == 6

    # its candidates were trained on the folds with these train.epochs: a resume may not mix in another value
    epochs, before = rec["config"]["train"]["epochs"], (run / "config.json").read_text()
    proc = zeronas("search", "--resume", str(run), "--epochs", "7", "--set", f"train.epochs={epochs + 1}", check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    said = f"error: --set train.epochs={epochs + 1}: this search's candidates ("
    assert said in proc.stderr and f"trained on the validation folds with train.epochs = {epochs} " in proc.stderr
    assert (run / "config.json").read_text() == before


def test_a_search_resumed_with_more_architecture_steps_runs_the_epochs_that_hold_them(tmp_path, reference_search):
    """``search.arch_steps`` may grow on resume (more epochs, nothing recomputed); fewer steps than
    were run are refused with one line, before the run record changes."""
    run = tmp_path / "s"
    shutil.copytree(reference_search, run)
    history = (run / "search_history.csv").read_text()
    per_epoch = json.loads((run / "genotype.json").read_text())["search"]["arch_steps"] // 5
    assert per_epoch == checkpoint_pool_rows(run, "tr") // 200  # search.batch_size=200
    before = (run / "config.json").read_text()
    proc = zeronas("search", "--resume", str(run), "--set", "search.arch_steps=1", check=False)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    said = f"--set search.arch_steps=1: the search has already run 5 epochs of {per_epoch} iterations; this asks for 1"
    assert said in proc.stderr
    assert (run / "config.json").read_text() == before

    proc = zeronas("search", "--resume", str(run), "--set", f"search.arch_steps={5 * per_epoch + 1}")
    said = f"{5 * per_epoch + 1} architecture steps (search.arch_steps): 6 epochs of {per_epoch}"
    assert said in proc.stdout + proc.stderr
    assert (run / "search_history.csv").read_text().startswith(history)
    assert len((run / "search_history.csv").read_text().splitlines()) == 1 + 6
    g = json.loads((run / "genotype.json").read_text())["search"]
    assert g["epochs"] == 6 and g["arch_steps"] == 6 * per_epoch


def test_ctrl_c_leaves_a_resumable_run(tmp_path):
    run = tmp_path / "run"
    proc = start("train", "--out", str(run), "--epochs", "5", *TINY)
    wait_for_rows(run / "history.csv", 1, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert f"zeronas train --resume {run}" in err
    assert "Traceback" not in err
    zeronas("train", "--resume", str(run))
    assert json.loads((run / "metrics.json").read_text())["zsl_top1"] >= 0


def test_tensorboard_logging(tmp_path):
    pytest.importorskip("tensorboard")
    zeronas("train", "--out", str(tmp_path / "r"), "--epochs", "1", "--tensorboard", *TINY)
    assert list((tmp_path / "r" / "tensorboard").glob("events.out.tfevents.*"))


def test_existing_run_directory_is_never_overwritten(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "precious.txt").write_text("keep me")
    proc = zeronas("train", "--out", str(run), "--epochs", "1", *TINY, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "already exists" in proc.stderr
    assert (run / "precious.txt").read_text() == "keep me"


def test_divergence_stops_with_the_epoch_and_loss_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg, _ = load_config("fmnist")
    for key, value in (
        ("model.fix_hidden", 32),
        ("eval.syn_num_zsl", 20),
        ("eval.syn_num_gzsl", 20),
        ("eval.final_cls_epochs", 2),
        ("clswgan.pretrain_cls_epochs", 2),
        ("train.epochs", 4),
    ):
        cfg.set(key, value)

    def poison(stage: str, epoch: int, session) -> None:
        if epoch == 2:
            with torch.no_grad():
                next(session.G.parameters()).fill_(float("nan"))

    with pytest.raises(DivergenceError, match=r"stage 'select0', epoch 3: loss '\w+' is nan"):
        train_and_evaluate(
            load_dataset(None),
            fixed_genotype(32),
            cfg,
            0,
            tmp_path,
            torch.device("cpu"),
            log=lambda m: None,
            on_epoch=poison,
        )
    ckpt = load_checkpoint(tmp_path / CHECKPOINT)
    assert ckpt["epoch"] == 2  # written before the poison; epoch 3 never overwrote it
    assert all(torch.isfinite(v).all() for v in ckpt["state"]["G"].values())
    assert not (tmp_path / "metrics.json").exists()


def test_divergence_through_the_cli_exits_non_zero(tmp_path):
    # a classification weight of 1e40 overflows float32: the first epoch's losses are not finite
    # (a NaN setting itself is refused before the run starts)
    proc = zeronas(
        "train", "--out", str(tmp_path / "r"), "--epochs", "2", *TINY, "--set", "train.cls_weight=1e40", check=False
    )
    assert proc.returncode == 3
    assert "epoch 1" in proc.stderr and ("is nan" in proc.stderr or "is inf" in proc.stderr)


class _Exploit:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_crafted_checkpoint_is_rejected_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    run = tmp_path / "run"
    zeronas("train", "--out", str(run), "--epochs", "1", *TINY)
    torch.save({"format": "zeronas-checkpoint", "payload": _Exploit(marker)}, run / CHECKPOINT)
    with pytest.raises(ZeroNASError, match="rejected as unsafe or corrupt"):
        load_checkpoint(run / CHECKPOINT)
    proc = zeronas("train", "--resume", str(run), check=False)
    assert proc.returncode == 2 and "rejected as unsafe" in proc.stderr
    assert not marker.exists()


def test_bad_genotype_file_through_the_cli(tmp_path):
    bad = tmp_path / "g.json"
    bad.write_text(json.dumps({"format": "zeronas-genotype", "version": 1, "generator": {}, "critic": {}}))
    proc = zeronas("train", "--out", str(tmp_path / "r"), "--arch", str(bad), *TINY, check=False)
    assert proc.returncode == 2
    assert str(bad) in proc.stderr and proc.stderr.strip().count("\n") == 0


def test_fix_on_the_bundled_data_beats_chance_on_unseen_classes(tmp_path):
    """The bundled settings, fewer epochs and one validation fold (of 3; the folds are most of
    the time): unseen accuracy must be clearly above chance (1/3)."""
    zeronas("train", "--out", str(tmp_path / "fix"), "--epochs", "8", "--seed", "0", "--set", "eval.folds=1")
    m = json.loads((tmp_path / "fix" / "metrics.json").read_text())
    assert m["zsl_top1"] > 0.40
    assert m["calibrated"]["gzsl_unseen"] > 0.25  # 10 candidate classes in GZSL


@pytest.mark.slow
def test_default_run_on_the_bundled_data(tmp_path):
    """The README's main command with its default settings (several minutes)."""
    zeronas("run", "--out", str(tmp_path / "demo"))
    m = json.loads((tmp_path / "demo" / "metrics.json").read_text())
    assert 0.0 <= m["zsl_top1"] <= 1.0 and "genotype" in m


def test_a_checkpoint_of_another_layout_version_is_refused(tmp_path):
    from zeronas.runs import save_checkpoint

    save_checkpoint(tmp_path, {"kind": "train", "epoch": 1})
    ckpt = torch.load(tmp_path / CHECKPOINT, weights_only=True)
    ckpt["version"] = 1
    torch.save(ckpt, tmp_path / CHECKPOINT)
    with pytest.raises(ZeroNASError, match="layout version 1 .* start a new run"):
        load_checkpoint(tmp_path / CHECKPOINT)


@pytest.mark.parametrize("kind", ["train", "search"])
def test_a_layout_2_checkpoint_is_upgraded_and_continues_identically(tmp_path, kind):
    """Runs checkpointed before the engine (layout 2) resume: same state, same next epoch."""
    from zeronas.config import Config
    from zeronas.engine import SearchSpace, Session, search_epoch, split_halves, train_epoch
    from zeronas.runs import rng_state

    cfg = Config()
    cfg.model.fix_hidden, cfg.clswgan.pretrain_cls_epochs = 16, 1
    cfg.search.g_widths = cfg.search.d_widths = (8, 8)
    task = load_dataset(None).validation_task()

    def session() -> Session:
        if kind == "train":
            return Session(cfg, task, torch.device("cpu"), fixed_genotype(16), cfg.train)
        return Session(cfg, task, torch.device("cpu"), SearchSpace(), cfg.search, pools=split_halves)

    epoch = train_epoch if kind == "train" else search_epoch
    torch.manual_seed(0)
    a = session()
    epoch(a)
    st = a.state_dict()
    if kind == "train":
        old = {
            "G": st["G"],
            "framework": st["framework"],
            "opt_g": st["opt"]["w_g"],
            "D": st["D"],
            "opt_d": st["opt"]["w_d"],
        }
        payload = {"kind": "train", "stage": "select", "trainer": old, "selection": None, "results": {}}
    else:
        old = {"G": st["G"], "D": st["D"], "framework": st["framework"], "halves": st["pools"], "opt": st["opt"]}
        payload = {"kind": "search", "searcher": old, "arch_history": []}
    legacy = {"format": "zeronas-checkpoint", "version": 2, **payload, "epoch": 1, "history": [], "rng": rng_state()}
    torch.save(legacy, tmp_path / CHECKPOINT)

    ckpt = load_checkpoint(tmp_path / CHECKPOINT)
    assert ckpt["version"] == 3 and ckpt["stage"] == ("select" if kind == "train" else "search")
    torch.manual_seed(1)
    b = session()
    b.load_state_dict(ckpt["state"])
    torch.manual_seed(2)
    expected = epoch(a)
    torch.manual_seed(2)
    assert epoch(b) == expected


def test_train_validate_only_writes_the_selection_and_never_a_final_stage(tmp_path):
    """`zeronas train --validate-only`, for tuning settings: the select stages only."""
    run = tmp_path / "v"
    proc = zeronas("train", "--validate-only", "--out", str(run), "--epochs", "2", *TINY)
    selection = json.loads((run / "validation.json").read_text())
    assert set(selection) >= {"zsl", "gzsl", "gzsl_calibrated"}
    assert 1 <= selection["zsl"]["epoch"] <= 2
    assert not (run / "metrics.json").exists()
    stages = {line.split(",")[0] for line in (run / "history.csv").read_text().splitlines()[1:]}
    assert stages and all(s.startswith("select") for s in stages)  # no final stage on all seen data
    assert "no test data was read" in proc.stdout and "validation folds (mean): ZSL top-1" in proc.stdout
