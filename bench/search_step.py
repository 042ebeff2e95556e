#!/usr/bin/env python
"""Seconds, FLOPs and peak memory of one search iteration and one retrain iteration.

Run from the repository root (``python bench/search_step.py``; ``--help`` for flags).

Shapes are CUB's: the real 312-d class vectors of ``xlsa17/CUB/att_splits.mat`` (200
classes, 150 of them seen), generated 2048-d features (the real ResNet features are not
available offline; the timing does not depend on their values), batch 64, the default
search widths and the 4096-wide FIX networks. ``--quick`` uses tiny shapes and random
class vectors, for a smoke test.

Measured, each in its own fresh subprocess (so that each peak-memory figure belongs to
one implementation only: it is the process's ``VmHWM`` -- the high-water mark of its
resident memory, read from ``/proc/self/status`` -- which counts everything torch
allocates, unlike ``tracemalloc``, and needs no profiler):

* ``search``: one iteration of Algorithm 1 (``n_d`` = 5 x (critic architecture step,
  critic weight step), then the generator architecture and weight steps) driven by the
  project's own ``zeronas.engine.search_iteration()`` on the fused supernet;
* ``search_gdas``: the same in the sampled mode (``search.mode = "gdas"``: one drawn
  operation per edge and forward pass);
* ``reference``: the same iteration on the per-operation reference of
  ``bench/reference.py`` (one ``nn.Linear`` per operation, summed in Python) with the
  authors' gradient policy: nothing is frozen except the critic in generator steps;
* ``retrain``: one f-CLSWGAN iteration (5 critic steps + 1 generator step) of the
  discrete networks derived from a CUB-sized supernet by ``Supernet.export()``, through
  ``zeronas.engine.train_epoch`` on a one-batch task (one epoch = one iteration);
* ``fix``: the same for the hand-crafted FIX networks (``fixed_genotype(4096)``).

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` over one iteration
(matrix products only, forward and every backward, the gradient penalty's double backward
included). The achieved rate is compared with an fp32 matmul peak measured in the same
run: the best of several square ``torch.mm`` calls (2048 and 4096) on the same threads,
measured before and after the jobs (the larger is used).

The last line holds the headline figures as ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

import zeronas  # noqa: F401  (first, so that any process setting the package makes precedes torch's first allocation)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

_SHARED_NEAR = Path(__file__).resolve().parents[2] / "shared"  # shared/ beside the repository
_SHARED = os.environ.get("ZERONAS_SHARED", _SHARED_NEAR if _SHARED_NEAR.is_dir() else "/work/shared")
DEFAULT_ATT = Path(_SHARED) / "data" / "xlsa17" / "CUB" / "att_splits.mat"
JOBS = (
    "search",
    "search_bf16",
    "search_bf16_percall",
    "search_tf32",
    "search_gdas",
    "reference",
    "authors",
    "retrain",
    "fix",
)
#: Jobs run by default on a CPU (TF32 exists on CUDA only).
CPU_JOBS = tuple(j for j in JOBS if j != "search_tf32")
#: The matmul precision of the jobs that do not run in fp32 (their peak fraction is against its peak).
PRECISION = {"search_bf16": "bf16", "search_bf16_percall": "bf16", "search_tf32": "tf32"}


@dataclass
class Shapes:
    feature_dim: int = 2048
    seen: int = 150
    batch: int = 64
    per_class: int = 24  # generated training samples per seen class
    g_widths: tuple[int, ...] = (128, 256, 512, 1024)
    d_widths: tuple[int, ...] = (1024, 512, 256, 128)
    fix_hidden: int = 4096
    critic_iters: int = 5


QUICK = Shapes(
    feature_dim=32,
    seen=15,
    batch=16,
    per_class=6,
    g_widths=(8, 16, 16, 32),
    d_widths=(32, 16, 16, 8),
    fix_hidden=64,
    critic_iters=2,  # a smoke test: two critic steps exercise the loop in less time
)


# --------------------------------------------------------------------------- data
def class_vectors(att_path: str | None, quick: bool) -> np.ndarray:
    """(classes, dim) unit-norm class vectors: CUB's real ones, or random ones for --quick."""
    if quick or att_path is None:
        rng = np.random.default_rng(0)
        att = rng.random((20, 16))
    else:
        from zeronas.data.readers import read_mat

        att = np.asarray(read_mat(Path(att_path))["att"], dtype=np.float64).T  # (200, 312)
    return (att / np.linalg.norm(att, axis=1, keepdims=True)).astype(np.float32)


def make_task(att: np.ndarray, sh: Shapes, n_train: int | None = None, seed: int = 0, device: str = "cpu"):
    """A ZSLTask of generated features: a class-dependent mean plus noise, scaled to [0, 1]."""
    from zeronas.data import ZSLTask

    rng = np.random.default_rng(seed)
    n_classes = att.shape[0]
    order = rng.permutation(n_classes)
    seen, unseen = np.sort(order[: sh.seen]), np.sort(order[sh.seen :])
    proj = rng.normal(size=(att.shape[1], sh.feature_dim)).astype(np.float32)
    labels = np.repeat(seen, sh.per_class)
    if n_train is not None:
        labels = labels[rng.permutation(labels.size)[:n_train]]
    feats = np.maximum(att[labels] @ proj + 0.3 * rng.normal(size=(labels.size, sh.feature_dim)), 0)
    feats = (feats / feats.max()).astype(np.float32)
    x, y = torch.from_numpy(feats).to(device), torch.from_numpy(labels).long().to(device)
    empty_x, empty_y = x[:0], y[:0]
    return ZSLTask(
        name="bench",
        train_x=x,
        train_y=y,
        test_seen_x=empty_x,
        test_seen_y=empty_y,
        test_unseen_x=empty_x,
        test_unseen_y=empty_y,
        class_vectors=torch.from_numpy(att).to(device),
        seen_classes=torch.from_numpy(seen).long().to(device),
        unseen_classes=torch.from_numpy(unseen).long().to(device),
    )


def make_config(sh: Shapes):
    from zeronas.config import Config

    cfg = Config()
    s, t = cfg.search, cfg.train
    s.batch_size = t.batch_size = sh.batch
    s.critic_iters = t.critic_iters = sh.critic_iters
    s.g_widths, s.d_widths = sh.g_widths, sh.d_widths
    cfg.model.fix_hidden = sh.fix_hidden
    cfg.clswgan.pretrain_cls_epochs = 1  # the frozen classifier's quality does not change the cost
    return cfg


# --------------------------------------------------------------------------- one job (subprocess)
def vm_status() -> dict[str, float]:
    """VmHWM (peak resident memory) and VmRSS of this process, in GB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            out[key] = int(rest.split()[0]) / 1024**2  # kB -> GB
    return out


def build(job: str, sh: Shapes, att: np.ndarray, device: torch.device):
    """The object whose ``step()`` is one iteration, and a description. Everything is created on
    ``device``, explicitly: the default device stays the CPU (tests/test_bench_device.py)."""
    cfg = make_config(sh)
    torch.manual_seed(0)
    if job in ("search", "search_bf16", "search_bf16_percall", "search_tf32", "search_gdas"):
        from zeronas.engine import SearchSpace, Session, search_iteration, split_halves
        from zeronas.engine.search import set_schedules

        if job == "search_gdas":
            cfg.search.mode = "gdas"
        if job in ("search_bf16", "search_bf16_percall"):
            cfg.search.precision = "bf16"
        if job == "search_bf16_percall":
            from zeronas.nas import cast_cache

            cast_cache.disabled().__enter__()  # for this job's process: autocast casts every weight at every call
        if job == "search_tf32":
            torch.backends.cuda.matmul.allow_tf32 = True
        s = Session(cfg, make_task(att, sh, device=device.type), device, SearchSpace(), cfg.search, pools=split_halves)
        set_schedules(s, 1)
        s.fw.train()
        mode = {
            "search": "all operations",
            "search_bf16": "all operations, search.precision=bf16",
            "search_bf16_percall": "all operations, search.precision=bf16, frozen weights cast at every call",
            "search_tf32": "all operations, fp32 with TF32 matmuls (CUDA)",
            "search_gdas": "one drawn operation per edge (search.mode=gdas)",
        }[job]
        return lambda: search_iteration(s), f"fused Supernet, zeronas search_iteration(), {mode}"
    if job == "reference":
        from reference import ReferenceSearch

        r = ReferenceSearch(cfg, make_task(att, sh, device=device.type))
        r.G.train()
        r.D.train()
        return r.iteration, "per-op ReferenceSupernet, nothing frozen in arch steps"
    if job == "authors":
        from authors import AuthorsSearch

        a = AuthorsSearch(cfg, make_task(att, sh, device=device.type))
        a.G.train()
        a.D.train()
        return a.iteration, "the authors' layout: per-op modules, 3 backward() per critic step, nothing frozen"
    from zeronas.engine import Session, train_epoch
    from zeronas.nas.genotype import Genotype, fixed_genotype
    from zeronas.nas.supernet import Supernet

    if job == "retrain":
        a = att.shape[1]
        g = Supernet("generator", (a, a), sh.g_widths, sh.feature_dim, arch_init_std=1.0).export()
        d = Supernet("critic", (sh.feature_dim, a), sh.d_widths, 1, arch_init_std=1.0).export()
        geno = Genotype(g, d)
    else:
        geno = fixed_genotype(sh.fix_hidden)
    # A task of exactly one batch: train_epoch() then runs exactly one iteration.
    session = Session(cfg, make_task(att, sh, n_train=sh.batch, device=device.type), device, geno, cfg.train)
    desc = f"zeronas train_epoch, G {geno.generator} | D {geno.critic}"
    return lambda: train_epoch(session), desc


class _GlobalOnly:
    """Stands in for FlopCounterMode's module tracker, whose backward hooks break
    ``torch.autograd.grad`` (the gradient penalty); we only need the global total."""

    parents = {"Global"}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def count_flops(step) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    counter.mod_tracker = _GlobalOnly()
    with counter:
        step()
    return counter.get_total_flops()


def run_job(
    job: str, sh: Shapes, att: np.ndarray, warmup: int, iters: int, flops: bool = True, device: str = "cpu"
) -> dict:
    dev = torch.device(device)
    cuda = dev.type == "cuda"
    base = vm_status()
    built_step, desc = build(job, sh, att, dev)

    def step() -> None:
        built_step()
        if cuda:
            torch.cuda.synchronize()

    built = vm_status()
    # The counted iteration is the first warm-up (optimizer states get allocated there).
    flops = count_flops(step) if flops else None
    if flops is None:
        step()
    for _ in range(warmup - 1):
        step()
    wall, cpu = [], []
    for _ in range(iters):
        w0, c0 = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    end = vm_status()
    gpu = {"gpu_peak_gb": torch.cuda.max_memory_allocated() / 1024**3} if cuda else {}
    return {
        **gpu,
        "job": job,
        "desc": desc,
        "wall": wall,
        "cpu": cpu,
        "flops": flops,
        "rss_import_gb": base["VmRSS"],
        "rss_built_gb": built["VmRSS"],
        "peak_gb": end["VmHWM"],
    }


# --------------------------------------------------------------------------- parent
CPU = torch.device("cpu")


def matmul_peak(quick: bool, precision: str = "fp32", device: torch.device = CPU) -> dict[str, float]:
    """Best FLOP/s of several square torch.mm calls in ``precision`` (fp32, tf32: fp32 tensors
    with TF32 matmuls on CUDA, bf16) on this process's threads or on ``device``, by wall clock
    and by process CPU time (the latter divided by the thread count; meaningless on CUDA)."""
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    best = {"wall": 0.0, "cpu": 0.0}
    threads = torch.get_num_threads()
    cuda = device.type == "cuda"
    sizes = ((512, 3),) if quick else ((2048, 4), (4096, 3)) if not cuda else ((4096, 10), (8192, 10))
    for n, reps in sizes:
        a, b, c = (torch.randn(n, n, dtype=dtype, device=device) for _ in range(3))
        torch.mm(a, b, out=c)
        for _ in range(reps):
            sync()
            w0, c0 = time.perf_counter(), time.process_time()
            torch.mm(a, b, out=c)  # into a warm buffer: page faults would be counted otherwise
            sync()
            w, cp = time.perf_counter() - w0, (time.process_time() - c0) / threads
            best["wall"] = max(best["wall"], 2 * n**3 / w)
            best["cpu"] = max(best["cpu"], 2 * n**3 / max(cp, 1e-9))
    torch.backends.cuda.matmul.allow_tf32 = False
    return best


def spawn(job: str, args, flops: bool) -> dict:
    cmd = [sys.executable, __file__, "--job", job, "--iters", str(args.iters), "--warmup", str(args.warmup)]
    cmd += ["--threads", str(torch.get_num_threads())]
    if not flops:
        cmd.append("--no-flops")
    if args.quick:
        cmd.append("--quick")
    if args.att:
        cmd += ["--att", args.att]
    cmd += ["--device", args.device]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"job {job} failed (exit {proc.returncode})")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--iters", type=int, default=3, help="measured iterations per job (median reported)")
    ap.add_argument("--warmup", type=int, default=1, help="warm-up iterations (the first one is FLOP-counted)")
    ap.add_argument("--quick", action="store_true", help="tiny shapes and random class vectors (smoke test)")
    ap.add_argument("--att", default=None, help=f"CUB att_splits.mat (default {DEFAULT_ATT})")
    ap.add_argument(
        "--jobs",
        default=None,
        help=f"comma-separated subset of {','.join(JOBS)} (default: all; on a CPU all but search_tf32)",
    )
    ap.add_argument("--device", default="cpu", help="cpu, or cuda[:N]: where every job runs")
    ap.add_argument(
        "--search-iters",
        type=int,
        default=20 * 55,
        help="iterations of a full search, for its estimated time (default 1100: a CUB search with the paper's "
        "batch 64 and n_d 5 and zeronas's search.epochs 20, the paper giving none; 55 iterations per epoch: "
        "half of CUB's 7057 trainval samples per epoch)",
    )
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's default; 1 with --quick)")
    ap.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="time the headline uses: wall clock, or process CPU time / threads (robust on a busy machine, "
        "meaningful with --threads 1)",
    )
    ap.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the job list this many times, interleaved (fairer ratios on a machine whose load varies)",
    )
    ap.add_argument("--job", default=None, help=argparse.SUPPRESS)  # internal: run one job, print JSON
    ap.add_argument("--no-flops", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.warmup < 1 or args.iters < 1 or args.rounds < 1:
        ap.error("--warmup, --iters and --rounds must be >= 1")
    sh = QUICK if args.quick else Shapes()
    if args.threads == 0 and args.quick:
        args.threads = 1  # tiny ops: threads only add synchronisation (ruinous on a loaded machine)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if not args.quick and args.att is None:
        args.att = str(DEFAULT_ATT)

    if args.job:
        att = class_vectors(args.att, args.quick)
        result = run_job(args.job, sh, att, args.warmup, args.iters, flops=not args.no_flops, device=args.device)
        print(json.dumps(result))
        return

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda: CUDA is not available here")
    cuda = device.type == "cuda"
    if args.jobs is None:
        args.jobs = ",".join(JOBS if cuda else CPU_JOBS)
    if cuda:
        args.clock = "wall"  # process CPU time does not measure a GPU
    jobs = [j for j in args.jobs.split(",") if j]
    unknown = set(jobs) - set(JOBS)
    if unknown:
        ap.error(f"unknown jobs: {', '.join(sorted(unknown))}")
    att = class_vectors(args.att, args.quick)
    threads = torch.get_num_threads()
    print(f"zeronas bench: torch {torch.__version__}, {threads} threads, {os.cpu_count()} CPUs, load average {load()}")
    if cuda:
        print(f"device: {torch.cuda.get_device_name(device)} ({args.device})")
    if os.getloadavg()[0] > 0.5 and threads > 1:
        print(
            f"WARNING: the machine is not idle (1-min load {os.getloadavg()[0]:.2f}); with several threads, "
            "waits for a preempted thread make timings meaningless -- use --threads 1 --clock cpu"
        )
    print(
        f"shapes: {'quick' if args.quick else 'CUB'} {asdict(sh)}, class vectors {att.shape} "
        f"({'random' if args.quick else args.att})"
    )
    print(f"env: THP_MEM_ALLOC_ENABLE={os.environ.get('THP_MEM_ALLOC_ENABLE', '(unset)')}")
    print(
        f"iterations per job: 1 FLOP-counted warm-up + {args.warmup - 1} warm-up + {args.iters} measured; "
        f"{args.rounds} round(s); median; clock for the headline: {args.clock}"
    )
    precisions = ("fp32", "tf32", "bf16") if cuda else ("fp32", "bf16")
    peaks = {name: [matmul_peak(args.quick, name, device)] for name in precisions}
    for name, p in peaks.items():
        print(f"{name} matmul peak before: {p[0]['wall'] / 1e9:.1f} GFLOP/s (wall), {p[0]['cpu'] / 1e9:.1f} (cpu)")
    res: dict[str, dict] = {}
    for rnd in range(args.rounds):
        for job in jobs:
            r = spawn(job, args, flops=rnd == 0)
            if rnd:
                prev = res[job]
                prev["wall"] += r["wall"]
                prev["cpu"] += r["cpu"]
                prev["peak_gb"] = max(prev["peak_gb"], r["peak_gb"])
            else:
                res[job] = r
    for job, r in res.items():
        r["wall_s"] = statistics.median(r["wall"])
        r["cpu_s"] = statistics.median(r["cpu"]) / threads
        r["s"] = r[f"{args.clock}_s"]
        print(
            f"{job:11s} {r['wall_s']:8.3f} s/iter wall (runs {', '.join(f'{t:.2f}' for t in r['wall'])}), "
            f"{r['cpu_s']:.3f} cpu-s/thread | {r['flops'] / 1e9:7.1f} GFLOP/iter, "
            f"{r['flops'] / r['s'] / 1e9:6.1f} GFLOP/s | peak mem {r['peak_gb']:.2f} GB "
            f"(after import {r['rss_import_gb']:.2f}, built {r['rss_built_gb']:.2f})"
            + (f" | GPU peak {r['gpu_peak_gb']:.2f} GB" if "gpu_peak_gb" in r else "")
        )
        print(f"          {r['desc']}")
    peak = {}
    for name, p in peaks.items():
        p.append(matmul_peak(args.quick, name, device))
        peak[name] = max(x[args.clock] for x in p)
        print(
            f"{name} matmul peak after: {p[1]['wall'] / 1e9:.1f} GFLOP/s (wall), {p[1]['cpu'] / 1e9:.1f} (cpu); "
            f"using {peak[name] / 1e9:.1f} ({args.clock})"
        )
    print(f"load average at end: {load()}")

    ref = res.get("reference")

    def figures(job: str, s_digits: int = 3) -> dict[str, str]:
        r = res[job]
        return {
            "s": f"{r['s']:.{s_digits}f}",
            "gflop": f"{r['flops'] / 1e9:.1f}",
            "peak_fraction": f"{r['flops'] / r['s'] / peak[PRECISION.get(job, 'fp32')]:.3f}",
            "mem_gb": f"{r.get('gpu_peak_gb', r['peak_gb']):.2f}",
            "speedup": f"{ref['s'] / r['s']:.2f}" if ref else "",
        }

    # headline key -> (job, figure); the exact search's figures keep their historical names
    keys = {
        "search": {
            "search_speedup": "speedup",
            "peak_fraction": "peak_fraction",
            "peak_mem_gb": "mem_gb",
            "search_s": "s",
            "search_gflop": "gflop",
        },
        "search_bf16": {
            "bf16_speedup": "speedup",
            "bf16_s": "s",
            "bf16_peak_fraction": "peak_fraction",
            "bf16_mem_gb": "mem_gb",
        },
        "authors": {
            "authors_s": "s",
            "authors_gflop": "gflop",
            "authors_peak_fraction": "peak_fraction",
            "authors_mem_gb": "mem_gb",
        },
        "search_bf16_percall": {"bf16_percall_s": "s", "bf16_percall_mem_gb": "mem_gb"},
        "search_tf32": {"tf32_s": "s", "tf32_peak_fraction": "peak_fraction", "tf32_mem_gb": "mem_gb"},
        "search_gdas": {
            "gdas_speedup": "speedup",
            "gdas_s": "s",
            "gdas_peak_fraction": "peak_fraction",
            "gdas_mem_gb": "mem_gb",
        },
        "reference": {
            "reference_s": "s",
            "reference_gflop": "gflop",
            "reference_peak_fraction": "peak_fraction",
            "reference_mem_gb": "mem_gb",
        },
        **{
            job: {f"{job}_s": "s", f"{job}_peak_fraction": "peak_fraction", f"{job}_mem_gb": "mem_gb"}
            for job in ("retrain", "fix")
        },
    }
    head: dict[str, str] = {}
    for job, names in keys.items():
        if job in res:
            fig = figures(job, 4 if job in ("retrain", "fix") else 3)
            head.update({k: fig[v] for k, v in names.items() if fig[v]})
    authors = res.get("authors")
    exact = {job: res[job]["s"] for job in ("search", "search_bf16") if job in res}
    if authors and exact:
        fastest = min(exact, key=exact.__getitem__)
        head = {
            "vs_authors": f"{authors['s'] / exact[fastest]:.2f}",
            "vs_authors_job": fastest,
            **({"vs_authors_fp32": f"{authors['s'] / exact['search']:.2f}"} if "search" in exact else {}),
            **head,
        }
    if "search_bf16" in res and "search_bf16_percall" in res:
        head["cast_cache_speedup"] = f"{res['search_bf16_percall']['s'] / res['search_bf16']['s']:.2f}"
    for job, key in (
        ("search", "full_search_h"),
        ("search_tf32", "full_search_tf32_h"),
        ("search_bf16", "full_search_bf16_h"),
    ):
        if job in res:  # the search alone: no evaluation, no checkpoints
            head[key] = f"{res[job]['s'] * args.search_iters / 3600:.2f}"
    for name in precisions:
        head[f"{name}_matmul_peak_gflops" if name != "fp32" else "matmul_peak_gflops"] = f"{peak[name] / 1e9:.1f}"
    head["device"] = args.device
    head["threads"] = str(threads)
    head["clock"] = args.clock
    print(" ".join(f"{k}={v}" for k, v in head.items()))


if __name__ == "__main__":
    main()
