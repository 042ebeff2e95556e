"""Where does a trained generator put the class means, against the linear floor's ridge map?

A feature generator loses to the linear generator (SPEC §3) either because it places the
class-conditional means worse, or because its within-class spread is wrong. This probe
trains a generator/critic pair (``--arch``, as ``zeronas train`` takes it) on the training
classes of validation fold ``--fold`` (its classes play "unseen"; no test sample is read)
and, every ``--every`` epochs, prints for the generator's features and for the linear
generator's (ridge ``--ridge``):

- ``seen err``: mean over training classes of the squared L2 distance between the
  synthetic and the real class mean (how well the class path fits);
- ``unseen err``: the same on the fold's held-out classes (how well it transfers);
- ``NCM``: top-1 of the held-out classes' images by the nearest synthetic class mean
  (Euclidean), a classifier-free ZSL score;
- ``std``: mean within-class standard deviation per feature (real: the training images').

A framework with a frozen classifier (f-CLSWGAN's classification loss) also gets that
classifier's top-1 on the fold's held-out images of its training classes.

With ``--regress`` the generator is trained without its critic, as a regressor (squared
error of ``G(z, c)`` to the real features, whose minimiser is the class-conditional mean):
what the architecture's class path can learn from these classes when no GAN is in the way.

With ``--anchor`` the generator's output gets the linear generator's ridge map of ``c`` added
as a fixed path (no weights trained): at the start the class means are ridge's up to what
the trained part adds, so every change of the figures is the training's. The trained part
should then end in an operation that can be negative, e.g. ``fc`` (a plain FC, which this
script registers): ``--arch "G 3:1024<fc_lrelu~2> out<fc~3> | D 3:1024<fc_lrelu~2>
out<linear~3>"``.

Run:

    python scripts/generator_mean_probe.py --data data/randsim --epochs 20
"""

from __future__ import annotations

import argparse

import torch

from zeronas.api import load_config, load_dataset
from zeronas.baselines.generators import LinearGenerator
from zeronas.data import ZSLTask
from zeronas.engine.session import Session
from zeronas.engine.train import fold_epoch_rows, train_epoch
from zeronas.evaluation.classifiers import LabelMap
from zeronas.evaluation.metrics import within_class_std
from zeronas.nas.arch import load_arch
from zeronas.nas.cast_cache import CastLinear
from zeronas.nas.ops import known_ops, register_op
from zeronas.runs import seed_everything

# a plain FC on an edge, so that the trained part of an --anchor generator can be negative
# (once per process: the tests run this script several times)
if "fc" not in known_ops():
    register_op("fc", lambda in_dim, out_dim, slope, dropout: CastLinear(in_dim, out_dim))


def class_means(x: torch.Tensor, y: torch.Tensor, classes: torch.Tensor) -> torch.Tensor:
    return torch.stack([x[y == c].mean(dim=0) for c in classes.tolist()])


class Reference:
    """The fold's real class means and what the figures compare against."""

    def __init__(self, task: ZSLTask):
        self.task = task
        self.seen = class_means(task.train_x, task.train_y, task.seen_classes)
        self.unseen = class_means(task.test_unseen_x, task.test_unseen_y, task.unseen_classes)
        self.std = within_class_std(task.train_x, task.train_y, task.seen_classes)

    def row(self, name: str, seen: torch.Tensor, unseen: torch.Tensor, std: float) -> str:
        t = self.task
        err_s = (seen - self.seen).pow(2).sum(dim=1).mean().item()
        err_u = (unseen - self.unseen).pow(2).sum(dim=1).mean().item()
        guess = t.unseen_classes[torch.cdist(t.test_unseen_x, unseen).argmin(dim=1)]
        ncm = (guess == t.test_unseen_y).float().mean().item()
        return f"{name:>14}  {err_s:8.4f}  {err_u:10.4f}  {100 * ncm:5.1f}  {std:.4f}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=None, help="an xlsa17 folder or .npz (default: the bundled dataset)")
    p.add_argument("--arch", default="fixed", help="what `zeronas train --arch` takes (default: fixed)")
    p.add_argument("--epochs", type=int, default=None, help="default: the config's train.epochs")
    p.add_argument("--every", type=int, default=2, help="print every this many epochs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fold", type=int, default=0, help="the validation fold whose classes play unseen")
    p.add_argument("--ridge", type=float, default=1.0, help="the linear generator's ridge lambda")
    p.add_argument("--regress", action="store_true", help="train G alone on squared error (no GAN)")
    p.add_argument("--anchor", action="store_true", help="add the ridge map of c to G's output, fixed")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config override")
    args = p.parse_args()
    ds = load_dataset(args.data)
    cfg = load_config(dataset=ds)
    cfg.apply_overrides(tuple(args.set))
    task = ds.validation_task(args.fold, cfg.eval.folds)
    seed_everything(args.seed)
    genotype, _ = load_arch(args.arch, cfg.model.fix_hidden)
    # a fold's epoch, as `zeronas train` runs it (train.fold_epoch)
    session = Session(cfg, task, torch.device("cpu"), genotype, cfg.train, epoch_rows=fold_epoch_rows(ds, cfg))
    task, fw = session.task, session.fw
    ref = Reference(task)
    seen, unseen, vectors = task.seen_classes, task.unseen_classes, task.class_vectors
    print(f"{ds.name}, validation fold {args.fold}: {seen.numel()} training / {unseen.numel()} held-out classes")
    if "classifier" in fw.extras:  # f-CLSWGAN's frozen classifier, trained in Session's setup
        with torch.no_grad():
            guess = fw.extras["classifier"](task.test_seen_x).argmax(dim=1)
        hit = (guess == LabelMap(seen).to_local(task.test_seen_y)).float().mean().item()
        print(f"frozen classifier: top-1 {100 * hit:.1f}% on held-out images of the training classes")
    print(f"{'':>14}  seen err  unseen err    NCM  std (real {ref.std:.4f})")
    lin = LinearGenerator(task, args.ridge)
    spread = lin.residuals.std(dim=0).mean().item()
    print(ref.row(f"ridge ({args.ridge:g})", lin.class_means(vectors[seen]), lin.class_means(vectors[unseen]), spread))
    if args.anchor:
        fw.G.register_forward_hook(lambda net, inputs, out: out + lin.class_means(inputs[1]).to(out.dtype))

    def squared_error(x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """G's loss with ``--regress``: squared error of ``G(z, c)`` to the real features."""
        return (fw.G(fw.noise(c.shape[0]), c) - x).pow(2).sum(dim=1).mean(), {}

    epochs = args.epochs or cfg.train.epochs
    for epoch in range(1, epochs + 1):
        if args.regress:
            for _ in range(session.iterations("train")):
                session.step("w_g", squared_error, "train")
        else:
            train_epoch(session)
        if epoch % args.every and epoch != epochs:
            continue
        xs, ys = fw.synthesize(vectors, seen, 100)
        xu, yu = fw.synthesize(vectors, unseen, 100)
        std = within_class_std(xu, yu, unseen)
        print(ref.row(f"epoch {epoch}", class_means(xs, ys, seen), class_means(xu, yu, unseen), std), flush=True)


if __name__ == "__main__":
    main()
