"""Every setting is checked before any work starts: a bad value is one line, exit status 2, no
traceback and no directory left behind (no training is started: these tests take seconds)."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli import run_main as _cli
from zeronas.config import Config, choices, sections

#: Invalid settings and option values, each given to a command that would otherwise start work.
INVALID: list[tuple[str, ...]] = [
    # the four tracebacks of issue 13, and the search that ran whole before failing
    ("search", "--epochs", "0"),
    ("train", "--set", "train.lr=-1"),
    ("train", "--set", "train.batch_size=0"),
    ("train", "--device", "gpu"),
    ("search", "--set", "search.select=best"),
    # epochs and loop sizes
    ("train", "--epochs", "0"),
    ("run", "--epochs", "-3"),
    ("run", "--search-epochs", "0"),
    ("train", "--epochs", "abc"),
    ("search", "--set", "search.batch_size=-5"),
    ("train", "--set", "train.critic_iters=0"),
    ("search", "--set", "search.critic_iters=0"),
    ("train", "--set", "train.eval_every=0"),
    ("train", "--set", "train.checkpoint_every=0"),
    ("search", "--set", "search.eval_every=-1"),
    ("search", "--set", "search.warmup_epochs=-1"),
    ("search", "--set", "search.warmup_epochs=20"),
    # learning rates, weights, probabilities
    ("train", "--set", "train.lr=0"),
    ("train", "--set", "train.lr=nan"),
    ("search", "--set", "search.lr=inf"),
    ("search", "--set", "search.arch_lr=0"),
    ("search", "--set", "search.arch_weight_decay=-1"),
    ("train", "--set", "train.beta1=1"),
    ("search", "--set", "search.arch_beta1=-0.1"),
    ("train", "--set", "train.gp_weight=-1"),
    ("train", "--set", "train.cls_weight=-0.5"),
    ("train", "--set", "model.dropout=1"),
    ("train", "--set", "model.dropout=-0.1"),
    ("train", "--set", "eval.final_cls_lr_gzsl=-1e-3"),
    # widths and sizes
    ("train", "--set", "model.fix_hidden=0"),
    ("train", "--set", "model.noise_dim=-1"),
    ("search", "--set", "search.g_widths=0,16"),
    ("search", "--set", "search.d_widths="),
    ("search", "--set", "search.d_widths=16,-1"),
    ("search", "--set", "search.g_widths=16,1.5"),
    ("search", "--set", "search.keep_edges=0"),
    ("search", "--set", "search.val_candidates=0"),
    ("train", "--set", "eval.folds=0"),
    ("train", "--set", "eval.folds=40"),  # more folds than the bundled data's 7 seen classes allow
    ("train", "--set", "eval.syn_num_zsl=0"),
    ("train", "--set", "eval.final_cls_epochs=0"),
    ("train", "--set", "eval.final_cls_batch=0"),
    ("train", "--set", "eval.calibration_points=1"),
    # sets of values
    ("search", "--set", "search.mode=fast"),
    ("search", "--set", "search.split=random"),
    ("search", "--set", "search.g_ops=all"),
    ("search", "--set", "search.d_ops=3"),
    ("search", "--set", "search.arch_schedule=linear"),
    ("train", "--set", "eval.final_cls_schedule=step"),
    ("search", "--set", "search.precision=fp16"),
    ("train", "--set", "train.precision=bfloat16"),
    ("train", "--set", "model.framework=nope"),
    ("train", "--framework", "nope"),
    # rules between settings
    ("search", "--set", "search.fixed_g=true", "--set", "search.fixed_d=true"),
    ("search", "--set", "search.tau_max=0.05"),
    ("search", "--set", "search.tau_min=0"),
    # framework sections
    ("train", "--set", "clswgan.pretrain_cls_epochs=0"),
    ("train", "--set", "clswgan.pretrain_cls_lr=-1"),
    ("train", "--set", "vaegan.encoder_hidden=0"),
    ("train", "--set", "lisgan.souls_per_class=0"),
    ("train", "--set", "tfvaegan.decoder_lr=0"),
    # types, keys, options
    ("train", "--set", "train.tensorboard=maybe"),
    ("train", "--set", "train.epochs=2.5"),
    ("train", "--set", "train.nosuch=1"),
    ("train", "--set", "nosuch.key=1"),
    ("train", "--set", "train.lr"),
    ("train", "--seed", "-1"),
    ("train", "--config", "nosuch"),
    ("train", "--device", "cuda:99"),
    ("train", "--device", "cuda:x"),
    ("train", "--device", "cpu:1"),
    ("train", "--data", "/nonexistent/dataset"),
    ("train", "--arch", "paper:nosuch"),
    ("train", "--arch", "nosuch.json"),
]
#: The same for the experiment grids (the grid directory is not created either).
INVALID_GRID: list[tuple[str, ...]] = [
    ("experiment", "compare", "--seeds", "0"),
    ("experiment", "compare", "--methods", "fix,bogus"),
    ("experiment", "compare", "--random-draws", "0"),
    ("experiment", "compare", "--set", "train.lr=-1"),
    ("experiment", "ablation", "--set", "search.select=best"),
    ("experiment", "transfer", "--device", "gpu"),
]


def _assert_refused(code: int, err: str, root: Path) -> None:
    assert code == 2, err
    assert err.startswith("zeronas: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    assert not any(root.iterdir()), f"left behind: {list(root.rglob('*'))}"


def test_at_least_40_invalid_values():
    assert len(INVALID) + len(INVALID_GRID) >= 40


@pytest.mark.parametrize("args", INVALID, ids=lambda a: " ".join(a))
def test_an_invalid_value_is_one_line_exit_2_and_leaves_nothing(tmp_path, monkeypatch, capsys, args):
    root = tmp_path / "root"
    root.mkdir()
    code, _, err = _cli(monkeypatch, capsys, *args, "--out", str(root / "deep" / "run"))
    _assert_refused(code, err, root)


@pytest.mark.parametrize("args", INVALID_GRID, ids=lambda a: " ".join(a))
def test_an_invalid_grid_value_is_one_line_exit_2_and_leaves_nothing(tmp_path, monkeypatch, capsys, args):
    root = tmp_path / "root"
    root.mkdir()
    code, _, err = _cli(monkeypatch, capsys, *args, "--out", str(root / "grid"))
    _assert_refused(code, err, root)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("search", "--epochs", "0"), ["search.epochs = 0", ">= 1"]),
        (("train", "--set", "train.lr=-1"), ["train.lr = -1.0", "> 0"]),
        (("train", "--set", "train.batch_size=0"), ["train.batch_size = 0", ">= 1"]),
        (("train", "--device", "gpu"), ["'gpu'", "auto, cpu, cuda, cuda:N, mps"]),
        (("search", "--set", "search.select=best"), ["search.select", "'best'", "last, val"]),
        (("train", "--set", "model.dropout=1"), ["model.dropout = 1.0", "[0, 1)"]),
        (("search", "--set", "search.g_widths=0,16"), ["search.g_widths = 0,16", "integers >= 1"]),
        (("train", "--set", "eval.folds=40"), ["eval.folds = 40", "7 seen classes"]),
    ],
)
def test_the_line_names_the_key_the_value_and_what_is_allowed(tmp_path, monkeypatch, capsys, args, words):
    _, _, err = _cli(monkeypatch, capsys, *args, "--out", str(tmp_path / "run"))
    for word in words:
        assert word in err


def test_through_a_subprocess(tmp_path):
    """As a user meets it (the case of issue 13 that used to write config.json first)."""
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "zeronas.cli", "search", "--epochs", "0", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == "zeronas: error: search.epochs = 0 (--epochs): must be an integer >= 1\n"
    assert not out.exists()


def test_a_failed_command_removes_the_run_directory_it_created(tmp_path, monkeypatch, capsys):
    """A failure after the run directory was made, before anything was computed, leaves nothing
    (not even the parent folders the command created)."""
    import zeronas.pipeline
    from zeronas.errors import ZeroNASError

    def fail(*args, **kwargs):
        raise ZeroNASError("failed before computing anything")

    monkeypatch.setattr(zeronas.pipeline, "train_genotype", fail)
    code, _, err = _cli(monkeypatch, capsys, "train", "--out", str(tmp_path / "a" / "run"), "--epochs", "1")
    assert code == 2 and err == "zeronas: error: failed before computing anything\n"
    assert not (tmp_path / "a").exists()


# --------------------------------------------------------------------------- property-based


def _numeric_fields() -> list[tuple[str, dataclasses.Field]]:
    out = []
    for section in sections():
        for f in dataclasses.fields(Config().section(section)):
            if f.type in ("int", "float", "tuple[int, ...]"):
                out.append((f"{section}.{f.name}", f))
    return out


NUMERIC = _numeric_fields()
CHOICE_KEYS = [
    k for s in sections() for k in (f"{s}.{f.name}" for f in dataclasses.fields(Config().section(s))) if choices(k)
]


def test_every_number_declares_its_range():
    """No numeric setting is left unchecked (a new one must say what it accepts)."""
    unbounded = {k for k, f in NUMERIC if not f.metadata.get("bounds")}
    assert unbounded == {"search.arch_cls_weight"}  # any finite value: < 0 means "search.cls_weight"


def _out_of_range(f: dataclasses.Field) -> st.SearchStrategy:
    b = f.metadata.get("bounds", {})
    options: list[st.SearchStrategy] = []
    is_int = f.type != "float"
    if "min" in b:
        options.append(
            st.integers(max_value=math.ceil(b["min"]) - 1)
            if is_int
            else st.floats(max_value=b["min"], exclude_max=True, allow_nan=False)
        )
    if "gt" in b:
        options.append(
            st.integers(max_value=math.floor(b["gt"])) if is_int else st.floats(max_value=b["gt"], allow_nan=False)
        )
    if "max" in b:
        options.append(
            st.integers(min_value=math.floor(b["max"]) + 1)
            if is_int
            else st.floats(min_value=b["max"], exclude_min=True, allow_nan=False)
        )
    if "lt" in b:
        options.append(
            st.integers(min_value=math.ceil(b["lt"])) if is_int else st.floats(min_value=b["lt"], allow_nan=False)
        )
    if not is_int:
        options.append(st.sampled_from([math.nan, math.inf, -math.inf]))
    return st.one_of(options)


@st.composite
def invalid_setting(draw) -> tuple[str, str]:
    if draw(st.booleans()) or not CHOICE_KEYS:
        key, f = draw(st.sampled_from(NUMERIC))
        value = draw(_out_of_range(f))
        text = repr(value) if isinstance(value, float) else str(value)
        if f.type.startswith("tuple"):
            text = f"16,{value}"
        return key, text
    key = draw(st.sampled_from(CHOICE_KEYS))
    value = draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8))
    return key, value if value not in choices(key) else value + "_x"


@st.composite
def any_setting(draw) -> tuple[str, str, bool]:
    """A setting drawn in or out of its declared range; ``inside`` says which."""
    key, f = draw(st.sampled_from(NUMERIC))
    b = f.metadata.get("bounds", {})
    low = b.get("min", b.get("gt", -1e6))
    high = b.get("max", b.get("lt", 1e6))
    if f.type == "float":
        value = draw(st.floats(min_value=low - 10, max_value=high + 10, allow_nan=False))
    else:
        value = draw(st.integers(min_value=int(low) - 10, max_value=int(min(high, 1e6)) + 10))
    inside = (
        ("min" not in b or value >= b["min"])
        and ("gt" not in b or value > b["gt"])
        and ("max" not in b or value <= b["max"])
        and ("lt" not in b or value < b["lt"])
    )
    text = repr(value) if isinstance(value, float) else str(value)
    return key, (f"16,{text}" if f.type.startswith("tuple") else text), inside


_PROPERTY = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], database=None
)


@_PROPERTY
@given(drawn=invalid_setting(), command=st.sampled_from(["train", "search", "run"]))
def test_property_any_invalid_setting_is_refused_before_work(tmp_path, monkeypatch, capsys, drawn, command):
    key, value = drawn
    root = tmp_path / "prop"
    root.mkdir(exist_ok=True)
    code, _, err = _cli(monkeypatch, capsys, command, "--out", str(root / "run"), "--set", f"{key}={value}")
    _assert_refused(code, err, root)
    assert key in err


@_PROPERTY
@given(drawn=any_setting())
def test_property_a_setting_is_accepted_exactly_when_in_range(monkeypatch, capsys, drawn):
    """``config show`` checks like a run does; in range it prints (the rules between settings
    aside), out of range it refuses with one line naming the key."""
    key, value, inside = drawn
    code, out, err = _cli(monkeypatch, capsys, "config", "show", "--set", f"{key}={value}")
    if not inside:
        assert code == 2 and err.count("\n") == 1 and key in err and "Traceback" not in err, err
    elif code != 0:  # in range, but against a rule between settings (warm-up and epochs, temperatures)
        assert code == 2 and err.count("\n") == 1 and key in err, err
        assert key in ("search.warmup_epochs", "search.tau_min", "search.tau_max")
