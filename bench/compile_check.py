"""Whether `torch.compile` helps the search: both supernets at CUB size, eager and compiled, side by side.

    python bench/compile_check.py                    # CPU, 1 thread
    python bench/compile_check.py --device cuda      # where a GPU is present
    python bench/compile_check.py --quick            # tiny shapes (smoke test)

Times one forward + backward of G's supernet (a batch of `search_step.py`'s CUB shapes), eager
and compiled, alternating so that both see the same machine, and the critic's WGAN-GP gradient
penalty through a compiled critic supernet, which needs a double backward. The last line holds
`key=value` pairs: `g_compile_speedup` (eager s / compiled s), `g_compile_s` (seconds of the
first compiled call), `critic_gp_compiles` (0 where the double backward fails, with the error).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import search_step as bench  # noqa: E402

from zeronas.nas.supernet import Supernet  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _seconds(step: Callable[[], None], device: torch.device) -> float:
    _sync(device)
    t = time.perf_counter()
    step()
    _sync(device)
    return time.perf_counter() - t


def generator_step(net: torch.nn.Module, z: torch.Tensor, c: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        net(z, c).pow(2).mean().backward()

    return step


def critic_gradient_penalty(net: torch.nn.Module, x: torch.Tensor, c: torch.Tensor) -> None:
    """WGAN-GP's penalty on ``x`` and its backward: the gradient of a gradient."""
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(net(x, c).sum(), x, create_graph=True)
    ((grad.norm(2, dim=1) - 1) ** 2).mean().backward()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu, or cuda[:N]")
    ap.add_argument("--threads", type=int, default=1, help="torch threads on CPU")
    ap.add_argument("--iters", type=int, default=5, help="timed iterations of each (median reported)")
    ap.add_argument("--quick", action="store_true", help="tiny shapes (smoke test)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    sh = bench.QUICK if args.quick else bench.Shapes()
    att_dim = bench.class_vectors(None if args.quick else str(bench.DEFAULT_ATT), args.quick).shape[1]
    g = Supernet("generator", (att_dim, att_dim), sh.g_widths, sh.feature_dim).to(device)
    z = torch.randn(sh.batch, att_dim, device=device)
    c = torch.randn(sh.batch, att_dim, device=device)
    eager, compiled = generator_step(g, z, c), generator_step(torch.compile(g), z, c)
    eager()
    compile_s = _seconds(compiled, device)
    times: dict[str, list[float]] = {"eager": [], "compiled": []}
    for _ in range(args.iters):
        times["eager"].append(_seconds(eager, device))
        times["compiled"].append(_seconds(compiled, device))
    med = {k: statistics.median(v) for k, v in times.items()}

    d = Supernet("critic", (sh.feature_dim, att_dim), sh.d_widths, 1).to(device)
    x = torch.randn(sh.batch, sh.feature_dim, device=device)
    try:
        critic_gradient_penalty(torch.compile(d), x, c)
        gp, why = 1, ""
    except RuntimeError as e:
        gp, why = 0, str(e).splitlines()[0]

    print(f"torch {torch.__version__}, {device}, {torch.get_num_threads()} threads")
    print(f"G supernet forward + backward: eager {med['eager']:.4f} s, compiled {med['compiled']:.4f} s")
    print(f"critic gradient penalty through a compiled critic: {'runs' if gp else 'fails: ' + why}")
    print(
        f"g_compile_speedup={med['eager'] / med['compiled']:.2f} g_eager_s={med['eager']:.4f} "
        f"g_compiled_s={med['compiled']:.4f} g_compile_s={compile_s:.1f} critic_gp_compiles={gp} device={device}"
    )


if __name__ == "__main__":
    main()
