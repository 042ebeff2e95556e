"""The fused supernet computes exactly what the per-operation reference computes.

The reference (``bench/reference.py``) has one module per operation, summed in Python,
like the authors' code. With the same weights (copied through ``Supernet.edge_op_linear``
and ``Supernet.edge_op_bn``) both must give the same outputs, the same batch-norm running
statistics and the same gradients for every weight, alpha, beta and both inputs, and the
same second-order gradients (the critic's gradient penalty differentiates a gradient).
Computed in float64 so that the only differences are summation order.
"""

from __future__ import annotations

import copy
import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from zeronas.nas.ops import OPS, op_flags
from zeronas.nas.supernet import Supernet, keep_mask

BENCH = Path(__file__).resolve().parents[2] / "bench"


def _load_reference():
    """``bench/reference.py``, a script's module (the benchmark is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_reference", BENCH / "reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ReferenceSupernet = _load_reference().ReferenceSupernet

SHAPES = {
    # role: (in_dims, widths, out_dim)
    "generator": ((5, 4), (6, 3, 7, 5), 11),
    "critic": ((11, 4), (7, 6, 3, 5), 1),
}


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny shapes: one thread (two OpenMP threads on a loaded machine are ~100x slower here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _pair(role: str, seed: int = 0) -> tuple[Supernet, ReferenceSupernet]:
    torch.manual_seed(seed)
    in_dims, widths, out_dim = SHAPES[role]
    fused = Supernet(role, in_dims, widths, out_dim, slope=0.2, dropout=0.0, arch_init_std=1.0).double()
    with torch.no_grad():  # make every parameter and BN statistic distinguishable
        for p in fused.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
        for name, buf in fused.named_buffers():
            if name.startswith("bn_mean"):
                buf.copy_(torch.randn_like(buf) * 0.3)
            elif name.startswith("bn_var"):
                buf.copy_(torch.rand_like(buf) + 0.5)
    ref = ReferenceSupernet(role, in_dims, widths, out_dim, slope=0.2, dropout=0.0).double()
    ref.load_from(fused)
    return fused, ref


def _grads_in_reference_layout(fused: Supernet, ref: ReferenceSupernet) -> list[torch.Tensor]:
    """The fused gradients, cut into the reference's parameters (same order as ref.parameters())."""
    shadow = copy.deepcopy(fused)
    with torch.no_grad():
        for ps, p in zip(shadow.parameters(), fused.parameters(), strict=True):
            ps.copy_(p.grad if p.grad is not None else torch.zeros_like(p))
    layout = copy.deepcopy(ref).load_from(shadow)
    return [p.detach() for p in layout.parameters()]


def _inputs(role: str, batch: int = 9) -> tuple[torch.Tensor, torch.Tensor]:
    in_dims = SHAPES[role][0]
    g = torch.Generator().manual_seed(1)
    a = torch.randn(batch, in_dims[0], generator=g, dtype=torch.float64)
    b = torch.randn(batch, in_dims[1], generator=g, dtype=torch.float64)
    return a, b


def _run(net, a, b, second_order: bool):
    a = a.clone().requires_grad_(True)
    b = b.clone().requires_grad_(True)
    out = net(a, b)
    proj = torch.linspace(-1.0, 1.5, out.numel(), dtype=out.dtype).view_as(out)
    loss = (out * proj).sum()
    if second_order:  # a gradient penalty on the first input, as in WGAN-GP
        (ga,) = torch.autograd.grad(out.sum(), a, create_graph=True)
        loss = loss + ((ga.norm(2, dim=1) - 1) ** 2).mean()
    loss.backward()
    return out.detach(), a.grad, b.grad


def _close(x, y, what):
    torch.testing.assert_close(x, y, rtol=1e-10, atol=1e-12, msg=lambda m: f"{what}: {m}")


@pytest.mark.parametrize("role", ["generator", "critic"])
@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("second_order", [False, True], ids=["grad", "gradgrad"])
def test_fused_matches_reference(role, mode, second_order):
    fused, ref = _pair(role)
    fused.train(mode == "train")
    ref.train(mode == "train")
    a, b = _inputs(role)
    out_f, ga_f, gb_f = _run(fused, a, b, second_order)
    out_r, ga_r, gb_r = _run(ref, a, b, second_order)
    _close(out_f, out_r, "output")
    _close(ga_f, ga_r, "grad of first input")
    _close(gb_f, gb_r, "grad of second input")
    _close(fused.alpha.grad, ref.alpha.grad, "grad of alpha")
    # beta entries outside a node's in-edges do not exist in the reference (softmax over :j)
    _close(fused.beta.grad, ref.beta.grad, "grad of beta")
    names = [n for n, _ in ref.named_parameters()]
    for name, expected, p in zip(names, _grads_in_reference_layout(fused, ref), ref.parameters(), strict=True):
        _close(expected, p.grad, f"grad of {name}")
    # batch-norm running statistics: updated identically in train mode, untouched in eval
    stats = copy.deepcopy(ref).load_from(fused)
    for (name, b_exp), b_ref in zip(stats.named_buffers(), ref.buffers(), strict=True):
        if b_exp.dtype.is_floating_point:
            _close(b_exp, b_ref, f"buffer {name}")


def test_critic_output_edges_are_linear():
    fused, ref = _pair("critic")
    out_id = fused.out_id
    assert all(j != out_id for _, j in fused.mixed_edges)
    for i in range(out_id):
        fc, bn = ref.op_modules(i, out_id, 0)
        assert isinstance(fc, torch.nn.Linear) and bn is None


def test_parameter_count_matches_reference():
    for role in SHAPES:
        fused, ref = _pair(role)
        assert sum(p.numel() for p in fused.parameters()) == sum(p.numel() for p in ref.parameters())
        assert fused.alpha.shape == ref.alpha.shape and fused.beta.shape == ref.beta.shape


@pytest.mark.parametrize("keep", [0.5, 0.7])
def test_keep_mask_is_inverted_dropout(keep):
    torch.manual_seed(0)
    m = keep_mask(3, 50, 101, keep, torch.empty(0))
    assert m.shape == (3, 50, 101)
    assert torch.unique(m).tolist() == pytest.approx([0.0, 1 / keep])
    assert abs(float((m > 0).double().mean()) - keep) < 0.02  # 15,150 draws: ~4 sigma
    assert abs(float(m.double().mean()) - 1.0) < 0.04


def _only_ops(net: Supernet, dropout: bool) -> None:
    """Push alpha so that only the operations with (or without) dropout have weight."""
    with torch.no_grad():
        for k, name in enumerate(OPS):
            net.alpha[:, k] = 0.0 if op_flags(name)[0] == dropout else -1e4


def test_dropout_acts_on_exactly_the_dropout_operations():
    torch.manual_seed(0)
    in_dims, widths, out_dim = SHAPES["generator"]
    net = Supernet("generator", in_dims, widths, out_dim, dropout=0.5).double()
    plain = Supernet("generator", in_dims, widths, out_dim, dropout=0.0).double()
    plain.load_state_dict(net.state_dict())
    a, b = _inputs("generator", batch=16)
    _only_ops(net, dropout=False)
    _only_ops(plain, dropout=False)
    torch.testing.assert_close(net(a, b), plain(a, b))  # train mode, but no dropout op is used
    _only_ops(net, dropout=True)
    _only_ops(plain, dropout=True)
    out1, out2, ref = net(a, b), net(a, b), plain(a, b)
    assert not torch.allclose(out1, out2) and not torch.allclose(out1, ref)
    plain.load_state_dict(net.state_dict())  # same BN running statistics
    net.eval()
    plain.eval()
    torch.testing.assert_close(net(a, b), plain(a, b))  # eval: dropout is the identity


def test_benchmark_quick_smoke():
    """``bench/search_step.py --quick`` runs and its last line is the headline key=value list."""
    proc = subprocess.run(
        [sys.executable, str(BENCH / "search_step.py"), "--quick"],  # one thread: --quick's default
        capture_output=True,
        text=True,
        timeout=600,  # 8 jobs, each a fresh process importing torch: a hang guard, generous under load
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    last = proc.stdout.strip().splitlines()[-1]
    pairs = dict(kv.split("=", 1) for kv in last.split())
    expected = {
        "search_speedup",
        "search_s",
        "gdas_speedup",
        "gdas_s",
        "reference_s",
        "peak_fraction",
        "peak_mem_gb",
        "retrain_s",
        "fix_s",
        "matmul_peak_gflops",
        "bf16_s",
        "bf16_peak_fraction",
        "bf16_matmul_peak_gflops",
        "authors_s",
        "vs_authors",
        "vs_authors_fp32",
        "full_search_h",
        "bf16_percall_s",
        "cast_cache_speedup",
    }
    assert expected <= set(pairs), last
    for key in expected:
        float(pairs[key])


def test_profile_quick_smoke():
    """``bench/profile_step.py --quick`` lists operators and the matrix products' rate."""
    proc = subprocess.run(
        [sys.executable, str(BENCH / "profile_step.py"), "search_bf16", "--quick", "--threads", "1", "--by-shape"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "aten::addmm" in proc.stdout and "GFLOP/s at the iteration's own shapes" in proc.stdout
    by_shape = proc.stdout.split("by operand shapes")[1].split("matrix products:")[0]
    assert re.search(r"aten::\w+ +\d+x\d+", by_shape) and "aten::addmm" not in by_shape


@pytest.mark.slow  # two torch.compile runs: about 2 minutes on 2 cores
def test_compile_check_quick_smoke():
    """``bench/compile_check.py --quick`` times G eager and compiled, and reports whether the
    critic's gradient penalty runs through a compiled critic."""
    proc = subprocess.run(
        [sys.executable, str(BENCH / "compile_check.py"), "--quick", "--iters", "2"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    pairs = dict(kv.split("=", 1) for kv in proc.stdout.strip().splitlines()[-1].split())
    assert float(pairs["g_compile_speedup"]) > 0 and float(pairs["g_compile_s"]) > 0
    assert pairs["critic_gp_compiles"] in ("0", "1")
