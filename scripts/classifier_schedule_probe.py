"""Does the final softmax classifier converge? The linear floor under each ``eval.final_cls_schedule``.

The final ZSL and GZSL classifiers are scored at their last iterate (SPEC §7: Adam, a fixed
number of epochs, never an epoch picked on test). At a constant learning rate high enough to
converge in those epochs, that iterate is a noisy point of Adam's path. This probe measures
it with the cheapest generator, the linear floor (ridge ``--ridge``), on the validation folds
only (SPEC §3: no test sample is read), for each schedule and learning rate, over seeds:

- ``fit``: the ZSL classifier's accuracy on its own synthetic training features, mean over
  the folds: how well the kept iterate fits what it was trained on;
- ``val ZSL`` and ``val H (cal.)``: the validation figures every choice is made on (the
  calibrated H with its constant chosen on the same folds, as in a run).

Each row is the mean ± sample std over ``--seeds`` seeds (the seed draws the linear
generator's residuals and the classifier's batches). Run:

    python scripts/classifier_schedule_probe.py --data src/zeronas/datasets/fmnist --lrs 1e-2,3e-2,1e-1,3e-1
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from zeronas.baselines.generators import LinearGenerator
from zeronas.config import EvalConfig, load_config
from zeronas.data import ZSLTask, load_dataset
from zeronas.evaluation import choose_calibration, fit_zsl_classifier, gzsl_scores
from zeronas.runs import seed_everything


def zsl_fit_and_accuracy(gen: LinearGenerator, task: ZSLTask, cfg: EvalConfig) -> tuple[float, float]:
    """The ZSL classifier's accuracy on its own training features, and its per-class top-1 on
    the task's held-out (here: validation) images."""
    zsl = fit_zsl_classifier(gen, task, cfg)
    return zsl.fit_accuracy(), zsl.accuracy(task)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="an xlsa17 dataset folder")
    ap.add_argument("--ridge", type=float, default=0.1, help="the linear generator's ridge lambda")
    ap.add_argument("--lrs", default="1e-2,3e-2,1e-1", help="comma-separated learning rates (ZSL and GZSL)")
    ap.add_argument("--seeds", type=int, default=4)
    args = ap.parse_args()
    ds = load_dataset(args.data)
    cfg, source = load_config(None, ds.name)
    tasks = [ds.validation_task(f, cfg.eval.folds) for f in range(cfg.eval.folds)]
    # the ridge fit draws nothing: one generator per fold serves every schedule, lr and seed
    gens = [LinearGenerator(t, args.ridge) for t in tasks]
    print(f"{ds.name} ({source}), ridge {args.ridge:g}, {len(tasks)} validation folds, seeds 0-{args.seeds - 1}")
    print("| schedule | lr | fit | val ZSL | val H (cal.) |\n|---|---|---|---|---|")
    for schedule in ("constant", "cosine"):
        for lr in (float(v) for v in args.lrs.split(",")):
            ev = replace(cfg.eval, final_cls_schedule=schedule, final_cls_lr_zsl=lr, final_cls_lr_gzsl=lr)
            fit, zsl, cal = [], [], []
            for seed in range(args.seeds):
                seed_everything(seed)
                pairs = [zsl_fit_and_accuracy(g, t, ev) for g, t in zip(gens, tasks, strict=True)]
                fit.append(np.mean([f for f, _ in pairs]))
                zsl.append(np.mean([a for _, a in pairs]))
                scored = [(gzsl_scores(g, t, ev), t) for g, t in zip(gens, tasks, strict=True)]
                cal.append(choose_calibration(scored, ev.calibration_points)[1]["h"])
            cells = [f"{100 * np.mean(v):.1f} ± {100 * np.std(v, ddof=1):.1f}" for v in (fit, zsl, cal)]
            print(f"| {schedule} | {lr:g} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
