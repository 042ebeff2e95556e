"""Is a search's recovery of a planted generator driven by the data, or by the space?

One planted-architecture benchmark cannot tell: a search that derives the same generator
whatever the data (the space's preference) can land above the chance level of that one
planted draw by luck of the draw. Given finished searches, each on its own planted benchmark
(``zeronas data synth --variant genotype --seed S``, one seed per benchmark), this probe
scores every search's generator against every benchmark's planted generator and asks whether
each search recovers its *own* benchmark's generator better than the others'
(:func:`zeronas.experiments.recovery.matched_recovery`: matched against mismatched recovery,
and a permutation test over the pairings of searches with benchmarks). It also prints each
search's recovery of its own benchmark's generator beside that benchmark's chance level
(1000 random generators of the searched space, untrained). Reads genotypes and settings only; no data sample is read.

Run in the directory the searches ran from (``config.json`` names the data relative to it):

    python scripts/planted_matching.py runs/pl_d0 runs/pl_d1 runs/pl_d2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from zeronas.config import Config
from zeronas.errors import ZeroNASError
from zeronas.experiments.recovery import matched_recovery
from zeronas.nas.genotype import Genotype, GenotypeError, NetGenotype
from zeronas.runs import search_record
from zeronas.synthetic import planted_genotype, recovery_line, recovery_report


def load_search(run: Path, root: Path) -> tuple[str, Config, Genotype, NetGenotype]:
    """(data path, config, found pair, planted generator) of a search directory, or of a run
    or grid cell holding one in ``search/``."""
    search, record = search_record(run)
    try:
        found = Genotype.load(search / "genotype.json")
    except GenotypeError as exc:  # a search stopped before it derived its pair
        raise ZeroNASError(f"{run}: not a finished search ({exc})") from None
    planted = planted_genotype(root / record["data"])
    if planted is None:
        raise ZeroNASError(f"{run}: its data {record['data']} is not a planted-architecture benchmark")
    return record["data"], Config.from_dict(record["config"]), found, planted


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", type=Path, nargs="+", help="finished searches, each on its own planted benchmark")
    p.add_argument("--root", type=Path, default=Path("."), help="what config.json's data paths are relative to")
    args = p.parse_args()
    try:
        searches = [load_search(run, args.root) for run in args.runs]
    except ZeroNASError as exc:
        raise SystemExit(f"error: {exc}") from None
    data = [s[0] for s in searches]
    if len(set(data)) != len(data):
        raise SystemExit("error: two searches ran on the same benchmark; give one search per planted benchmark")
    found = [s[2].generator for s in searches]
    planted = [s[3] for s in searches]
    result = matched_recovery(found, planted)
    print("planted edges recovered (%), search (row) against each benchmark's planted generator (column):")
    print("  " + " " * 28 + "".join(f"{j:>6d}" for j in range(len(data))))
    for i, (run, row) in enumerate(zip(args.runs, result["edges"]["matrix"], strict=True)):
        print(f"  {i} {str(run)[-26:]:<26s}" + "".join(f"{100 * v:6.0f}" for v in row))
    for j, d in enumerate(data):
        print(f"  benchmark {j}: {d}  planted {planted[j]}")
    print("each search on its own benchmark:")
    reports = [recovery_report(pair.generator, plant, cfg) for _, cfg, pair, plant in searches]
    for run, report in zip(args.runs, reports, strict=True):
        print(f"  {run}: {recovery_line(report)}")
    kinds = reports[0]["chance"]
    means = {k: (np.mean([r[k] for r in reports]), np.mean([r["chance"][k] for r in reports])) for k in kinds}
    print(
        "mean over the benchmarks, own recovery against chance: "
        + ", ".join(f"{k} {100 * own:.1f}% against {100 * chance:.1f}%" for k, (own, chance) in means.items())
    )
    print("matched (own benchmark) against mismatched (the others'), permutation p over the pairings:")
    for k, r in result.items():
        matched, mismatched = 100 * r["matched"], 100 * r["mismatched"]
        print(f"  {k:<11s} matched {matched:5.1f}%  mismatched {mismatched:5.1f}%  p {r['p']:.3f}")
    spread = np.ptp(np.asarray(result["edges"]["matrix"]), axis=0)
    print(
        f"distinct generators found: {len({str(f) for f in found})} of {len(found)}; "
        f"per benchmark, the searches' edge recoveries span {100 * spread.mean():.0f} points on average"
    )


if __name__ == "__main__":
    main()
