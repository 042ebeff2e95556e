"""Where one iteration of a `search_step.py` job spends its time, by operator.

    python bench/profile_step.py search_bf16            # CUB shapes, torch's default threads
    python bench/profile_step.py search --threads 1 --top 15
    python bench/profile_step.py search --threads 1 --by-shape   # operators split by operand shapes

Each aten operator of one iteration is timed by the wall clock around its call (a
``TorchDispatchMode``; on the CPU every operator runs synchronously, so the time around the
call is its time). Prints the operators by total time, the time outside them (Python, the
autograd engine, the timing itself), then the matrix products' share (``aten::mm``,
``aten::addmm``: every FLOP of the iteration that `search_step.py` counts) and their rate: the
FLOP/s the iteration's own GEMM shapes reach, against which the square-GEMM peak of
`search_step.py` is an upper bound. ``--by-shape`` also lists the operators other than the
products split by their operands' shapes, which tells e.g. a weight gradient's sum (the
weight's shape) from an activation's (the batch's).

Not ``torch.profiler``: on the 2-core AVX512-BF16 VM it put 2.3-2.8 s of a 5.4 s `search_bf16`
iteration in ``aten::copy_`` under the weights' cast backward (``ToCopyBackward0``), 23-108 ms a
call, where the same casts timed around their calls take 0.6-0.8 ms and 0.5 s in all.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import search_step as bench  # noqa: E402

GEMMS = ("aten::mm", "aten::addmm")


class OpTimer(TorchDispatchMode):
    """Wall seconds and calls per aten operator (overloads together) while active, and with
    ``by_shape`` per (operator, operand shapes) in ``shaped``; off, no shape is formatted, so
    that the bookkeeping does not add to the time outside the operators."""

    def __init__(self, by_shape: bool = False) -> None:
        super().__init__()
        self.by_shape = by_shape
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.shaped: Counter[tuple[str, str]] = Counter()
        self.shaped_calls: Counter[tuple[str, str]] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        t = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        dt = time.perf_counter() - t
        name = func._schema.name
        self.seconds[name] += dt
        self.calls[name] += 1
        if self.by_shape:
            key = (name, " ".join("x".join(map(str, a.shape)) for a in args if isinstance(a, torch.Tensor)))
            self.shaped[key] += dt
            self.shaped_calls[key] += 1
        return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("job", choices=bench.JOBS)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's default)")
    ap.add_argument("--top", type=int, default=12, help="operators listed")
    ap.add_argument("--quick", action="store_true", help="tiny shapes (smoke test)")
    ap.add_argument("--by-shape", action="store_true", help="also list operators split by their operands' shapes")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    sh = bench.QUICK if args.quick else bench.Shapes()
    att = bench.class_vectors(None if args.quick else str(bench.DEFAULT_ATT), args.quick)
    step, desc = bench.build(args.job, sh, att, torch.device("cpu"))
    flops = bench.count_flops(step)  # also the warm-up: optimizer states exist afterwards
    step()
    timer = OpTimer(args.by_shape)
    t = time.perf_counter()
    with timer:
        step()
    wall = time.perf_counter() - t
    total = sum(timer.seconds.values())
    print(
        f"{args.job}: {desc}; {torch.get_num_threads()} threads; {wall:.2f} s wall, "
        f"{total:.2f} s in {sum(timer.calls.values())} operator calls, {wall - total:.2f} s outside them"
    )
    for name, s in timer.seconds.most_common(args.top):
        print(f"  {name:40s} {s:8.3f} s {100 * s / total:5.1f} %  {timer.calls[name]:6d} calls")
    if args.by_shape:
        print("by operand shapes, matrix products left out:")
        shaped = [(k, v) for k, v in timer.shaped.most_common() if k[0] not in GEMMS][: args.top]
        for (name, shapes), s in shaped:
            calls = timer.shaped_calls[(name, shapes)]
            print(f"  {name:20s} {shapes:34s} {s:8.3f} s {100 * s / total:5.1f} %  {calls:6d} calls")
    gemm = sum(timer.seconds[name] for name in GEMMS)
    print(
        f"matrix products: {gemm:.2f} s ({100 * gemm / total:.0f} % of the operators' time), "
        f"{flops / 1e9:.1f} GFLOP, {flops / gemm / 1e9:.1f} GFLOP/s at the iteration's own shapes"
    )


if __name__ == "__main__":
    main()
