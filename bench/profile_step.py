"""Where one iteration of a `search_step.py` job spends its time: `torch.profiler` by operator.

    python bench/profile_step.py search_bf16            # CUB shapes, torch's default threads
    python bench/profile_step.py search --threads 1 --top 15

Prints the operators by self CPU time, then the matrix products' share (`aten::mm`,
`aten::addmm`: every FLOP of the iteration that `search_step.py` counts) and their rate:
the FLOP/s the iteration's own GEMM shapes reach, against which the square-GEMM peak of
`search_step.py` is an upper bound.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
import search_step as bench  # noqa: E402

GEMMS = ("aten::mm", "aten::addmm")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("job", choices=bench.JOBS)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's default)")
    ap.add_argument("--top", type=int, default=12, help="operators listed")
    ap.add_argument("--quick", action="store_true", help="tiny shapes (smoke test)")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    sh = bench.QUICK if args.quick else bench.Shapes()
    att = bench.class_vectors(None if args.quick else str(bench.DEFAULT_ATT), args.quick)
    step, desc = bench.build(args.job, sh, att, torch.device("cpu"))
    flops = bench.count_flops(step)  # also the warm-up: optimizer states exist afterwards
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    ops = sorted(prof.key_averages(), key=lambda k: -k.self_cpu_time_total)
    total = sum(k.self_cpu_time_total for k in ops) / 1e6
    print(f"{args.job}: {desc}; {torch.get_num_threads()} threads; {total:.2f} s self CPU time in operators")
    for k in ops[: args.top]:
        s = k.self_cpu_time_total / 1e6
        print(f"  {k.key:40s} {s:8.3f} s {100 * s / total:5.1f} %  {k.count:6d} calls")
    gemm = sum(k.self_cpu_time_total for k in ops if k.key in GEMMS) / 1e6
    print(
        f"matrix products: {gemm:.2f} s ({100 * gemm / total:.0f} %), {flops / 1e9:.1f} GFLOP, "
        f"{flops / gemm / 1e9:.1f} GFLOP/s at the iteration's own shapes"
    )


if __name__ == "__main__":
    main()
