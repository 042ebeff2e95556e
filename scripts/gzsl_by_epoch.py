"""Plain GZSL S/U/H of a FIX pair after every training epoch, on a validation fold or the test task.

Diagnosis only. zeronas picks every epoch on the mean of its validation folds and scores the
test task once; this script trains one pair (``zeronas train``'s FIX networks and loop) and
scores plain GZSL (no calibration) after *every* epoch, to see whether a validation fold's
trajectory predicts the final training's. ``--task test`` reads the test task every epoch:
its figures are for understanding a result, never for choosing anything, and no zeronas
command runs this script.

``--keep-seen N`` trains and scores with only N of the task's seen classes (one fixed draw;
their test-seen images only): the final training has more seen classes than a fold's, and this
separates that from everything else. Each line also gives the fraction of seen images
predicted as an unseen class and of unseen images predicted as a seen class, and the
within-class spread (std per feature) of real and synthetic features.

Run:

    python scripts/gzsl_by_epoch.py --data data/randsim_nl --framework gazsl --task fold0
    python scripts/gzsl_by_epoch.py --data data/randsim_nl --framework gazsl --task test --seed 1
"""

from __future__ import annotations

import argparse
import dataclasses

import torch

from zeronas.api import load_config, load_dataset
from zeronas.data import ZSLTask
from zeronas.engine.session import Session
from zeronas.engine.train import fold_epoch_rows, train_epoch
from zeronas.evaluation.calibration import apply_constant
from zeronas.evaluation.metrics import within_class_std
from zeronas.evaluation.zsl import gzsl_scores
from zeronas.nas.genotype import fixed_genotype
from zeronas.runs import seed_everything


def keep_seen(task: ZSLTask, n: int) -> ZSLTask:
    """``task`` restricted to ``n`` of its seen classes (one draw, the same for every run)."""
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(task.seen_classes), generator=g)[:n]
    keep = task.seen_classes[order].sort().values
    tr, ts = torch.isin(task.train_y, keep), torch.isin(task.test_seen_y, keep)
    return dataclasses.replace(
        task,
        train_x=task.train_x[tr],
        train_y=task.train_y[tr],
        test_seen_x=task.test_seen_x[ts],
        test_seen_y=task.test_seen_y[ts],
        seen_classes=keep,
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None, help="an xlsa17 folder or .npz (default: the bundled dataset)")
    p.add_argument("--config", default=None, help="a config name or TOML file (default: the dataset's)")
    p.add_argument("--framework", default="clswgan")
    p.add_argument("--task", default="fold0", help="foldK (validation fold K of eval.folds) or test")
    p.add_argument("--keep-seen", type=int, default=0, help="train and score with only N seen classes")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config setting")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    ds = load_dataset(a.data)
    cfg = load_config(a.config, dataset=ds, overrides={"model.framework": a.framework})
    cfg.apply_overrides(tuple(a.set))
    if a.task == "test":
        task = ds.test_task()
    elif a.task.startswith("fold") and a.task[4:].isdigit():
        task = ds.validation_task(int(a.task[4:]), cfg.eval.folds)
    else:
        p.error(f"--task must be foldK or test, not {a.task!r}")
    if a.keep_seen:
        task = keep_seen(task, a.keep_seen)
    seed_everything(a.seed)
    rows = fold_epoch_rows(ds, cfg) if a.task != "test" else None  # a fold's epoch, as `zeronas train` runs it
    s = Session(cfg, task, torch.device("cpu"), fixed_genotype(cfg.model.fix_hidden), cfg.train, epoch_rows=rows)
    print(f"{a.task}: {len(task.seen_classes)} seen classes, {s.iterations('train')} iterations per epoch")
    real = within_class_std(task.train_x, task.train_y, task.seen_classes)
    for epoch in range(1, a.epochs + 1):
        train_epoch(s)
        with torch.no_grad(), s.fw.evaluating():
            xs, ys = s.fw.synthesize(task.class_vectors, task.unseen_classes, 50)
        stack = gzsl_scores(s.fw, task, cfg.eval).stacked(task)
        r = apply_constant(stack, 0.0)
        # an image goes to a seen class when its best seen score beats its best unseen one
        to_unseen, to_seen = (stack.seen.margin <= 0).mean(), (stack.unseen.margin > 0).mean()
        print(
            f"epoch {epoch}: S {100 * r['seen']:.1f} U {100 * r['unseen']:.1f} H {100 * r['h']:.1f} | "
            f"seen->unseen {to_unseen:.2f} unseen->seen {to_seen:.2f} | "
            f"within-class std real {real:.3f} synthetic unseen {within_class_std(xs, ys, task.unseen_classes):.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
